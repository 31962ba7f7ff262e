"""Deterministic analysis: personal baselines, deviations and events with their evidence.

Baselines are rolling and robust: for each day, the median and MAD (scaled by 1.4826 to match a
standard deviation) of the previous `WINDOW` days, needing `MIN_N` values. A floor on the scale
keeps a very regular person's tiny day-to-day noise from turning into alarms. Every number the
app ever shows or says comes from here; the language model never computes one.

Events (each with start, end, an explanation and its evidence numbers):
    illness_onset        resting HR up and HRV down together (resting HR alone: elevated_resting_hr)
    sleep_debt           2+ nights short of the personal norm adding up to 2 h or more
    low_spo2             daily SpO2 under 92 % or far under the personal norm
    activity_drop        2+ days under half the usual steps
    data_gap             days with no data at all (never read as "zero activity")
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from .errors import HealthDataError
from .schema import DayRecord

WINDOW = 28
MIN_N = 5
METRICS = ("resting_hr", "hrv_ms", "steps", "active_kcal", "sleep_asleep_min", "spo2_pct")
SCALE_FLOOR = {"resting_hr": 1.0, "hrv_ms": 2.0, "steps": 500.0, "active_kcal": 30.0, "sleep_asleep_min": 15.0,
               "spo2_pct": 0.5}
UNITS = {"resting_hr": "bpm", "hrv_ms": "ms", "steps": "steps", "active_kcal": "kcal", "sleep_asleep_min": "min",
         "spo2_pct": "%"}
SPO2_LOW = 92.0


@dataclass
class Baseline:
    metric: str
    median: float
    mad: float  # scaled MAD
    n: int
    unit: str

    def scale(self) -> float:
        return max(self.mad, SCALE_FLOOR[self.metric])


@dataclass
class Event:
    type: str
    start: str
    end: str
    explanation: str
    evidence: dict[str, float | int | str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def robust(values: list[float], metric: str) -> Baseline | None:
    if len(values) < MIN_N:
        return None
    med = statistics.median(values)
    mad = 1.4826 * statistics.median(abs(v - med) for v in values)
    return Baseline(metric, round(med, 1), round(mad, 1), len(values), UNITS[metric])


class Timeline:
    """The calendar from the first to the last day with data; absent days are None."""

    def __init__(self, days: list[DayRecord]) -> None:
        data = [d for d in days if d.has_data()]
        if not data:
            raise HealthDataError("the export holds no day with any measurement: nothing to assess")
        by_date = {date.fromisoformat(d.date): d for d in data}
        self.first, self.last = min(by_date), max(by_date)
        n = (self.last - self.first).days + 1
        self.dates = [self.first + timedelta(days=i) for i in range(n)]
        self.days: list[DayRecord | None] = [by_date.get(d) for d in self.dates]

    def values(self, metric: str) -> list[float | None]:
        return [None if d is None else getattr(d, metric) for d in self.days]

    def baseline_before(self, metric: str, i: int) -> Baseline | None:
        prior = self.values(metric)[max(0, i - WINDOW):i]
        return robust([v for v in prior if v is not None], metric)

    def baselines(self) -> dict[str, Baseline]:
        """The personal baseline now: the last WINDOW days."""
        out = {}
        for m in METRICS:
            b = robust([v for v in self.values(m)[-WINDOW:] if v is not None], m)
            if b:
                out[m] = b
        return out


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def _flags(tl: Timeline, metric: str, test: Callable[[float, Baseline], bool]) -> tuple[list[bool], list]:
    flags, bases = [], []
    for i, v in enumerate(tl.values(metric)):
        b = tl.baseline_before(metric, i)
        bases.append(b)
        flags.append(v is not None and b is not None and test(v, b))
    return flags, bases


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 1)


def heart_events(tl: Timeline) -> list[Event]:
    hr_up, hr_base = _flags(tl, "resting_hr", lambda v, b: v - b.median >= max(2.5 * b.scale(), 4.0))
    hrv_down, hrv_base = _flags(tl, "hrv_ms", lambda v, b: v <= b.median - max(2.0 * b.scale(), 0.15 * b.median))
    hrv = tl.values("hrv_ms")
    out = []
    for kind, flags in (("illness_onset", [a and b for a, b in zip(hr_up, hrv_down, strict=True)]),
                        ("elevated_resting_hr", [a and h is None for a, h in zip(hr_up, hrv, strict=True)])):
        for s, e in _runs(flags):
            rhr = [v for v in tl.values("resting_hr")[s:e + 1] if v is not None]
            ev = {"days": e - s + 1, "resting_hr_mean": _mean(rhr), "resting_hr_baseline": hr_base[s].median,
                  "resting_hr_delta": round(_mean(rhr) - hr_base[s].median, 1)}
            text = (f"resting heart rate averaged {ev['resting_hr_mean']} bpm, {ev['resting_hr_delta']} bpm above "
                    f"the personal baseline of {ev['resting_hr_baseline']} bpm")
            if kind == "illness_onset":
                vals = [v for v in hrv[s:e + 1] if v is not None]
                ev |= {"hrv_mean": _mean(vals), "hrv_baseline": hrv_base[s].median,
                       "hrv_change_pct": round(100 * (_mean(vals) - hrv_base[s].median) / hrv_base[s].median, 1)}
                text += (f", while HRV fell to {ev['hrv_mean']} ms against {ev['hrv_baseline']} ms "
                         f"({ev['hrv_change_pct']}%): a common sign of illness onset or strain")
            out.append(_event(tl, kind, s, e, text, ev))
    return out


def _event(tl: Timeline, kind: str, s: int, e: int, text: str, ev: dict) -> Event:
    return Event(kind, tl.dates[s].isoformat(), tl.dates[e].isoformat(), text[0].upper() + text[1:] + ".", ev)


def sleep_debt(tl: Timeline) -> list[Event]:
    short, bases = _flags(tl, "sleep_asleep_min", lambda v, b: v < b.median - max(45.0, 2 * b.scale()))
    sleep = tl.values("sleep_asleep_min")
    out = []
    for s, e in _runs(short):
        if e == s:
            continue
        need = bases[s].median
        nights = [v for v in sleep[s:e + 1] if v is not None]
        debt = round(sum(need - v for v in nights))
        if debt < 120:
            continue
        ev = {"nights": len(nights), "asleep_mean_min": _mean(nights), "asleep_baseline_min": need, "debt_min": debt}
        text = (f"{len(nights)} short nights averaging {ev['asleep_mean_min']} minutes asleep against a usual "
                f"{need} minutes: a sleep debt of {debt} minutes")
        out.append(_event(tl, "sleep_debt", s, e, text, ev))
    return out


def low_spo2(tl: Timeline) -> list[Event]:
    low, bases = _flags(tl, "spo2_pct", lambda v, b: v < SPO2_LOW or v <= b.median - max(3 * b.scale(), 2.5))
    vals = tl.values("spo2_pct")
    # an absolute threshold needs no baseline: flag low days even before one exists
    low = [f or (v is not None and v < SPO2_LOW) for f, v in zip(low, vals, strict=True)]
    out = []
    for s, e in _runs(low):
        xs = [v for v in vals[s:e + 1] if v is not None]
        base = next((b.median for b in bases[s:] if b), None)
        ev = {"days": e - s + 1, "spo2_min": min(xs), "spo2_mean": _mean(xs)}
        text = f"blood oxygen averaged {ev['spo2_mean']}% (lowest {ev['spo2_min']}%), under the {SPO2_LOW:g}% mark"
        if base is not None:
            ev["spo2_baseline"] = base
            text += f" and the usual {base}%"
        out.append(_event(tl, "low_spo2", s, e, text, ev))
    return out


def activity_drop(tl: Timeline) -> list[Event]:
    low, bases = _flags(tl, "steps", lambda v, b: v < 0.5 * b.median)
    steps = tl.values("steps")
    out = []
    for s, e in _runs(low):
        if e == s:
            continue
        xs = [v for v in steps[s:e + 1] if v is not None]
        base = bases[s].median
        ev = {"days": e - s + 1, "steps_mean": round(_mean(xs)), "steps_baseline": round(base),
              "drop_pct": round(100 * (1 - _mean(xs) / base), 1)}
        text = (f"steps averaged {ev['steps_mean']} a day, {ev['drop_pct']}% under the usual "
                f"{ev['steps_baseline']}")
        out.append(_event(tl, "activity_drop", s, e, text, ev))
    return out


def data_gaps(tl: Timeline) -> list[Event]:
    out = []
    for s, e in _runs([d is None for d in tl.days]):
        n = e - s + 1
        out.append(_event(tl, "data_gap", s, e, f"no data for {n} day{'s' * (n > 1)}: nothing was recorded, "
                          "which is not the same as no activity", {"days": n}))
    return out


DETECTORS = (heart_events, sleep_debt, low_spo2, activity_drop, data_gaps)


def detect_events(tl: Timeline) -> list[Event]:
    events = [ev for detector in DETECTORS for ev in detector(tl)]
    return sorted(events, key=lambda ev: (ev.start, ev.type))
