"""SYNTHETIC wearable data for tests and demos: not measurements of any person.

`generate()` draws a plausible daily history from fixed personal baselines with seeded noise and
plants known events on known dates, so tests can check that analysis finds them:

    illness        resting HR +9 bpm and HRV -40% for 3 days
    sleep_debt     about 5 h 20 min asleep for 4 nights
    low_spo2       SpO2 around 89.5% for 2 days
    activity_drop  steps at a quarter of normal for 4 days
    gap            no data at all for 2 days

`apps.health.synth_formats` writes the history as an Apple Health export, a Fitbit export, a
Health Connect database or the generic CSV.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from .errors import HealthDataError

EVENT_DAYS = {"illness": 3, "sleep_debt": 4, "low_spo2": 2, "activity_drop": 4, "gap": 2}
EVENTS = tuple(EVENT_DAYS)
WARMUP = 7  # clean days before the first event, so a baseline exists
SPACING = 2  # clean days between events


@dataclass
class SynthDay:
    date: date
    present: bool = True
    steps: int = 0
    active_kcal: float = 0.0
    resting_hr: float = 0.0
    hrv_ms: float = 0.0
    spo2_pct: float = 0.0
    sleep: dict[str, float] = field(default_factory=dict)  # deep light rem awake (minutes)

    @property
    def asleep(self) -> float:
        return self.sleep["deep"] + self.sleep["light"] + self.sleep["rem"]


@dataclass(frozen=True)
class PlantedEvent:
    type: str
    start: date
    end: date


def min_days(events: tuple[str, ...]) -> int:
    return WARMUP + sum(EVENT_DAYS[e] + SPACING for e in events)


def plan(days: int, events: tuple[str, ...], end: date) -> list[PlantedEvent]:
    """Place events one after another after the warm-up, the last ending SPACING days before `end`."""
    unknown = [e for e in events if e not in EVENT_DAYS]
    if unknown:
        raise HealthDataError(f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(EVENTS)}")
    if days < min_days(events):
        raise HealthDataError(f"{days} days cannot hold the events {', '.join(events)}: use --days "
                              f"{min_days(events)} or more, or fewer --events")
    first = end - timedelta(days=days - 1)
    slack = days - min_days(events)
    cur = first + timedelta(days=WARMUP + slack)
    out = []
    for e in events:
        stop = cur + timedelta(days=EVENT_DAYS[e] - 1)
        out.append(PlantedEvent(e, cur, stop))
        cur = stop + timedelta(days=SPACING + 1)
    return out


def _normal_day(d: date, rng: random.Random) -> SynthDay:
    steps = max(500, int(rng.gauss(8500, 900)))
    asleep = rng.gauss(450, 15)
    return SynthDay(
        d, steps=steps, active_kcal=round(steps * 0.045 + rng.gauss(120, 15), 1),
        resting_hr=round(rng.gauss(58, 0.8), 1), hrv_ms=round(rng.gauss(55, 2.5), 1),
        spo2_pct=round(rng.gauss(97, 0.4), 1),
        sleep={"deep": round(asleep * 0.18), "rem": round(asleep * 0.22), "light": round(asleep * 0.60),
               "awake": round(max(5.0, rng.gauss(30, 6)))})


def _apply(day: SynthDay, event: str, rng: random.Random) -> None:
    if event == "illness":
        day.resting_hr = round(day.resting_hr + 9, 1)
        day.hrv_ms = round(day.hrv_ms * 0.6, 1)
    elif event == "sleep_debt":
        asleep = rng.gauss(320, 8)
        day.sleep.update(deep=round(asleep * 0.18), rem=round(asleep * 0.22), light=round(asleep * 0.60))
    elif event == "low_spo2":
        day.spo2_pct = round(rng.gauss(89.5, 0.3), 1)
    elif event == "activity_drop":
        day.steps = int(day.steps * 0.25)
        day.active_kcal = round(day.steps * 0.045 + 60, 1)
    elif event == "gap":
        day.present = False


def generate(days: int = 42, events: tuple[str, ...] = EVENTS, seed: int = 0, end: date | None = None
             ) -> tuple[list[SynthDay], list[PlantedEvent]]:
    """`days` synthetic days ending at `end` (default: yesterday) with `events` planted."""
    end = end or date.today() - timedelta(days=1)
    planted = plan(days, tuple(events), end)
    rng = random.Random(seed)
    out = []
    for i in range(days):
        d = end - timedelta(days=days - 1 - i)
        day = _normal_day(d, rng)
        for ev in planted:
            if ev.start <= d <= ev.end:
                _apply(day, ev.type, rng)
        out.append(day)
    return out, planted
