"""The real default model (SmolLM2-135M-Instruct from its Q4_1 GGUF) exported to ONNX bundles.

Slow: each export dequantizes the GGUF, traces the model and measures parity (about a minute).
The bundles are exported once per session (smollm2_bundles) and shared by these tests.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France? Answer in one sentence."


def _agreement(bundle, reference_bundle) -> float:
    """Teacher-forced top-1 agreement of `bundle` with `reference_bundle` on the parity text."""
    from edge.backends.onnxruntime import load_model

    ids = np.load(reference_bundle / "parity" / "reference.npz")["ids"].tolist()
    ref = load_model(reference_bundle, encoder_decoder=False).teacher_forced(ids)
    got = load_model(bundle, encoder_decoder=False).teacher_forced(ids)
    return float((ref.argmax(-1) == got.argmax(-1)).mean())


def test_fp32_bundle_answers_through_the_cli(smollm2_bundles):
    bundle = smollm2_bundles("fp32")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["architecture"] == "llama" and manifest["source"]["kind"] == "gguf"
    assert manifest["parity"]["max_abs_logit_diff"] < 2e-3 and manifest["parity"]["top1_agreement"] >= 0.99
    assert not (bundle / "tokenizer.model").exists()  # FINDINGS: the GGUF would be copied in as 98 MB
    r = run_cli("run", "--model", str(bundle), "--temperature", "0", "--max-tokens", "32", "--json", QUESTION)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "Paris" in out["text"] and out["backend"] == "onnxruntime"
    assert out["prompt_tokens"] < 60  # no doubled <|im_start|>/BOS from the GGUF tokenizer


@pytest.mark.parametrize(("quant", "minimum"), [("int4", 0.90), ("int8", 0.95)])
def test_quantized_top1_agreement_with_fp32(smollm2_bundles, quant, minimum):
    agreement = _agreement(smollm2_bundles(quant), smollm2_bundles("fp32"))
    assert agreement >= minimum, f"{quant}: top-1 agreement {agreement:.3f} < {minimum}"


def test_int4_bundle_json_schema_output(smollm2_bundles):
    from edge import Engine

    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                               "country": {"type": "string", "maxLength": 20}},
              "required": ["city", "country"]}
    with Engine.load(str(smollm2_bundles("int4"))) as engine:
        r = engine.generate([{"role": "user", "content": "Name the capital of France as JSON."}],
                            json_schema=schema, temperature=0, max_tokens=48)
    jsonschema.validate(json.loads(r.text), schema)
    assert r.finish_reason == "stop"
