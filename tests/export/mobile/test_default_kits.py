"""Kits of the packaged default model (SmolLM2-135M): int4 ONNX kits and the Q4_1 GGUF llama.cpp kit.

Slow: the int4 ONNX bundle is exported from the default GGUF first. Same-build runtimes (llama.cpp
through llama-cpp-python, ONNX Runtime under onnxruntime-genai and the ORT-format graph) must equal
the golden file; transformers.js runs its own ONNX Runtime build, so it is held to tokenization,
the chat template and a robust answer.
"""

from __future__ import annotations

import json

import pytest

from export.mobile.manifest import read_kit_manifest
from export.mobile.verify import verify_kit

from .conftest import ALL_TARGETS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_kits(tmp_path_factory, default_gguf):
    from export.mobile.kit import export_kits
    from export.onnx.export import export_onnx

    root = tmp_path_factory.mktemp("default-kits")
    export_onnx(default_gguf, root / "int4", quant="int4")
    export_kits(str(root / "int4"), root / "kits", ALL_TARGETS, gguf="default")
    return root / "kits"


def test_the_llama_cpp_kit_equals_the_golden_file_exactly(default_kits):
    report = verify_kit(default_kits / "llama-cpp")
    assert report["passed"], json.dumps(report, indent=1)
    assert report["golden"]["exact"] == report["golden"]["cases"]  # the same llama.cpp build on both sides


@pytest.mark.parametrize("target", ["ort-genai", "ort-mobile"])
def test_same_build_onnx_runtimes_equal_the_golden_file(default_kits, target):
    if target == "ort-genai":
        pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai has no wheel for this platform")
    report = verify_kit(default_kits / target)
    assert report["passed"], json.dumps(report["golden"], indent=1)


def test_transformers_js_tokenizes_templates_and_answers(default_kits):
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed: the transformers.js kit cannot be loaded here")
    from export.mobile.base import load_target

    kit = default_kits / "transformers-js"
    golden = json.loads((kit / "golden.json").read_text())
    got = load_target("transformers-js").replay(kit, read_kit_manifest(kit), golden)
    assert not isinstance(got, str), got  # node present: @huggingface/transformers must be installed
    for case, run in zip(golden["cases"], got, strict=True):
        assert run.prompt_ids == case["prompt_ids"]
        if isinstance(case["prompt"], list):
            assert run.rendered == case["text"]
    from export.mobile.golden import compare

    report = compare(golden, got, "transformers.js")  # same ids as edgesplit, or a recorded near-tie
    assert report["passed"], json.dumps(report, indent=1)


def test_manifests_size_the_kits_for_the_profile(default_kits):
    for target in ALL_TARGETS:
        m = read_kit_manifest(default_kits / target)
        assert m.context_length == 2048 and m.profile["fits"], (target, m.ram_needed_mb)
        weights = m.memory["weights_bytes"]
        assert m.ram_needed_mb * 2**20 >= weights + m.memory["kv_cache_bytes"] - 2**20
        assert m.special_tokens["eos_token"] == "<|im_end|>"
        assert m.quantization == ("q4_1" if target == "llama-cpp" else "int4")
