"""The ONNX Runtime backend through edge.Engine, on tiny exported bundles."""

from __future__ import annotations

import json
import logging

import jsonschema
import numpy as np
import pytest

from edge import Engine
from edge.errors import InvalidRequestError
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (fixtures shared with the exporter tests)
from tests.export.onnx.conftest import tiny_bundle, tiny_checkpoint  # noqa: F401


@pytest.fixture(scope="module")
def llama(tiny_bundle):  # noqa: F811
    with Engine.load(str(tiny_bundle("llama"))) as engine:
        yield engine


def test_backend_is_chosen_from_the_manifest_and_has_its_capabilities(llama):
    caps = llama.capabilities
    assert llama.backend_name == "onnxruntime" and llama.describe()["format"] == "onnx"
    assert caps.json_schema and caps.logits and caps.encoder_decoder and caps.streaming
    assert llama.info.execution_providers == ("CPUExecutionProvider",)


def test_requested_providers_fall_back_to_cpu_with_a_log(caplog):
    from edge.backends.onnxruntime import select_providers

    with caplog.at_level(logging.WARNING, logger="edge.backends.onnxruntime"):
        chosen = select_providers(("XNNPACK", "NNAPI", "CPU"), 2)
    assert [p for p, _ in chosen] == ["CPUExecutionProvider"]
    assert "XnnpackExecutionProvider" in caplog.text and "NnapiExecutionProvider" in caplog.text
    with pytest.raises(InvalidRequestError, match="known"):
        select_providers(("TPU9000",), 2)


def test_streaming_equals_generate(llama):
    chunks = list(llama.stream("Paris is the capital of", temperature=0, max_tokens=12))
    assert chunks[-1].result is not None
    assert "".join(c.text for c in chunks) == chunks[-1].result.text
    assert chunks[-1].result.token_ids == llama.generate("Paris is the capital of", temperature=0, max_tokens=12).token_ids


def test_seed_reproduces_sampling(llama):
    kw = {"temperature": 1.0, "top_p": 0.95, "top_k": 40, "max_tokens": 16}
    a = llama.generate("The quick brown fox", seed=1, **kw).token_ids
    assert a == llama.generate("The quick brown fox", seed=1, **kw).token_ids
    assert a != llama.generate("The quick brown fox", seed=2, **kw).token_ids


def test_logprobs_match_pytorch(llama, tiny_checkpoint):  # noqa: F811
    import torch
    import transformers

    ids = llama.tokenize("Small language models run on")
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama")).eval()
    with torch.no_grad():
        ref = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()
    top = llama.next_token_logprobs(ids, top_k=5)
    assert [t for t, _ in top] == np.argsort(-ref)[:5].tolist()
    assert max(abs(lp - ref[t]) for t, lp in top) < 1e-4


def test_text_round_trips_through_token_bytes(llama):
    text = "café, naïve: 36 engines {\"a\": 1}"
    ids = llama.encode(text)
    assert llama.decode_bytes(ids) == text.encode()


SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 99},
                                           "tag": {"enum": ["math", "engines"]}}, "required": ["ok", "n", "tag"]}


@pytest.mark.parametrize("seed", [None, 3])
def test_json_schema_output_is_valid(llama, seed):
    kw = {"temperature": 0} if seed is None else {"temperature": 1.0, "seed": seed}
    r = llama.generate("Give me JSON:", json_schema=SCHEMA, max_tokens=40, **kw)
    jsonschema.validate(json.loads(r.text), SCHEMA)
    assert r.finish_reason == "stop"


def test_encoder_decoder_bundle_generates(tiny_bundle):  # noqa: F811
    with Engine.load(str(tiny_bundle("t5"))) as t5:
        assert t5.describe()["encoder_decoder"] is True
        r = t5.generate("translate: the quick brown fox", temperature=0, max_tokens=8)
        assert r.backend == "onnxruntime" and 0 < r.completion_tokens <= 8
        r2 = t5.generate("translate: the quick brown fox", json_schema={"type": "boolean"}, temperature=0)
        assert r2.text in ("true", "false")


@pytest.mark.parametrize("spin", [False, True])
def test_ort_spinning_option_reaches_the_session(tiny_bundle, spin):  # noqa: F811
    from edge.backends.onnxruntime import Session
    from edge.options import RuntimeOptions

    session = Session(tiny_bundle("llama") / "model.onnx", RuntimeOptions(n_threads=1, ort_spinning=spin))
    entry = session.sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert entry == ("1" if spin else "0")


def _plain_greedy(model_path, ids: list[int], n: int) -> list[int]:
    """Greedy decoding by the book: numpy in, numpy out, every present fed back as the next past."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    pasts = [i for i in sess.get_inputs() if i.name.startswith("past_key_values.")]
    past = {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32) for i in pasts}
    names = [o.name for o in sess.get_outputs()]
    new, out = list(ids), []
    for _ in range(n):
        start = next(iter(past.values())).shape[2]
        feeds = {"input_ids": np.array([new], dtype=np.int64),
                 "attention_mask": np.ones((1, start + len(new)), dtype=np.int64),
                 "position_ids": np.arange(start, start + len(new), dtype=np.int64)[None], **past}
        inputs = {i.name for i in sess.get_inputs()}  # a fused-attention graph has no position_ids
        res = dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in inputs}), strict=True))
        past = {i.name: res["present." + i.name.removeprefix("past_key_values.")] for i in pasts}
        new = [int(np.argmax(res["logits"][0, -1]))]
        out.append(new[0])
    return out


@pytest.mark.parametrize("quant", ["fp32", "int4"])
def test_greedy_decoding_equals_a_plain_onnxruntime_loop(tiny_bundle, quant):  # noqa: F811
    """The loop's zero-copy K/V hand-over and prefix cache change nothing: same tokens as the plain loop."""
    bundle = tiny_bundle("llama", quant)
    with Engine.load(str(bundle)) as engine:
        ids = engine.tokenize("The quick brown fox jumps over")
        got = engine.generate(ids, temperature=0, max_tokens=24, ignore_eos=True).token_ids
        again = engine.generate(ids, temperature=0, max_tokens=24, ignore_eos=True).token_ids
    expected = _plain_greedy(bundle / "model.onnx", ids, 24)
    assert got == expected and again == expected
