"""The shared past/present K/V buffer on fused-attention bundles: the same logits as the growing-
present path, growth past the first capacity, prefix reuse that never aliases a cached state,
and the context limit."""

from __future__ import annotations

import numpy as np
import pytest

from edge.backends.onnx_kv import SharedKV
from edge.backends.onnxruntime import CausalLM
from edge.errors import ContextOverflowError
from edge.options import RuntimeOptions
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (session fixtures shared with export tests)
from tests.export.onnx.conftest import tiny_bundle, tiny_checkpoint  # noqa: F401

pytest.importorskip("onnxruntime")
OPTIONS = RuntimeOptions(n_threads=1)
ATOL = 1e-5
PROMPT_A = [1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52]
PROMPT_B = PROMPT_A[:7] + [90, 91, 92, 93, 94, 95, 96, 97]  # diverges from A mid-way


@pytest.fixture(scope="module", params=["fp32", "fp16", "int4"])
def bundle(request, tiny_bundle):  # noqa: F811
    return tiny_bundle("llama", request.param)  # fused attention: the llama default


def _decode(model: CausalLM, ids: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
    """n greedy tokens after `ids`, and the logits each came from."""
    logits, tokens, rows = model.start(ids), [], []
    for _ in range(n):
        rows.append(logits)
        tokens.append(int(np.argmax(logits)))
        logits = model.step(tokens[-1])
    return tokens, rows


def _fresh(bundle, ids: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
    """The growing-present path's greedy tokens and logits, from a new session."""
    return _decode(CausalLM(bundle, OPTIONS, shared_kv=False), ids, n)


def _fresh_logits(bundle, ids: list[int]) -> np.ndarray:
    return CausalLM(bundle, OPTIONS, shared_kv=False).start(ids)


def test_shared_buffer_decodes_like_the_growing_present_and_grows(bundle) -> None:
    shared, plain = CausalLM(bundle, OPTIONS, kv_capacity=8), CausalLM(bundle, OPTIONS, shared_kv=False)
    assert shared.kv is not None and plain.kv is None
    got, got_rows = _decode(shared, PROMPT_A, 24)
    want, want_rows = _decode(plain, PROMPT_A, 24)
    assert got == want
    for a, b in zip(got_rows, want_rows, strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)
    assert shared.kv.capacity >= len(PROMPT_A) + 24 > 8  # grown (by doubling) past the first 8 positions
    assert shared.kv.length == shared.n_past == len(PROMPT_A) + 24


def test_logits_allocated_by_ort_equal_the_preallocated_ones(bundle) -> None:
    model = CausalLM(bundle, OPTIONS)
    want = _decode(model, PROMPT_A, 6)[1]
    model.cache.clear()
    model.kv = SharedKV(model.session, model.past_names, model.present_names, model.head_dim, 256, 8,
                        bind_logits=False)
    for a, b in zip(_decode(model, PROMPT_A, 6)[1], want, strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


def test_a_diverging_prompt_leaves_the_cached_prefix_intact(bundle) -> None:
    model = CausalLM(bundle, OPTIONS, kv_capacity=8)
    first_a = _decode(model, PROMPT_A, 8)
    before = model.fed_tokens
    first_b = _decode(model, PROMPT_B, 8)  # overwrites the buffer from position 7 on
    assert model.fed_tokens - before == len(PROMPT_B) - 7 + 8  # the tail after the shared 7, then the steps
    again_a, again_b = _decode(model, PROMPT_A, 8), _decode(model, PROMPT_B, 8)
    for got, want in ((first_a, _fresh(bundle, PROMPT_A, 8)), (first_b, _fresh(bundle, PROMPT_B, 8)),
                      (again_a, first_a), (again_b, first_b)):
        assert got[0] == want[0]
        for a, b in zip(got[1], want[1], strict=True):
            np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


def test_the_very_same_prompt_after_another_runs_nothing(bundle) -> None:
    model = CausalLM(bundle, OPTIONS)
    a = model.start(PROMPT_A)
    model.start(PROMPT_B)
    before = model.fed_tokens
    np.testing.assert_array_equal(model.start(PROMPT_A), a)  # copied back into the buffer, not run
    assert model.fed_tokens == before
    tokens, rows = _decode(model, PROMPT_A, 4)  # and decoding goes on from it
    want = _fresh(bundle, PROMPT_A, 4)
    assert tokens == want[0]
    np.testing.assert_allclose(rows[-1], want[1][-1], atol=ATOL, rtol=0)


def test_verify_a_draft_on_a_cached_prefix(bundle) -> None:
    model, draft = CausalLM(bundle, OPTIONS, kv_capacity=8), [60, 61, 62, 63]
    model.start(PROMPT_A)
    model.start(PROMPT_B)  # PROMPT_A now lives in the cache, not in the buffer
    before = model.fed_tokens
    rows = model.verify(PROMPT_A, draft)
    assert model.fed_tokens - before == len(draft) and rows.shape[0] == len(draft) + 1
    for j in range(len(draft) + 1):
        np.testing.assert_allclose(rows[j], _fresh_logits(bundle, PROMPT_A + draft[:j]), atol=ATOL, rtol=0)
    accepted = PROMPT_A + draft[:2] + [70]  # a rejected tail: decoding resumes after the accepted tokens
    np.testing.assert_allclose(model.start(accepted), _fresh_logits(bundle, accepted), atol=ATOL, rtol=0)


def test_the_buffer_never_grows_past_the_context(bundle) -> None:
    model = CausalLM(bundle, RuntimeOptions(n_threads=1, n_ctx=24), kv_capacity=16)
    logits = model.start(PROMPT_A)
    while model.n_past < 24:
        logits = model.step(int(np.argmax(logits)))
    assert model.kv.capacity == 24
    with pytest.raises(ContextOverflowError, match="n_ctx"):
        model.step(int(np.argmax(logits)))
    with pytest.raises(ContextOverflowError):
        CausalLM(bundle, RuntimeOptions(n_threads=1, n_ctx=16)).start(list(range(1, 20)))


def test_traced_graphs_keep_the_growing_present(tiny_bundle) -> None:  # noqa: F811
    assert CausalLM(tiny_bundle("llama", attention="traced"), OPTIONS).kv is None
