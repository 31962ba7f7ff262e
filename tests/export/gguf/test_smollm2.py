"""The real default model, dequantized and re-exported, still knows the capital of France."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import Engine
from edge.bundle import read_manifest
from export.gguf.verify import verify_bundle

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["q8_0", "q4_k_m"])
def test_reexported_smollm2_answers_paris(smollm2_bundles: dict[str, Path], quant: str) -> None:
    bundle = smollm2_bundles[quant]
    manifest = read_manifest(bundle)
    assert manifest.quantization == quant and manifest.architecture == "llama"
    report = verify_bundle(bundle, manifest, None)  # re-measured against the dequantized checkpoint
    assert report["remeasured"] and report["passed"] and report["top1_agreement"] >= 0.6
    engine = Engine.load(str(bundle))
    try:
        result = engine.generate(QUESTION, max_tokens=40, temperature=0)
    finally:
        engine.close()
    assert "Paris" in result.text, result.text
