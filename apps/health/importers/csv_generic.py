"""The generic CSV: one row per day, for any tracker whose app exports a table.

Columns (all but `date` optional, any order; empty or `NA` = missing):

    date                 YYYY-MM-DD, the local day
    steps                count
    active_kcal          kcal (or `active_kcal [kJ]`)
    resting_hr           beats per minute; 0 means not measured
    hrv_ms, hrv_kind     milliseconds; SDNN or RMSSD
    spo2_pct             percent (or `spo2_pct [fraction]` for 0-1 values)
    sleep_deep_min, sleep_light_min, sleep_rem_min, sleep_asleep_min, sleep_awake_min
                         minutes (or `[h]` for hours); asleep is the total if stages are absent
    sleep_efficiency     percent of time in bed asleep
    mood, fatigue        self-reported, 1-5

A unit goes in brackets after the name: `sleep_asleep_min [h]`. An unknown unit is an error; an
unknown column or a value outside the plausible range (usually a wrong unit) is a warning that
names the line, and the value is left missing: the import is then marked partial. The file must
be UTF-8 (a BOM is fine); a field over `MAX_FIELD` characters or a date outside the plausible
window (`limits`) is a clear error or a counted skip, never a traceback.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HealthImportError
from ..schema import METRICS, RANGES, DayRecord, ImportResult
from .accumulate import fill_sleep
from .limits import Budget, check_day, check_output

if TYPE_CHECKING:
    from . import Probe

FORMAT = "csv"
SRC = "csv"
# field -> {unit: factor}; the first unit is the default
UNITS: dict[str, dict[str, float]] = {
    "steps": {"count": 1.0}, "active_kcal": {"kcal": 1.0, "kJ": 1 / 4.184}, "resting_hr": {"bpm": 1.0},
    "hrv_ms": {"ms": 1.0}, "spo2_pct": {"%": 1.0, "fraction": 100.0}, "sleep_efficiency": {"%": 1.0},
    "mood": {"score": 1.0}, "fatigue": {"score": 1.0},
    **{f"sleep_{s}_min": {"min": 1.0, "h": 60.0} for s in ("deep", "light", "rem", "asleep", "awake")},
}
HEADER = re.compile(r"^\s*(?P<name>[A-Za-z_0-9]+)\s*(?:\[(?P<unit>[^\]]*)\])?\s*$")
INTS = ("steps", "mood", "fatigue")
MAX_FIELD = 128 << 10  # csv's own field limit: nothing in a daily table comes near it
DAY_BYTES = 1200  # one DayRecord with its source map


def detect(probe: Probe) -> bool:
    return not probe.names and probe.suffix in (".csv", ".tsv") and b"date" in probe.head.split(b"\n", 1)[0].lower()


def _columns(header: list[str], result: ImportResult, file: str) -> dict[int, tuple[str, float]]:
    cols: dict[int, tuple[str, float]] = {}
    for i, raw in enumerate(header):
        m = HEADER.match(raw)
        name = m["name"].lower() if m else raw
        if name == "date" or name == "hrv_kind":
            cols[i] = (name, 1.0)
            continue
        if not m or name not in UNITS:
            result.warn(f"unknown column {raw!r} ignored (known: date, "
                                                 f"{', '.join(m for m in METRICS)})", file, 1)
            result.partial = True
            continue
        unit = (m["unit"] or next(iter(UNITS[name]))).strip()
        if unit not in UNITS[name]:
            raise HealthImportError(f"{file}:1: column {raw!r} has unit {unit!r}; {name} takes "
                                    f"{' or '.join(UNITS[name])}")
        cols[i] = (name, UNITS[name][unit])
    if "date" not in {n for n, _ in cols.values()}:
        raise HealthImportError(f"{file}:1: no 'date' column; the header is {','.join(header)!r} "
                                "(see `edgesplit health import --help` for the CSV columns)")
    return cols


def _row(line: int, row: list[str], cols: dict[int, tuple[str, float]], result: ImportResult, file: str
         ) -> DayRecord | None:
    values = {name: (row[i].strip() if i < len(row) else "", f) for i, (name, f) in cols.items()}
    text = values.pop("date")[0]
    try:
        day = date.fromisoformat(text)
        check_day(day)
    except ValueError as exc:
        reason = exc if "outside" in str(exc) else "it is not YYYY-MM-DD"
        result.warn(f"row skipped: date {text[:40]!r}: {reason}", file, line)
        return None
    rec = DayRecord(day.isoformat())
    kind = values.pop("hrv_kind", ("", 1.0))[0].upper()
    sleep: dict[str, float] = {}
    for name, (text, factor) in values.items():
        if text in ("", "NA", "NaN", "null"):
            continue
        try:
            value = float(text) * factor
        except ValueError:
            result.warn(f"{name}={text[:40]!r} is not a number; left missing", file, line)
            result.partial = True
            continue
        lo, hi = RANGES[name]
        if name == "resting_hr" and value == 0:
            continue  # 0 = not measured
        if name == "sleep_asleep_min" and factor == 1.0 and 0 < value < 24:
            lo, hi = 24, RANGES[name][1]  # a whole night under 24 minutes is almost surely hours
        if not lo <= value <= hi:
            result.warn(
                f"{name}={text[:40]} is outside {lo:g}-{hi:g} {next(iter(UNITS[name]))} (wrong unit? declare it as "
                f"'{name} [{'|'.join(UNITS[name])}]'); left missing", file, line)
            result.partial = True
            continue
        if name.startswith("sleep_"):
            sleep[name.removeprefix("sleep_").removesuffix("_min")] = value
        else:
            rec.set(name, round(value) if name in INTS else round(value, 1), SRC)
    if rec.hrv_ms is not None:
        rec.set("hrv_kind", kind if kind in ("SDNN", "RMSSD") else "SDNN", SRC)
    _sleep(rec, sleep)
    return rec


def _sleep(rec: DayRecord, sleep: dict[str, float]) -> None:
    stages = {k: sleep[k] for k in ("deep", "light", "rem", "awake", "efficiency") if k in sleep}
    if "asleep" in sleep and not any(k in sleep for k in ("deep", "light", "rem")):
        stages["unspecified"] = sleep["asleep"]
    fill_sleep(rec, stages, SRC)


def read(path: Path, tz: str | None = None) -> ImportResult:
    result = ImportResult(FORMAT, [])
    line = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            days = _rows(reader, result, path.name)
            line = reader.line_num
    except UnicodeDecodeError as exc:
        raise HealthImportError(f"{path.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                                f"{exc.start} of a block): save the CSV as UTF-8 and import it again") from None
    except csv.Error as exc:
        raise HealthImportError(f"{path.name}:{line + 1}: not a readable CSV ({exc}); a daily table has short "
                                f"fields (at most {MAX_FIELD >> 10} KiB)") from None
    result.days = [days[d] for d in sorted(days)]
    check_output(result.days, path.name)
    return result


def _rows(reader, result: ImportResult, file: str) -> dict[str, DayRecord]:
    header = next(reader, None)
    if not header:
        raise HealthImportError(f"{file} is empty: expected a header row starting with 'date'")
    cols, days, budget = _columns(header, result, file), {}, Budget()
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        result.records += 1
        rec = _row(reader.line_num, row, cols, result, file)
        if rec is None:
            result.skipped += 1
            result.partial = True
        elif rec.date in days:
            result.warn(f"second row for {rec.date}; the first is kept", file,
                                                 reader.line_num)
        else:
            budget.take(DAY_BYTES, "days")
            days[rec.date] = rec
    return days
