"""The Engine on the real default model (SmolLM2-135M-Instruct Q4_1) through llama.cpp."""

import json
import math

import jsonschema
import pytest

from edge.errors import ContextOverflowError, InvalidRequestError, SchemaError

CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


def test_capital_of_france(default_engine):
    r = default_engine.generate(CAPITAL, temperature=0, max_tokens=24)
    assert "Paris" in r.text
    assert r.finish_reason in ("stop", "length")
    assert r.completion_tokens == len(r.token_ids) > 0
    assert r.prompt_tokens == len(default_engine.tokenize(CAPITAL))
    assert r.timings.ttft_ms > 0 and r.timings.decode_tok_s > 0 and r.timings.prefill_tok_s > 0
    assert r.backend == "llamacpp" and r.model == "default"


def test_chat_template_comes_from_the_model(default_engine):
    text = default_engine.render(CAPITAL)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    ids = default_engine.tokenize(CAPITAL)
    assert ids[0] == 1 and ids.count(1) == 3  # <|im_start|> once per turn, no doubled BOS


def test_streaming_equals_generate(default_engine):
    chunks = list(default_engine.stream(CAPITAL, temperature=0, max_tokens=24))
    final = chunks[-1]
    assert final.result is not None and final.finish_reason is not None
    assert "".join(c.text for c in chunks) == final.result.text
    assert final.result.text == default_engine.generate(CAPITAL, temperature=0, max_tokens=24).text
    assert all(c.result is None for c in chunks[:-1])


def test_max_tokens_gives_length_finish(default_engine):
    r = default_engine.generate("Count: 1, 2, 3,", max_tokens=5, temperature=0)
    assert r.completion_tokens == 5 and r.finish_reason == "length"


def test_stop_sequence_cuts_the_answer(default_engine):
    free = default_engine.generate("Count: 1, 2, 3,", max_tokens=20, temperature=0)
    # a stop string taken from this build's own greedy answer (greedy paths differ across SIMD levels)
    stop = free.text[len(free.text) // 2:][:2]
    assert len(free.text) >= 8 and stop.strip(), free.text
    r = default_engine.generate("Count: 1, 2, 3,", max_tokens=20, temperature=0, stop=[stop])
    assert r.finish_reason == "stop"
    assert r.text == free.text[: free.text.index(stop)]


def test_seed_reproduces_sampling(default_engine):
    kw = {"temperature": 1.0, "top_p": 0.95, "top_k": 40, "max_tokens": 24}
    a = default_engine.generate("Once upon a time", seed=42, **kw).token_ids
    b = default_engine.generate("Once upon a time", seed=42, **kw).token_ids
    c = default_engine.generate("Once upon a time", seed=43, **kw).token_ids
    assert a == b
    assert a != c


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "continent": {"enum": ["Europe", "Asia", "Africa", "America", "Oceania"]},
        "population_millions": {"type": "integer", "minimum": 1, "maximum": 40},
    },
    "required": ["city", "continent", "population_millions"],
    "additionalProperties": False,
}


def test_json_schema_is_always_respected_over_20_seeds(default_engine):
    msgs = [{"role": "user", "content": "Describe a big city as JSON with its population in millions."}]
    for seed in range(20):
        r = default_engine.generate(msgs, json_schema=SCHEMA, temperature=1.0, seed=seed, max_tokens=96)
        assert r.finish_reason == "stop", r.text
        jsonschema.validate(json.loads(r.text), SCHEMA)


def test_logprobs_are_a_distribution(default_engine):
    top = default_engine.next_token_logprobs("The capital of France is", top_k=5)
    assert len(top) == 5
    assert all(a[1] >= b[1] for a, b in zip(top, top[1:], strict=False))
    assert all(lp <= 0 for _, lp in top)
    assert "Paris" in "".join(default_engine.token_text(t) for t, _ in top)
    everything = default_engine.next_token_logprobs("The capital of France is", top_k=default_engine.describe()["n_vocab"])
    assert len({t for t, _ in everything}) == default_engine.describe()["n_vocab"]
    assert abs(sum(math.exp(lp) for _, lp in everything) - 1.0) < 1e-4  # a distribution over the vocabulary
    assert everything[:5] == top


@pytest.mark.parametrize("prompt,kw,err", [
    ("", {}, InvalidRequestError),
    ("   ", {}, InvalidRequestError),
    ([], {}, InvalidRequestError),
    ("hi", {"max_tokens": 0}, InvalidRequestError),
    ("hi", {"max_tokens": -1}, InvalidRequestError),
    ("hi", {"json_schema": {"type": 5}}, SchemaError),
])
def test_bad_requests(default_engine, prompt, kw, err):
    with pytest.raises(err):
        default_engine.generate(prompt, **kw)


def test_context_overflow_is_an_error_not_a_crash(default_engine):
    with pytest.raises(ContextOverflowError, match="context holds"):
        default_engine.generate("word " * 3000, max_tokens=4)
    assert "Paris" in default_engine.generate(CAPITAL, temperature=0, max_tokens=24).text  # still works


def test_logprobs_with_reused_prefix_equal_a_fresh_evaluation(default_engine):
    ids = default_engine.tokenize("The capital of France is a city called")
    fresh = default_engine.next_token_logprobs(ids, top_k=5)
    default_engine.next_token_logprobs(ids[:-3], top_k=5)  # leaves a shorter prefix in the KV cache
    default_engine.generate("Unrelated words", max_tokens=3, temperature=0)  # and a different one
    default_engine.next_token_logprobs(ids[:-1], top_k=5)
    again = default_engine.next_token_logprobs(ids, top_k=5)
    assert [t for t, _ in again] == [t for t, _ in fresh]
    assert max(abs(a - b) for (_, a), (_, b) in zip(again, fresh, strict=True)) < 1e-3


def test_per_token_logprobs_match_the_choices(default_engine):
    r = default_engine.generate("The capital of France is", max_tokens=4, temperature=0, logprobs=3)
    assert r.logprobs is not None and len(r.logprobs) == r.completion_tokens
    for step in r.logprobs:  # greedy: the chosen token is the top alternative
        assert len(step.top) == 3 and step.top[0][0] == step.token_id
        assert abs(step.top[0][2] - step.logprob) < 1e-9 and step.logprob <= 0
    first = default_engine.next_token_logprobs("The capital of France is", top_k=3)
    assert [t for t, _ in first] == [t for t, _, _ in r.logprobs[0].top]
    assert "".join(s.text for s in r.logprobs) == r.text
