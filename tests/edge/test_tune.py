"""The auto-tuner: racing decided by construction, no silent re-quantization, TOML writing, and a
real tune on the default model within its budget that `run` then uses.

Speed is injected where an outcome is asserted (`measure=`): the slow candidate is slower by
construction, never by this machine's timing. Quality is always the real model's.
"""

import json

import pytest

from edge import Engine
from edge.errors import InvalidRequestError
from edge.models import resolve
from edge.profiles import detect, parse_profile
from edge.tune import QUALITY_NOISE, TuneConfig, _toml, plan_quants, tune
from edge.tune_race import MIN_ROUNDS, Candidate, choose, race
from tests.conftest import run_cli

JITTER = (50.0, 47.0, 53.0, 49.0, 51.0, 48.0)  # the same round-to-round noise for every candidate


def jittered(factor):
    """A measure function: candidate speed = factor(candidate) × the shared jitter of this round."""
    return lambda c: factor(c) * JITTER[len(c.samples) % len(JITTER)]


def test_toml_values_and_config_validation():
    assert _toml(["q4_0", "a\"b"]) == '["q4_0", "a\\"b"]'
    assert (_toml(True), _toml(3), _toml(2.5)) == ("true", "3", "2.5")
    with pytest.raises(InvalidRequestError):
        TuneConfig(budget_s=0)
    with pytest.raises(InvalidRequestError, match="q3_xs"):
        TuneConfig(quants=("q3_xs",))


def test_race_drops_the_slow_candidate_early_and_ties_identical_ones():
    same_a, same_b = Candidate("q4_1", 2, "f16", True, top1=1.0), Candidate("q4_1", 2, "f16", True, top1=1.0)
    slow = Candidate("q4_1", 1, "f16", True, top1=1.0)
    log = race([slow, same_a, same_b], jittered(lambda c: 0.8 if c is slow else 1.0), lambda _s: True, max_rounds=6)
    assert log.dropped == [slow] and len(slow.samples) == MIN_ROUNDS and "round 3" in slow.dropped
    assert len(same_a.samples) == len(same_b.samples) == 6  # the budget went to the contenders
    best, tied = choose(log.alive, prefer=lambda c: (c.top1,))
    assert best in (same_a, same_b) and tied == [same_a, same_b]


def test_a_grossly_slower_candidate_goes_after_two_rounds():
    fast, crawl = Candidate("q4_1", 1, "f16", True), Candidate("q4_1", 2, "f16", True)
    log = race([fast, crawl], jittered(lambda c: 0.25 if c is crawl else 1.0), lambda _s: True, max_rounds=6)
    assert log.dropped == [crawl] and len(crawl.samples) == 2 and log.stopped == "one candidate left"


def test_race_declares_a_winner_only_beyond_the_noise():
    fast, other = Candidate("q4_1", 2, "f16", True), Candidate("q4_1", 2, "f16", False, top1=1.0)
    log = race([fast, other], jittered(lambda c: 1.2 if c is fast else 1.0), lambda _s: True, max_rounds=6)
    assert choose(log.alive, prefer=lambda c: (c.top1,)) == (fast, [fast])  # ahead: quality does not matter
    # a 2 % gain with overlapping ranges is noise: the higher-quality one is chosen and they tie
    a, b = Candidate("q4_1", 2, "f16", True, top1=0.95), Candidate("q4_1", 2, "f16", False, top1=1.0)
    log = race([a, b], jittered(lambda c: 1.02 if c is a else 1.0), lambda _s: True, max_rounds=6)
    assert choose(log.alive, prefer=lambda c: (c.top1,)) == (b, [a, b])
    # fewer than MIN_ROUNDS rounds within the budget: nobody can be ahead beyond the noise
    c, d = Candidate("q4_1", 2, "f16", True), Candidate("q4_1", 1, "f16", True, top1=1.0)
    log = race([c, d], jittered(lambda x: 1.2 if x is c else 1.0), lambda _s: min(len(c.samples), len(d.samples)) < 2)
    assert log.rounds == 2 and "budget" in log.stopped and choose(log.alive, lambda x: (x.top1,)) == (d, [c, d])


