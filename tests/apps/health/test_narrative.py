"""The report and its narrative: every number cited is in the report; no private data in it."""

from __future__ import annotations

import json
import re

import pytest

from apps.health import synth_formats as sf
from apps.health.importers import import_file
from apps.health.narrative import STATUS, has_numbers, report_evidence, unsupported_numbers
from apps.health.report import build_report

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def apple_result(history, tmp_path_factory):
    days, _ = history
    return import_file(sf.write_apple(tmp_path_factory.mktemp("n") / "export.zip", days))


@pytest.fixture(scope="module")
def model_report(apple_result, default_engine):
    return build_report(apple_result, default_engine, seed=1)


def numbers_and_dates(text: str) -> tuple[list[float], list[str]]:
    """Parse the narrative independently of the validator: ISO dates, then the other numbers."""
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", text)
    rest = re.sub(r"\d{4}-\d{2}-\d{2}", " ", text)
    return [float(n) for n in NUMBER.findall(rest)], dates


def assert_grounded(report: dict) -> None:
    text = report["narrative"]
    nums, dates = numbers_and_dates(text)
    assert nums and dates  # the narrative does cite numbers
    flat = json.dumps({k: v for k, v in report.items() if k not in ("narrative", "recommendations", "assessment")})
    evidence = {round(float(n), 1) for n in NUMBER.findall(re.sub(r"\d{4}-\d{2}-\d{2}", " ", flat))}
    for n in nums:
        assert round(n, 1) in evidence, (n, text)
    for d in dates:
        assert d in flat
    assert unsupported_numbers(text, report) == []


def test_rules_only_narrative_is_grounded(apple_result):
    assert_grounded(build_report(apple_result, None))


def test_model_narrative_is_grounded(model_report):
    assert_grounded(model_report)
    # the labels are enum-constrained: a working model path always yields them; "rules" means it broke
    assert model_report["assessment"]["source"] == "model"
    assert model_report["assessment"]["status"] in STATUS
    for tip in model_report["recommendations"]["tips"]:
        assert unsupported_numbers(tip["text"], model_report) == []


def test_report_shape(model_report, history):
    _, planted = history
    r = model_report
    assert {"baselines", "events", "predictions", "narrative", "period", "days"} <= set(r)
    assert {"resting_hr", "hrv_ms", "steps", "sleep_asleep_min", "spo2_pct"} <= set(r["baselines"])
    for ev in r["events"]:
        assert {"type", "start", "end", "evidence", "explanation"} <= set(ev)
    assert len(r["events"]) == len(planted)
    for p in r["predictions"].values():
        assert p["value"] == "uncertain" or p["low"] <= p["value"] <= p["high"]


def test_report_holds_no_private_identifiers(model_report, apple_result):
    text = json.dumps(model_report)
    assert apple_result.private.terms()
    for term in apple_result.private.terms():
        assert term not in text
    assert sf.OWNER not in text


def test_validator_catches_invented_numbers(model_report):
    assert unsupported_numbers("Your resting heart rate was 123.4 bpm on 1999-01-01.", model_report) == [
        "1999-01-01", "123.4"]
    numbers, _ = report_evidence(model_report)
    assert round(model_report["baselines"]["steps"]["median"], 1) in numbers
    assert has_numbers("sleep seven hours") and has_numbers("aim for 8h") and not has_numbers("rest well")
