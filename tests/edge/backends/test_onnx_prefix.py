"""Prefix reuse on the ONNX Runtime backend: the same greedy output, and only the new tokens run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge.backends.onnx_prefix import PastState, PrefixCache
from edge.backends.onnxruntime import OnnxRuntimeBackend
from edge.models import resolve
from edge.options import RuntimeOptions
from edge.prefix import common_prefix
from edge.sampling import SamplingParams
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (session fixtures shared with export tests)
from tests.export.onnx.conftest import tiny_bundle, tiny_checkpoint  # noqa: F401

pytest.importorskip("onnxruntime")
GREEDY = SamplingParams(temperature=0.0, max_tokens=12, ignore_eos=True)


def _backend(bundle) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(resolve(str(bundle)), RuntimeOptions(n_threads=1))


@pytest.fixture(scope="module", params=["fp32", "int4"])
def llama(request, tiny_bundle):  # noqa: F811
    backend = _backend(tiny_bundle("llama", request.param))
    yield backend
    backend.close()


def _greedy(backend: OnnxRuntimeBackend, ids: list[int]) -> list[int]:
    """max_tokens greedy tokens (the backend's generator runs until the caller stops, as the Engine does)."""
    gen = backend.generate(ids, GREEDY)
    try:
        return list(itertools.islice(gen, GREEDY.max_tokens))
    finally:
        gen.close()


def _uncached(backend: OnnxRuntimeBackend, ids: list[int]) -> list[int]:
    backend.model.cache.clear()
    return _greedy(backend, ids)


def test_second_call_runs_only_the_new_tokens(llama: OnnxRuntimeBackend) -> None:
    system = llama.tokenize("You are a careful assistant. Answer in one short line. " * 4, add_bos=True)
    first, second = system + llama.tokenize("Where is Paris?", add_bos=False), \
        system + llama.tokenize("Name a river.", add_bos=False)
    llama.model.cache.clear()
    _greedy(llama, first)
    before = llama.model.fed_tokens
    got = _greedy(llama, second)
    fed = llama.model.fed_tokens - before
    shared = common_prefix(first, second)
    assert shared >= len(system)
    assert fed == len(second) - shared + GREEDY.max_tokens - 1  # the new prompt tail, then one per step
    assert got == _uncached(llama, second)


def test_logits_after_a_reused_prefix_are_the_uncached_ones(llama: OnnxRuntimeBackend) -> None:
    base = llama.tokenize("The keeper logs the weather every four hours and winds the lens.", add_bos=True)
    other = base[:-3] + llama.tokenize(" trims the wick, then answers the radio", add_bos=False)
    llama.model.cache.clear()
    llama.next_token_logits(base)
    before = llama.model.fed_tokens
    reused = llama.next_token_logits(other)  # a sliced past, then a several-token tail
    assert llama.model.fed_tokens - before == len(other) - common_prefix(base, other) > 1
    llama.model.cache.clear()
    np.testing.assert_allclose(reused, llama.next_token_logits(other), atol=1e-4)


def test_a_draft_is_verified_in_one_run_on_the_cached_past(llama: OnnxRuntimeBackend) -> None:
    prefix = llama.tokenize("Verify these tokens after a cached prefix, please.", add_bos=True)
    draft = llama.tokenize(" one two three", add_bos=False)
    llama.model.cache.clear()
    llama.next_token_logits(prefix)
    before = llama.model.fed_tokens
    rows = llama.model.verify(prefix, draft)
    assert llama.model.fed_tokens - before == len(draft) and rows.shape[0] == len(draft) + 1
    for j in range(len(draft) + 1):
        llama.model.cache.clear()
        np.testing.assert_allclose(rows[j], llama.next_token_logits(prefix + draft[:j]), atol=1e-4)


def test_a_continued_chat_reuses_its_own_answer(llama: OnnxRuntimeBackend) -> None:
    prompt = llama.tokenize("Tell me about lighthouses.", add_bos=True)
    llama.model.cache.clear()
    answer = _greedy(llama, prompt)
    turn2 = prompt + answer + llama.tokenize(" And ships?", add_bos=False)
    before = llama.model.fed_tokens
    got = _greedy(llama, turn2)
    # everything but the answer's last token (never fed) and the new question came from the cache
    assert llama.model.fed_tokens - before == 1 + len(turn2) - len(prompt) - len(answer) + GREEDY.max_tokens - 1
    assert got == _uncached(llama, turn2)


def test_next_token_logits_grows_one_token_at_a_time(llama: OnnxRuntimeBackend) -> None:
    ids = llama.tokenize("One two three four five six seven", add_bos=True)
    llama.model.cache.clear()
    llama.next_token_logits(ids[:3])
    before = llama.model.fed_tokens
    incremental = [llama.next_token_logits(ids[:n]) for n in range(4, len(ids) + 1)]
    assert llama.model.fed_tokens - before == len(ids) - 3  # linear, not quadratic
    again = llama.model.fed_tokens
    repeat = llama.next_token_logits(ids)
    assert llama.model.fed_tokens == again  # the very same prompt runs nothing
    llama.model.cache.clear()
    fresh = llama.next_token_logits(ids)
    np.testing.assert_allclose(incremental[-1], fresh, atol=1e-4)
    np.testing.assert_array_equal(repeat, incremental[-1])


def test_alternating_prompts_keep_both_prefixes(llama: OnnxRuntimeBackend) -> None:
    app = llama.tokenize("Rules: reply with JSON only. " * 3, add_bos=True)
    chat = llama.tokenize("A friendly chat about the weather. " * 3, add_bos=True)
    llama.model.cache.clear()
    for prefix in (app, chat):
        _greedy(llama, prefix + llama.tokenize(" first", add_bos=False))
    before = llama.model.fed_tokens
    for prefix in (app, chat):
        _greedy(llama, prefix + llama.tokenize(" second", add_bos=False))
    tails = sum(len(p) + len(llama.tokenize(" second", add_bos=False)) - common_prefix(
        p + llama.tokenize(" first", add_bos=False), p + llama.tokenize(" second", add_bos=False)) for p in (app, chat))
    assert llama.model.fed_tokens - before == tails + 2 * (GREEDY.max_tokens - 1)


def test_the_cache_stays_within_its_byte_bound() -> None:
    cache = PrefixCache(bytes_per_token=10, max_bytes=1000, max_states=8)
    for i in range(20):
        cache.put(PastState([i] * 40, {}))
    assert cache.nbytes <= 1000 and len(cache) == 2
    assert cache.best([19] * 5)[1] == 5 and cache.best([0] * 5) == (None, 0)  # the oldest went first
    cache.put(PastState([19] * 60, {}))  # extends [19]*40, which is dropped as redundant
    assert len(cache) == 2 and cache.nbytes == (40 + 60) * 10


def test_t5_encoder_output_is_cached_by_its_ids(tiny_bundle) -> None:  # noqa: F811
    backend = _backend(tiny_bundle("t5"))
    ids = backend.tokenize("translate English to German: The house is small.", add_bos=False)
    first = _greedy(backend, ids)
    before = backend.model.fed_tokens
    assert _greedy(backend, ids) == first
    assert backend.model.fed_tokens - before == GREEDY.max_tokens - 1  # no encoder run, no first step
    np.testing.assert_array_equal(backend.next_token_logits(ids), backend.next_token_logits(ids))
    backend.close()


@pytest.mark.parametrize("mode, reused", [("memory", True), ("off", False)])
def test_prompt_cache_off_keeps_only_the_last_prompt(tiny_bundle, mode: str, reused: bool) -> None:  # noqa: F811
    """EDGESPLIT_PROMPT_CACHE=off means on ONNX Runtime what it means on llama.cpp: the context's
    last prompt is reused, no other saved prefix."""
    backend = OnnxRuntimeBackend(resolve(str(tiny_bundle("llama"))), RuntimeOptions(n_threads=1, prompt_cache=mode))
    try:
        a = backend.tokenize("An app's long fixed instructions come first, then the task. " * 3, add_bos=True)
        b = backend.tokenize("A chat about something else entirely, with its own words.", add_bos=True)
        backend.next_token_logits(a)
        backend.next_token_logits(b)
        before = backend.model.fed_tokens
        backend.next_token_logits(a)
        fed = backend.model.fed_tokens - before
        assert fed == 0 if reused else fed == len(a) - common_prefix(a, b)
    finally:
        backend.close()
