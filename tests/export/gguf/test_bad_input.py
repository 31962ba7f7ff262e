"""Broken checkpoints fail with a clear message and leave nothing at OUT."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from edge.errors import ExportError
from export.gguf.convert import ExportOptions, export_gguf
from tests.conftest import run_cli


@pytest.fixture
def ckpt(tiny_models, tmp_path: Path) -> Path:
    out = tmp_path / "src"
    shutil.copytree(tiny_models.get("LlamaForCausalLM"), out)
    return out


def _fails(src: Path, tmp_path: Path, match: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=match):
        export_gguf(src, out, ExportOptions(quant="f32"))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no partial temp dir either


def test_truncated_safetensors(ckpt: Path, tmp_path: Path) -> None:
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    _fails(ckpt, tmp_path, r"truncated: tensor '.*' needs bytes")


def test_config_disagrees_with_tensor_shapes(ckpt: Path, tmp_path: Path) -> None:
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["intermediate_size"] = 256
    (ckpt / "config.json").write_text(json.dumps(cfg))
    _fails(ckpt, tmp_path, r"config.json disagrees with the tensors .*mlp.*\(64, 128\)|\(128, 64\)")


def test_tokenizer_missing(ckpt: Path, tmp_path: Path) -> None:
    (ckpt / "tokenizer.json").unlink()
    _fails(ckpt, tmp_path, "no tokenizer in .*tokenizer.json")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    _fails(tmp_path / "src", tmp_path, "no config.json")


def test_existing_out_needs_overwrite(tiny_models, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match="--overwrite"):
        export_gguf(tiny_models.get("Qwen2ForCausalLM"), out, ExportOptions(quant="f32"))


def test_cli_reports_errors_and_writes_json(tiny_models, tmp_path: Path) -> None:
    bad = run_cli("export", "gguf", str(tmp_path / "missing"), str(tmp_path / "out"))
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    ok = run_cli("export", "gguf", str(tiny_models.get("GemmaForCausalLM")), str(tmp_path / "out"),
                 "--quant", "q8_0", "--json")
    assert ok.returncode == 0, ok.stderr
    manifest = json.loads(ok.stdout.strip().splitlines()[-1])
    assert manifest["quantization"] == "q8_0" and manifest["parity"]["top1_agreement"] >= 0.9
    verified = run_cli("verify", str(tmp_path / "out"), "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout.strip().splitlines()[-1])["passed"] is True


def test_cli_summary_names_parity_tokenizer_and_runtime(tiny_models, tmp_path: Path) -> None:
    ok = run_cli("export", "gguf", str(tiny_models.get("Gemma3ForCausalLM")), str(tmp_path / "out"), "--quant", "f32")
    assert ok.returncode == 0, ok.stderr
    assert "parity vs PyTorch: max |Δlogit|" in ok.stdout
    assert re.search(r"tokenizer: (\d+)/\1 probe texts tokenize identically", ok.stdout), ok.stdout
    assert "fp16 table" not in ok.stderr  # the set-up's llama.cpp computes GELU exactly
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["runtime"]["exact_gelu"] is True and manifest["parity"]["max_abs_logit_diff"] <= 1e-4
