"""Speculative decoding on ONNX Runtime: the plain loop's greedy tokens, drafts verified in one run
on the cached past (shared buffer or growing past), rolled back where rejected."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from edge import Engine
from edge.backends.onnxruntime import OnnxRuntimeBackend
from edge.models import resolve
from edge.options import RuntimeOptions
from edge.speculate import Controller
from tests.edge.backends.test_llamacpp_spec import _assert_same_or_near_tie
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (session fixtures shared with export tests)
from tests.export.onnx.conftest import smollm2_bundles, tiny_bundle, tiny_checkpoint  # noqa: F401

pytest.importorskip("onnxruntime")
REPEAT = [1, *([40, 41, 42, 43, 44] * 6)]  # a cycle: the n-gram drafter proposes its continuation
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def _pair(bundle, *, eager: bool = False, mode: str = "auto") -> tuple[Engine, Engine]:
    opts = RuntimeOptions(n_threads=1)
    plain = Engine.load(str(bundle), options=opts.with_(speculative="off"))
    if not eager:
        return plain, Engine.load(str(bundle), options=opts.with_(speculative=mode))
    # a tiny model's timings say nothing: draft whatever the drafters offer
    ref, spec_opts = resolve(str(bundle)), opts.with_(speculative=mode)
    return plain, Engine(ref, OnnxRuntimeBackend(ref, spec_opts, controller=Controller(margin=-0.99)), spec_opts)


@pytest.fixture(scope="module", params=[("fp32", None), ("int4", None), ("fp32", "traced")],
                ids=["fused-fp32", "fused-int4", "traced-fp32"])
def tiny_pair(request, tiny_bundle):  # noqa: F811
    quant, attention = request.param
    # int4: `auto` decodes plainly (MatMulNBits' batched kernels are not the one-token kernel); asked by name
    plain, spec = _pair(tiny_bundle("llama", quant, attention), eager=True, mode="auto" if quant == "fp32" else "ngram")
    yield plain, spec
    plain.close()
    spec.close()


def test_greedy_tokens_equal_the_plain_loop_and_drafts_were_verified(tiny_pair) -> None:
    plain, spec = tiny_pair
    drafted = accepted = 0
    for prompt in (REPEAT, REPEAT[:9], [1, 7, 300, 12]):
        a = plain.generate(prompt, max_tokens=40, temperature=0.0, ignore_eos=True)
        b = spec.generate(prompt, max_tokens=40, temperature=0.0, ignore_eos=True)
        assert a.speculation is None and b.speculation is not None
        assert b.token_ids == a.token_ids
        drafted, accepted = drafted + b.speculation.drafted, accepted + b.speculation.accepted
    assert drafted > 0  # the eager controller drafted: verifier passes ran


@pytest.mark.parametrize("shared", [True, False], ids=["shared-buffer", "growing-past"])
def test_a_rolled_back_draft_leaves_the_logits_of_the_kept_tokens(tiny_bundle, shared: bool) -> None:  # noqa: F811
    from edge.backends.onnxruntime import CausalLM

    model = CausalLM(tiny_bundle("llama"), RuntimeOptions(n_threads=1), shared_kv=shared)
    fresh = CausalLM(tiny_bundle("llama"), RuntimeOptions(n_threads=1), shared_kv=False)
    model.start(REPEAT)
    rows = model.feed([40, 99, 98, 97])  # the last token + a draft rejected after its first token
    model.rollback(2)
    assert model.n_past == len(REPEAT) + 2
    after = model.feed([7, 8])[-1]
    np.testing.assert_allclose(rows[0], fresh.start(REPEAT + [40]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(after, fresh.start(REPEAT + [40, 99, 7, 8]), atol=1e-5, rtol=0)


def test_a_rejected_draft_leaves_the_cache_as_plain_decoding_would(tiny_pair) -> None:
    plain, spec = tiny_pair
    first = spec.generate(REPEAT, max_tokens=24, temperature=0.0, ignore_eos=True)
    # the next request continues the first answer: its prefix comes from the rolled-back live state
    follow = REPEAT + first.token_ids + [44, 40]
    a = plain.generate(follow, max_tokens=16, temperature=0.0, ignore_eos=True)
    b = spec.generate(follow, max_tokens=16, temperature=0.0, ignore_eos=True)
    assert b.token_ids == a.token_ids
    assert spec.next_token_logits(follow).tolist() == pytest.approx(plain.next_token_logits(follow).tolist(), abs=1e-4)


def test_sampling_and_a_logits_hook(tiny_pair) -> None:
    _, spec = tiny_pair
    sampled = spec.generate(REPEAT, max_tokens=20, temperature=0.8, ignore_eos=True)  # speculative sampling
    assert sampled.completion_tokens == 20 and sampled.speculation is not None
    seeded = spec.generate(REPEAT, max_tokens=20, temperature=0.8, seed=3, ignore_eos=True)
    assert seeded.speculation is None  # a seeded draw keeps the plain loop's numbers
    hooked = spec.generate(REPEAT, max_tokens=8, temperature=0.0, ignore_eos=True, logits_hook=lambda _ids, lg: lg)
    assert hooked.speculation is None


def test_auto_speculates_only_where_batched_rows_equal_one_token_rows(tiny_bundle) -> None:  # noqa: F811
    opts = RuntimeOptions(n_threads=1)
    for quant, mode, drafts in (("fp32", "auto", True), ("int4", "auto", False), ("int4", "recycle", True)):
        with Engine.load(str(tiny_bundle("llama", quant)), options=opts.with_(speculative=mode)) as engine:
            result = engine.generate(REPEAT, max_tokens=4, temperature=0.0)
            assert (result.speculation is not None) == drafts, (quant, mode)


def test_an_encoder_decoder_bundle_decodes_plainly(tiny_bundle) -> None:  # noqa: F811
    with Engine.load(str(tiny_bundle("t5")), options=RuntimeOptions(n_threads=1)) as engine:
        assert engine.generate([5, 6, 7], max_tokens=4, temperature=0.0).speculation is None


@pytest.mark.slow
def test_smollm2_greedy_and_json_with_speculation(smollm2_bundles) -> None:  # noqa: F811
    text = ("Edge devices run small language models locally. This keeps private data on the phone, "
            "answers without a network, and costs nothing per request.")
    prompts = ([{"role": "user", "content": f"Repeat the following text word for word:\n{text}"}],
               "red, green, blue, yellow, " * 8 + "red,")
    plain, spec = _pair(smollm2_bundles("fp32"))
    try:
        for prompt in prompts:
            ids = plain.tokenize(prompt)
            a = plain.generate(ids, max_tokens=40, temperature=0.0)
            b = spec.generate(ids, max_tokens=40, temperature=0.0)
            assert b.speculation is not None
            _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids)
    finally:
        plain.close()
        spec.close()
    # int4 speculates only when asked by name; its output stays schema-valid
    with Engine.load(str(smollm2_bundles("int4")), options=RuntimeOptions(speculative="ngram")) as engine:
        out = engine.generate([{"role": "user", "content": "Give a JSON object for a person named Ada, aged 36."}],
                              max_tokens=48, temperature=0.0, json_schema=SCHEMA)
        assert out.speculation is not None
        jsonschema.validate(json.loads(out.text), SCHEMA)


def test_the_speculation_bench_says_when_a_model_decodes_plainly(tiny_bundle) -> None:  # noqa: F811
    from edge.bench_spec import Workload, _pair_rows
    from edge.errors import InvalidRequestError

    bundle = str(tiny_bundle("llama", "int4"))
    plain, spec = (Engine.load(bundle, options=RuntimeOptions(n_threads=1, speculative=m)) for m in ("off", "auto"))
    with plain, spec, pytest.raises(InvalidRequestError, match="decodes .* plainly .* ngram or recycle"):
        _pair_rows(plain, spec, Workload("short", REPEAT), gen_tokens=4, repeat=1, progress=lambda _: None)
