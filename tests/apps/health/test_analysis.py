"""Baselines and events on synthetic histories with planted events, in every format."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from apps.health import synth_formats as sf
from apps.health.analysis import Timeline, detect_events
from apps.health.errors import HealthDataError
from apps.health.importers import import_file
from apps.health.schema import DayRecord
from apps.health.synth import generate

NAMES = {"illness": "illness_onset", "gap": "data_gap"}
OUT = {"apple": "export.zip", "fitbit": "fitbit", "healthconnect": "hc.db", "csv": "days.csv"}


def expected(planted):
    return sorted((NAMES.get(p.type, p.type), p.start.isoformat(), p.end.isoformat()) for p in planted)


@pytest.mark.parametrize("fmt", list(OUT))
def test_planted_events_found_with_their_dates(fmt, history, tmp_path):
    days, planted = history
    path = sf.WRITERS[fmt](tmp_path / OUT[fmt], days)
    events = detect_events(Timeline(import_file(path).days))
    assert sorted((e.type, e.start, e.end) for e in events) == expected(planted)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_other_seeds_same_dates(seed, tmp_path):
    days, planted = generate(50, seed=seed, end=date(2023, 7, 1))
    events = detect_events(Timeline(import_file(sf.write_csv(tmp_path / "d.csv", days)).days))
    assert sorted((e.type, e.start, e.end) for e in events) == expected(planted)


@pytest.mark.parametrize("seed", range(5))
def test_no_events_in_clean_data(seed, tmp_path):
    days, _ = generate(40, (), seed=seed, end=date(2023, 7, 1))
    assert detect_events(Timeline(import_file(sf.write_csv(tmp_path / "d.csv", days)).days)) == []


def test_gap_is_a_gap_not_an_activity_drop(history, tmp_path):
    days, planted = history
    gap = next(p for p in planted if p.type == "gap")
    events = detect_events(Timeline(import_file(sf.write_csv(tmp_path / "d.csv", days)).days))
    (ev,) = [e for e in events if e.type == "data_gap"]
    assert (ev.start, ev.end, ev.evidence["days"]) == (gap.start.isoformat(), gap.end.isoformat(), 2)
    covering = [e for e in events if e.type != "data_gap" and e.start <= gap.end.isoformat() <= e.end]
    assert covering == []


def test_evidence_numbers_match_the_data(history, tmp_path):
    days, planted = history
    records = import_file(sf.write_csv(tmp_path / "d.csv", days)).days
    tl = Timeline(records)
    ill = next(p for p in planted if p.type == "illness")
    (ev,) = [e for e in detect_events(tl) if e.type == "illness_onset"]
    in_event = [d for d in days if ill.start <= d.date <= ill.end]
    assert ev.evidence["resting_hr_mean"] == pytest.approx(sum(d.resting_hr for d in in_event) / 3, abs=0.06)
    assert ev.evidence["hrv_change_pct"] < -25 and ev.evidence["resting_hr_delta"] > 6
    assert str(ev.evidence["resting_hr_mean"]) in ev.explanation


def test_resting_hr_alone_without_hrv(tmp_path):
    days, planted = generate(20, ("illness",), seed=2, end=date(2023, 7, 1))
    records = import_file(sf.write_csv(tmp_path / "d.csv", days)).days
    for r in records:
        r.hrv_ms = None
    events = detect_events(Timeline(records))
    assert [(e.type, e.start) for e in events] == [("elevated_resting_hr", planted[0].start.isoformat())]


def test_baselines_are_robust_to_outliers():
    start = date(2024, 1, 1)
    recs = [DayRecord((start + timedelta(days=i)).isoformat(), resting_hr=60.0 + (i % 3) * 0.5) for i in range(20)]
    recs[5].resting_hr = 140.0  # one wild reading
    b = Timeline(recs).baselines()["resting_hr"]
    assert b.median == 60.5 and b.mad < 1.0 and b.n == 20


def test_nothing_to_assess():
    with pytest.raises(HealthDataError):
        Timeline([DayRecord("2024-01-01")])
