"""Every architecture the ort-genai kit claims, loaded by onnxruntime-genai and transformers.js (fp32)."""

from __future__ import annotations

import shutil

import pytest

from export.mobile.ort_genai import MODEL_TYPES
from export.mobile.verify import verify_kit

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("arch", sorted(set(MODEL_TYPES) - {"llama"}))  # llama: test_tiny_kits
def test_each_claimed_architecture_loads_and_equals_its_golden_file(arch, tmp_path, tiny_tokenizer_dir):
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai has no wheel for this platform")
    from export.mobile.kit import export_kits
    from export.onnx.export import export_onnx
    from tests.export.onnx.conftest import build_checkpoint

    export_onnx(build_checkpoint(arch, tmp_path / "ckpt", tiny_tokenizer_dir), tmp_path / "bundle")
    targets = ["ort-genai"] + (["transformers-js"] if shutil.which("node") else [])
    export_kits(str(tmp_path / "bundle"), tmp_path / "kits", targets)
    for target in targets:
        report = verify_kit(tmp_path / "kits" / target)
        assert report["passed"], (target, report.get("error"), report.get("golden"))
