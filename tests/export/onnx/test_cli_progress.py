"""`edgesplit export onnx` prints one line per stage on stderr and nothing else (libraries' chatter is off)."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.export.conftest import STAGE_LINE, stage_names


def test_onnx_int4_export_prints_only_stage_lines(tmp_path, tiny_checkpoint):
    r = run_cli("export", "onnx", str(tiny_checkpoint("qwen2")), str(tmp_path / "b"), "--quant", "int4",
                "--block-size", "16", "--json")
    assert r.returncode == 0, r.stderr
    assert stage_names(r.stderr) == ["load", "trace", "quantize", "parity", "write"]
    summary = json.loads(r.stdout)  # --json output as before: the manifest summary only
    assert set(summary) == {"bundle", "architecture", "quantization", "encoder_decoder", "attention", "files",
                           "size_mb", "parity"}
    assert summary["attention"] == "traced"  # qwen2 has no fused writer


def test_verbose_export_shows_the_libraries_logs(tmp_path, tiny_checkpoint):
    r = run_cli("export", "onnx", str(tiny_checkpoint("qwen2")), str(tmp_path / "b"), "--quant", "int4",
                "--block-size", "16", "--verbose")
    assert r.returncode == 0, r.stderr
    assert any(not STAGE_LINE.match(line) for line in r.stderr.splitlines() if line.strip())
