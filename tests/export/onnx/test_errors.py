"""Bad input fails cleanly, names what is wrong, and leaves nothing at OUT."""

from __future__ import annotations

import json
import shutil

import pytest

from edge.errors import BundleIntegrityError, ExportError, ModelFormatError, UnsupportedArchitectureError
from tests.conftest import run_cli


def _copy(src, dst, skip=()):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip))
    return dst


def _nothing_at(out):
    return not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


def test_unknown_architecture_lists_the_supported_ones(tmp_path, tiny_checkpoint):
    src = _copy(tiny_checkpoint("llama"), tmp_path / "mamba")
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(architectures=["MambaForCausalLM"], model_type="mamba")
    (src / "config.json").write_text(json.dumps(cfg))
    r = run_cli("export", "onnx", str(src), str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert "MambaForCausalLM" in r.stderr and "LlamaForCausalLM" in r.stderr and "T5ForConditionalGeneration" in r.stderr
    assert "Traceback" not in r.stderr and _nothing_at(tmp_path / "out")


def test_missing_weights_file(tmp_path, tiny_checkpoint):
    from export.onnx.export import export_onnx

    src = _copy(tiny_checkpoint("qwen2"), tmp_path / "noweights", skip=("*.safetensors",))
    with pytest.raises(ExportError, match="no weights"):
        export_onnx(src, tmp_path / "out")
    assert _nothing_at(tmp_path / "out")


def test_incomplete_weights(tmp_path, tiny_checkpoint):
    from safetensors.numpy import load_file, save_file

    from export.onnx.export import export_onnx

    src = _copy(tiny_checkpoint("qwen2"), tmp_path / "partial")
    tensors = load_file(src / "model.safetensors")
    dropped = next(k for k in tensors if "layers.1.mlp" in k)
    del tensors[dropped]
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ExportError, match="weights are missing"):
        export_onnx(src, tmp_path / "out")
    assert _nothing_at(tmp_path / "out")


def test_source_that_is_not_a_model(tmp_path):
    from export.onnx.export import export_onnx

    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"this is not a protobuf")
    r = run_cli("export", "onnx", str(bogus), str(tmp_path / "out"))
    assert r.returncode == 2 and "neither a Hugging Face checkpoint directory nor a GGUF" in r.stderr
    with pytest.raises(UnsupportedArchitectureError):
        export_onnx(_fake_config_dir(tmp_path), tmp_path / "out2")
    assert _nothing_at(tmp_path / "out") and _nothing_at(tmp_path / "out2")


def _fake_config_dir(tmp_path):
    d = tmp_path / "cfg-only"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "rwkv"}))
    return d


def test_bundle_whose_onnx_file_is_not_a_model(tmp_path, tiny_bundle):
    from edge import Engine
    from edge.bundle import read_manifest
    from export.bundle import finish_manifest

    b = _copy(tiny_bundle("llama"), tmp_path / "b")
    (b / "model.onnx").write_bytes(b"\x08\x01garbage")
    m = read_manifest(b)
    finish_manifest(b, **m.model_dump(exclude={"files", "created_with"}))  # hashes now match the garbage
    with pytest.raises(ModelFormatError, match="model.onnx"):
        Engine.load(str(b))


def test_tampered_file_is_refused_naming_it(tmp_path, tiny_bundle):
    b = _copy(tiny_bundle("llama"), tmp_path / "b")
    (b / "tokenizer.json").write_text((b / "tokenizer.json").read_text().replace("capital", "kapital"))
    r = run_cli("run", "--model", str(b), "--max-tokens", "2", "hello")
    assert r.returncode == 2 and "tokenizer.json" in r.stderr and "Traceback" not in r.stderr


def test_modified_manifest_is_refused_naming_the_file(tmp_path, tiny_bundle):
    from edge.models import resolve

    b = _copy(tiny_bundle("llama"), tmp_path / "b")
    data = json.loads((b / "manifest.json").read_text())
    data["files"]["config.json"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleIntegrityError, match="config.json"):
        resolve(str(b))
    data["unexpected"] = 1
    (b / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleIntegrityError, match="manifest.json"):
        resolve(str(b))


def test_existing_out_needs_overwrite(tmp_path, tiny_checkpoint):
    from export.onnx.export import export_onnx

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match="--overwrite"):
        export_onnx(tiny_checkpoint("llama"), out)
    export_onnx(tiny_checkpoint("llama"), out, overwrite=True)
    assert (out / "manifest.json").is_file()


def test_verify_cli_passes_a_good_bundle_and_fails_a_tampered_one(tmp_path, tiny_bundle, tiny_checkpoint):
    b = _copy(tiny_bundle("gemma2"), tmp_path / "b")
    r = run_cli("verify", str(b), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["hashes_ok"] and report["passed"] and report["n_tokens"] >= 64
    assert report["max_abs_logit_diff"] <= 1e-4 and report["top1_agreement"] == 1.0
    r = run_cli("verify", str(b), "--reference", str(tiny_checkpoint("gemma2")), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["max_abs_logit_diff"] <= 1e-4
    (b / "config.json").write_text("{}")
    r = run_cli("verify", str(b), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["hashes_ok"] is False
    assert "config.json" in json.loads(r.stdout)["error"]


def test_verify_fails_when_parity_is_missed(tmp_path, tiny_bundle):
    import numpy as np

    from edge.bundle import read_manifest
    from export.bundle import finish_manifest
    from export.onnx.verify import verify_bundle

    b = _copy(tiny_bundle("phi3"), tmp_path / "b")
    ref = dict(np.load(b / "parity" / "reference.npz"))
    ref["top_logits"] = ref["top_logits"] + 1.0  # the stored reference no longer matches the graph
    np.savez(b / "parity" / "reference.npz", **ref)
    m = read_manifest(b)
    m = finish_manifest(b, **m.model_dump(exclude={"files", "created_with"}))
    report = verify_bundle(b, m)
    assert report["passed"] is False and report["max_abs_logit_diff"] > 0.5
