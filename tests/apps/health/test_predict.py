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


class ScriptedEngine:
    """Fills template fields from a script, recording seeds: exercises the resampling logic only."""

    def __init__(self, answers: list[list[str]]):
        self.values = [v for answer in answers for v in answer]
        self.seeds: list[int] = []

    def render(self, messages):
        return "PROMPT\n"

    def generate(self, prompt, **kw):
        self.seeds.append(kw["seed"])
        return type("R", (), {"text": self.values.pop(0)})()


def test_out_of_range_is_resampled_then_uncertain(timeline):
    eng = ScriptedEngine([["12", "2", "2", "3"], ["8", "9", "1", "1"]])
    preds = predict(eng, timeline, seed=5, tries=3)
    assert len(eng.seeds) == 8 and eng.seeds[0] != eng.seeds[4]  # a second draw, on another seed
    assert preds["readiness"].value == 8 and preds["readiness"].attempts == 2
    assert preds["fatigue"].value == 2 and preds["fatigue"].attempts == 1
    eng = ScriptedEngine([["x", "", "11", "0"]] * 2)
    preds = predict(eng, timeline, tries=2)
    assert all(p.value == "uncertain" and p.attempts == 2 for p in preds.values())


def test_without_a_grammar_engine_the_template_is_parsed(timeline):
    class NoGrammar(ScriptedEngine):
        def generate(self, prompt, **kw):
            if "json_schema" in kw:
                from edge import EdgeError
                raise EdgeError("backend cannot constrain output")
            assert kw["stop"] == ("\n",)
            return super().generate(prompt, **kw)

    preds = predict(NoGrammar([["7 out of 10", "2", "3", "4"]]), timeline)
    assert {k: p.value for k, p in preds.items()} == {"readiness": 7, "fatigue": 2, "stress": 3, "sleep_quality": 4}


def test_fifty_seeded_runs_parse_and_are_in_range(default_engine, timeline):
    for seed in range(50):
        preds = predict(default_engine, timeline, seed=seed, temperature=1.0, tries=1, max_tokens=4)
        for key, (lo, hi) in TARGETS.items():
            p = preds[key]
            assert isinstance(p.value, int) and lo <= p.value <= hi, (seed, key, p)
            assert (p.low, p.high) == (lo, hi)
