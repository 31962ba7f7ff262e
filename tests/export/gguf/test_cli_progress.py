"""`edgesplit export gguf` prints one line per stage on stderr and nothing else (llama.cpp's C logs are off)."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.export.conftest import stage_names


def test_gguf_export_prints_only_stage_lines(tmp_path, tiny_models):
    r = run_cli("export", "gguf", str(tiny_models.get("LlamaForCausalLM")), str(tmp_path / "g"), "--quant", "q8_0")
    assert r.returncode == 0, r.stderr
    assert stage_names(r.stderr) == ["load", "convert", "quantize", "parity", "write"]
    assert "wrote" in r.stdout
