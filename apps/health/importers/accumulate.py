"""Per-day accumulators shared by the importers.

`MinuteSeries` spreads interval totals (steps, energy) over the minutes of each local day, one
array per source. The daily total is the sum over minutes of the *largest* source in each minute:
an iPhone and a Watch that count the same walk overlap in time and are never added together,
while minutes only one device saw still count. Memory grows with days x sources, not records,
and every day array is charged to the import's `limits.Budget`; a record longer than its kind can
be (`limits.MAX_SPAN`) is refused with a ValueError before any work, so the caller can skip it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import numpy as np

from ..schema import DayRecord
from .limits import Budget, check_day, check_span

MINUTES = 1440
ARRAY_BYTES = MINUTES * 4 + 200  # one float32 day array and its dict slots
DAY_BYTES = 400  # a point-reading or sleep accumulator for one day and source


class MinuteSeries:
    def __init__(self, kind: str = "steps", budget: Budget | None = None) -> None:
        self.kind, self.budget = kind, budget or Budget()
        self._days: dict[date, dict[str, np.ndarray]] = defaultdict(dict)

    def add(self, source: str, start: datetime, end: datetime, value: float) -> None:
        """Spread `value` evenly over [start, end) in local time (the datetimes' own offsets).

        ValueError (before any work) for a span longer than `MAX_SPAN[kind]` or outside the date window.
        """
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
        check_span(self.kind, start, end)
        if end <= start:  # an instant: all in its minute
            end = start + timedelta(seconds=1)
        rate = value / (end - start).total_seconds()
        cur = start
        while cur < end:
            day_end = datetime.combine(cur.date() + timedelta(days=1), datetime.min.time())
            stop = min(end, day_end)
            self._spread(source, cur, stop, rate)
            cur = stop

    def _array(self, day: date, source: str) -> np.ndarray:
        arr = self._days[day].get(source)
        if arr is None:
            self.budget.take(ARRAY_BYTES, f"{self.kind} per minute")
            arr = self._days[day][source] = np.zeros(MINUTES, dtype=np.float32)
        return arr

    def _spread(self, source: str, start: datetime, stop: datetime, rate: float) -> None:
        arr = self._array(start.date(), source)
        midnight = datetime.combine(start.date(), datetime.min.time())
        s = (start - midnight).total_seconds()
        e = (stop - midnight).total_seconds()
        first, last = int(s // 60), min(int((e - 1e-9) // 60), MINUTES - 1)
        if first == last:
            arr[first] += rate * (e - s)
            return
        arr[first] += rate * ((first + 1) * 60 - s)
        arr[first + 1:last] += rate * 60
        arr[last] += rate * (e - last * 60)

    def set_minute(self, source: str, when: datetime, value: float) -> None:
        """A per-minute reading (Fitbit intraday): set, so a repeated timestamp is not added twice."""
        when = when.replace(tzinfo=None)
        check_day(when)
        arr = self._array(when.date(), source)
        arr[when.hour * 60 + when.minute] = value

    def totals(self) -> dict[date, tuple[float, str]]:
        """Per day: the deduplicated total and the source that supplied most of it."""
        out = {}
        for day, by_source in self._days.items():
            names = sorted(by_source)
            stack = np.stack([by_source[n] for n in names])
            best = stack.max(axis=0)
            winner = names[int(np.bincount(stack.argmax(axis=0), minlength=len(names)).argmax())]
            out[day] = (float(best.sum(dtype=np.float64)), winner if len(names) == 1 else _merged(names, winner))
        return out


def _merged(names: list[str], winner: str) -> str:
    return f"{winner} (deduplicated across {len(names)} sources)"


class Readings:
    """Point readings per day (resting HR, HRV, SpO2): the daily value is the mean.

    Kept as running sums, so memory grows with days and sources, not with readings.
    """

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._days: dict[date, tuple[float, int, set[str]]] = {}

    def add(self, day: date, value: float, source: str) -> None:
        check_day(day)
        total, n, sources = self._days.get(day) or (0.0, 0, set())
        if not n:
            self.budget.take(DAY_BYTES, "daily readings")
        if source not in sources:
            self.budget.take(DAY_BYTES, "daily readings")
            sources.add(source)
        self._days[day] = (total + value, n + 1, sources)

    def means(self) -> dict[date, tuple[float, str]]:
        return {day: (total / n, ", ".join(sorted(sources))) for day, (total, n, sources) in self._days.items()}


class SleepNights:
    """Sleep stage minutes per night (dated by the wake-up day) and source; one source per night.

    Two devices logging the same night are not summed: the night keeps the source with the
    most staged sleep (a Watch over an iPhone's in-bed estimate).
    """

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._nights: dict[date, dict[str, dict[str, float]]] = defaultdict(dict)

    def _night(self, day: date, source: str) -> dict[str, float]:
        check_day(day)
        night = self._nights[day].get(source)
        if night is None:
            self.budget.take(DAY_BYTES, "sleep nights")
            night = self._nights[day][source] = defaultdict(float)
        return night

    def add(self, day: date, source: str, stage: str, minutes: float) -> None:
        self._night(day, source)[stage] += minutes

    def set_summary(self, day: date, source: str, stages: dict[str, float]) -> None:
        night = self._night(day, source)
        night.clear()
        night.update(stages)

    def best(self) -> dict[date, tuple[dict[str, float], str]]:
        out = {}
        for day, by_source in self._nights.items():
            def asleep(src: str, _b=by_source) -> float:
                return sum(_b[src].get(s, 0.0) for s in ("deep", "light", "rem", "unspecified"))
            src = max(sorted(by_source), key=asleep)
            out[day] = (dict(by_source[src]), src)
        return out


def fill_sleep(rec: DayRecord, stages: dict[str, float], source: str) -> None:
    """Set a day's sleep fields from stage minutes (keys: deep light rem unspecified awake in_bed
    efficiency)."""
    asleep = sum(stages.get(s, 0.0) for s in ("deep", "light", "rem", "unspecified"))
    if asleep <= 0:
        return
    staged = any(stages.get(s, 0.0) > 0 for s in ("deep", "light", "rem"))
    for stage in ("deep", "light", "rem"):
        rec.set(f"sleep_{stage}_min", stages.get(stage, 0.0) if staged else None, source)
    rec.set("sleep_asleep_min", asleep, source)
    awake = stages.get("awake")
    in_bed = stages.get("in_bed", 0.0)
    if awake is None and in_bed > asleep:
        awake = in_bed - asleep  # in bed but not asleep
    rec.set("sleep_awake_min", awake, source)
    eff = stages.get("efficiency")
    if eff is None and awake is not None:
        eff = 100.0 * asleep / (asleep + awake)
    rec.set("sleep_efficiency", eff, source)


def build_days(records: dict[date, DayRecord]) -> list[DayRecord]:
    return [records[d] for d in sorted(records)]
