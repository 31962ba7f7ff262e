"""Speculation hands a generation to llama.cpp's plain loop when drafting stops paying, and nothing
a caller relies on changes at the seam: greedy tokens, stop strings, max_tokens, logprobs, grammars,
cancellation, and the stats count the handed-off tokens.

The controller is built with `prior_accept=0` (no draft is ever worth sending, whatever the timings)
and `handoff_after=4`, so every generation here hands off at its fifth step, on any machine, for
plain stretches of 8, 16, 32... tokens with four verifier passes between them.
"""

from __future__ import annotations

import json
import threading

import jsonschema
import numpy as np
import pytest

from edge import Engine
from edge.backends.llamacpp import LlamaCppBackend
from edge.models import resolve
from edge.options import RuntimeOptions
from edge.speculate import Controller
from tests.edge.backends.test_llamacpp_spec import PROMPTS, SCHEMA, _assert_same_or_near_tie, _fresh

STORY = [{"role": "user", "content": "Write a short story about a lighthouse keeper and his cat."}]
HANDOFF_AT = 4


@pytest.fixture(scope="module")
def engines():
    ref, opts = resolve("default"), RuntimeOptions(n_threads=1)
    plain = Engine.load("default", options=opts.with_(speculative="off"))
    spec_opts = opts.with_(speculative="on")
    controller = Controller(prior_accept=0.0, handoff_after=HANDOFF_AT, plain_stretch=8)
    spec = Engine(ref, LlamaCppBackend(ref, spec_opts, controller=controller), spec_opts)
    yield plain, spec
    plain.close()
    spec.close()


def test_greedy_tokens_are_identical_across_the_handoff(engines) -> None:
    plain, spec = engines
    ids = plain.tokenize(STORY)
    a = _fresh(plain, ids, max_tokens=48, temperature=0.0, ignore_eos=True)
    b = _fresh(spec, ids, max_tokens=48, temperature=0.0, ignore_eos=True)
    # 1 token from the prompt's row, then 4 passes before each plain stretch: 8, 16, then the last 11
    assert b.speculation.steps == 3 * HANDOFF_AT and b.speculation.handed_off == 8 + 16 + 11
    assert 1 + b.speculation.emitted + b.speculation.handed_off == b.completion_tokens == 48
    assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) == 0


class _HandOffAfter(Controller):
    """Drafts 4 tokens at every pass (no cost model), then hands off after a fixed number of passes."""

    def __init__(self, passes: int) -> None:
        super().__init__(plain_every=1000)
        self.passes, self.seen = passes, 0

    def best_length(self, source: str) -> int:
        return 4

    def record(self, *args) -> None:
        self.seen += 1
        super().record(*args)

    def hand_off(self) -> bool:
        return self.seen >= self.passes


@pytest.mark.parametrize("passes", [2, 6])  # (here) both end on a batch row > 0
def test_a_handoff_after_accepted_drafts_keeps_tokens_and_logprobs(engines, passes: int) -> None:
    """The handoff may follow a pass whose last token came from a later row of the batch."""
    plain, _ = engines
    ref, opts = resolve("default"), RuntimeOptions(n_threads=1, speculative="ngram")
    with Engine(ref, LlamaCppBackend(ref, opts, controller=_HandOffAfter(passes)), opts) as spec:
        ids = plain.tokenize(PROMPTS["repeat"])
        a = _fresh(plain, ids, max_tokens=40, temperature=0.0, logprobs=1, ignore_eos=True)
        b = _fresh(spec, ids, max_tokens=40, temperature=0.0, logprobs=1, ignore_eos=True)
    assert b.speculation.accepted > 0 and b.speculation.handed_off > 0 and b.speculation.steps == passes
    assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) == 0
    assert np.allclose([lp.logprob for lp in b.logprobs], [lp.logprob for lp in a.logprobs], atol=0.05)


def test_stop_strings_and_max_tokens_hold_after_the_handoff(engines) -> None:
    plain, spec = engines
    ids = plain.tokenize(STORY)
    ref = _fresh(plain, ids, max_tokens=40, temperature=0.0, ignore_eos=True)
    word = ref.text.split()[-3]  # a word well past the handoff
    a = _fresh(plain, ids, max_tokens=40, temperature=0.0, stop=[word])
    b = _fresh(spec, ids, max_tokens=40, temperature=0.0, stop=[word])
    assert b.finish_reason == a.finish_reason == "stop" and b.text == a.text and word not in b.text
    assert b.speculation.handed_off > 0
    c = spec.generate(ids, max_tokens=11, temperature=0.7, ignore_eos=True)
    assert c.completion_tokens == 11 and c.finish_reason == "length" and c.speculation.handed_off > 0


def test_logprobs_come_from_the_row_each_token_was_drawn_from(engines) -> None:
    plain, spec = engines
    ids = plain.tokenize(STORY)
    a = _fresh(plain, ids, max_tokens=16, temperature=0.0, logprobs=2, ignore_eos=True)
    b = _fresh(spec, ids, max_tokens=16, temperature=0.0, logprobs=2, ignore_eos=True)
    assert b.speculation.handed_off > 0 and a.token_ids == b.token_ids
    assert np.allclose([lp.logprob for lp in b.logprobs], [lp.logprob for lp in a.logprobs], atol=0.05)
    assert [lp.top[0][0] for lp in b.logprobs] == [lp.top[0][0] for lp in a.logprobs]


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_json_schema_output_stays_valid_across_the_handoff(engines, temperature: float) -> None:
    _, spec = engines
    prompt = [{"role": "user", "content": "Give a person called Ada, aged 36, as JSON with name and age."}]
    r = spec.generate(prompt, max_tokens=64, temperature=temperature, json_schema=SCHEMA)
    assert r.finish_reason == "stop", r.text
    jsonschema.validate(json.loads(r.text), SCHEMA)
    assert r.speculation.handed_off > 0


def test_a_seeded_sampled_generation_is_the_same_with_speculation_on_or_off(engines) -> None:
    """A seeded draw must not depend on timings (where a handoff falls) or on the speculative mode."""
    plain, spec = engines
    ids = spec.tokenize(STORY)
    runs = [e.generate(ids, max_tokens=24, temperature=0.9, seed=5, ignore_eos=True) for e in (spec, spec, plain)]
    assert all(r.speculation is None for r in runs)
    assert runs[0].token_ids == runs[1].token_ids == runs[2].token_ids


def test_cancellation_stops_the_handed_off_loop(engines) -> None:
    plain, spec = engines
    ids = plain.tokenize(STORY)
    cancelled, seen = threading.Event(), []
    with pytest.raises(RuntimeError), spec.interruptible(cancelled):  # llama.cpp's aborted decode
        for chunk in spec.stream(ids, max_tokens=64, temperature=0.0, ignore_eos=True):
            seen += chunk.token_ids
            if len(seen) >= 2 * HANDOFF_AT:
                cancelled.set()
    assert 2 * HANDOFF_AT <= len(seen) < 64
    a = _fresh(plain, ids, max_tokens=24, temperature=0.0, ignore_eos=True)  # the model still works
    b = spec.generate(ids, max_tokens=24, temperature=0.0, ignore_eos=True)
    assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) <= 1  # a near-tie at most
