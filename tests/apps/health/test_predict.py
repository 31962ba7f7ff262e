"""PMData-style predictions: parsing, range checks, resampling, and 50 seeded runs on the real model."""

from __future__ import annotations

import pytest

from apps.health import synth_formats as sf
from apps.health.analysis import Timeline
from apps.health.importers import import_file
from apps.health.predict import TARGETS, parse_answer, predict, prompt


@pytest.fixture(scope="module")
def timeline(history14, tmp_path_factory):
    days, _ = history14
    return Timeline(import_file(sf.write_csv(tmp_path_factory.mktemp("p") / "d.csv", days)).days)


def test_prompt_is_the_fixed_template_with_na_for_missing(timeline):
    saved, timeline.days[3].resting_hr = timeline.days[3].resting_hr, None
    text = prompt(timeline)[1]["content"]
    timeline.days[3].resting_hr = saved
    assert "last 14 days" in text and "readiness: an integer from 0" in text
    rhr_line = next(line for line in text.splitlines() if line.startswith("resting heart rate"))
    assert rhr_line.split(": ", 1)[1].split(", ")[3] == "NA"


@pytest.mark.parametrize("text,want", [
    ('{"readiness": 7, "fatigue": 2, "stress": 3, "sleep_quality": 4}',
     {"readiness": 7, "fatigue": 2, "stress": 3, "sleep_quality": 4}),
    ('{"readiness": 11, "fatigue": 0, "stress": 3.0, "sleep_quality": true}', {"stress": 3}),
    ("readiness: 6\nFatigue = 2\nstress: 9\nsleep quality: 5", {"readiness": 6, "fatigue": 2, "sleep_quality": 5}),
    ("I feel great", {}),
])
def test_parse_answer_keeps_only_in_range(text, want):
    assert parse_answer(text) == want


class Recording:
    """The real engine, recording each generation's keywords and text (nothing is replaced)."""

    def __init__(self, engine):
        self.engine, self.calls, self.texts = engine, [], []

    def render(self, messages):
        return self.engine.render(messages)

    def generate(self, prompt, **kw):
        result = self.engine.generate(prompt, **kw)
        self.calls.append(kw)
        self.texts.append(result.text)
        return result


def test_real_model_predictions_are_parsed_from_its_constrained_output(default_engine, timeline):
    eng = Recording(default_engine)
    preds = predict(eng, timeline, seed=5)
    assert len(eng.calls) == 4 and all("json_schema" in kw for kw in eng.calls)  # one constrained call a field
    for (key, (lo, hi)), text in zip(TARGETS.items(), eng.texts, strict=True):
        assert preds[key].value == int(text.strip())  # what the model wrote, under its integer grammar
        assert lo <= preds[key].value <= hi and preds[key].attempts == 1


class NoGrammar(Recording):
    """The real model behind a backend without a grammar engine: a schema request is refused."""

    def generate(self, prompt, **kw):
        if "json_schema" in kw:
            from edge import EdgeError
            raise EdgeError("backend cannot constrain output")
        return super().generate(prompt, **kw)


def test_without_a_grammar_engine_the_real_model_fills_the_template_unconstrained(default_engine, timeline):
    eng = NoGrammar(default_engine)
    preds = predict(eng, timeline, seed=2, tries=2)
    assert eng.calls and all(kw["stop"] == ("\n",) for kw in eng.calls)
    for key, (lo, hi) in TARGETS.items():
        p = preds[key]
        if p.value == "uncertain":  # out of range or unparsable on every try: resampled, then given up
            assert p.attempts == 2
        else:
            assert isinstance(p.value, int) and lo <= p.value <= hi and 1 <= p.attempts <= 2
    # a second try happens only when the first left a field out, and draws on another seed
    seeds = sorted({kw["seed"] for kw in eng.calls})
    assert len(eng.calls) == 4 * (1 + any(p.attempts == 2 for p in preds.values()))
    assert len(seeds) == len(eng.calls)


def test_fifty_seeded_runs_parse_and_are_in_range(default_engine, timeline):
    for seed in range(50):
        preds = predict(default_engine, timeline, seed=seed, temperature=1.0, tries=1, max_tokens=4)
        for key, (lo, hi) in TARGETS.items():
            p = preds[key]
            assert isinstance(p.value, int) and lo <= p.value <= hi, (seed, key, p)
            assert (p.low, p.high) == (lo, hi)