def test_a_round_the_budget_cuts_short_is_taken_back_whole():
    c, d = Candidate("q4_1", 2, "f16", True), Candidate("q4_1", 1, "f16", True)
    log = race([c, d], lambda x: None if x is d and len(x.samples) == 2 else 10.0, lambda _s: True)
    assert log.rounds == 2 and len(c.samples) == len(d.samples) == 2 and "budget" in log.stopped


def test_tune_races_on_the_default_model_and_reports_the_tie(monkeypatch):
    def no_quantize(*_a):
        raise AssertionError("tune re-quantized a quantized source")

    monkeypatch.setattr("edge.tune.quantize", no_quantize)
    cfg = TuneConfig(budget_s=600, threads=(1, 2), kv_flash=(("f16", True), ("f16", False)), max_rounds=5)
    res = tune("default", cfg, measure=jittered(lambda c: 0.8 if c.threads == 1 else 1.0))
    assert res.plan.types == ["q4_1"] and set(res.paths) == {"q4_1"} and "no re-quantization" in res.plan.note
    slow = [c for c in res.candidates if c.threads == 1]
    assert all(c.dropped and len(c.samples) == MIN_ROUNDS for c in slow)
    assert res.tie and {(c.threads, c.flash_attn) for c in res.tied} == {(2, True), (2, False)}
    assert res.best.top1 >= max(c.top1 for c in res.tied) - QUALITY_NOISE and 0.5 < res.best.top1 <= 1.0
    if abs(res.tied[0].top1 - res.tied[1].top1) <= QUALITY_NOISE:  # tied in quality too: the simpler one
        assert res.best.flash_attn == res.base.runtime.flash_attn
    assert res.verdict().startswith("tie:") and res.rounds == 5


def test_no_requantization_from_a_quantized_source_without_the_flag():
    ref, base = resolve("default"), detect().profile
    with pytest.raises(InvalidRequestError, match="--requantize"):
        plan_quants(TuneConfig(quants=("q8_0",)), base, ref, "q4_1")
    assert plan_quants(TuneConfig(), base, ref, "q4_1").quantize_from is None
    asked = plan_quants(TuneConfig(quants=("q4_1", "q8_0"), requantize=True), base, ref, "q4_1")
    assert asked.types == ["q4_1", "q8_0"] and "RE-QUANTIZING" in asked.note
    floating = plan_quants(TuneConfig(), base, ref, "f16")  # a float source may be quantized
    assert floating.quantize_from == ref.weights_file and len(floating.types) > 1


@pytest.mark.slow
def test_tune_default_within_budget_writes_a_profile_run_uses(tmp_path):
    out = tmp_path / "tuned-test.toml"
    budget = 75
    p = run_cli("tune", "--budget-s", str(budget), "--threads", "1,2", "--out", str(out), "--json",
                timeout=budget + 120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    # the budget bounds tune's own loop; run_cli's timeout bounds the process (no speed is asserted)
    assert res["elapsed_s"] > 0 and res["candidates"] and not res["requantized"]
    best = res["best"]
    finalists = [c for c in res["candidates"] if not c["dropped"]]
    assert best in finalists and all(c["top1"] >= 0.9 for c in finalists)
    assert all(c["rounds"] == res["rounds"] for c in finalists)  # interleaved: the same rounds for each
    assert best["decode_tok_s_min"] <= best["decode_tok_s"] <= best["decode_tok_s_max"]  # the spread is kept
    prof = parse_profile(out)
    assert prof.runtime.threads == best["threads"] and prof.runtime.kv_type == best["kv_type"]
    text = out.read_text()
    assert prof.quantization[0] == best["quant"] and "tok/s [" in text and res["verdict"] in text
    p = run_cli("run", "--profile", str(out), "-m", res["model_path"], "--json", "--temperature", "0", "-n", "8",
                "Name a colour.")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["completion_tokens"] > 0
    with Engine.load(res["model_path"], profile=str(out)) as engine:
        d = engine.describe()
        assert d["profile"] == "tuned-test" and d["threads"] == best["threads"]
