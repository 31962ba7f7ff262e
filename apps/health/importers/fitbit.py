"""Fitbit data export / Google Takeout: a folder or zip of per-period JSON and CSV files.

    steps-2020-01-01.json               [{"dateTime": "01/01/20 00:01:00", "value": "12"}, ...]
    resting_heart_rate-2020-01-01.json  [{"dateTime": ..., "value": {"date": "01/01/20", "value": 58.3, "error": 6.8}}]
    heart_rate-2020-01-01.json          [{"dateTime": ..., "value": {"bpm": 71, "confidence": 2}}]
    sleep-2020-01-01.json               [{"logId", "dateOfSleep": "2020-01-01", "minutesAsleep", "minutesAwake",
                                          "efficiency", "mainSleep", "levels": {"summary": {"deep": {"minutes"}...}}}]
    Heart Rate Variability Summary - 2020-01-01.csv   timestamp,rmssd,nremhr,entropy
    Daily SpO2 - 2020-01-01.csv                        timestamp,average_value,lower_bound,upper_bound
    Profile.csv                                        ...,first_name,last_name,date_of_birth,timezone,...

Intraday `dateTime` stamps (`MM/DD/YY HH:MM:SS`, values as strings) are UTC in these exports and
are moved to the wearer's zone: `tz`, else Profile.csv's `timezone`, else UTC with a warning.
Files overlap (a reading can appear twice): per-minute readings are set, not added; sleep logs
are keyed by logId. A resting HR of 0 is "not measured". Without a resting-HR file for a day, it
is estimated as the 5th percentile of that day's confident (confidence >= 2) heart-rate readings.
Only the files named above are read, one at a time, each bounded in size (`limits`); a bad
entry or file is skipped with a counted warning, a date outside the plausible window too.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ..errors import HealthImportError
from ..schema import RANGES, DayRecord, ImportResult
from .accumulate import MinuteSeries, fill_sleep
from .limits import MAX_JSON_BYTES, Budget, check_day, check_member, check_output

if TYPE_CHECKING:
    from . import Probe

FORMAT = "fitbit"
SRC = "fitbit"
# file kind -> reader method
KINDS = {"steps": "steps_", "resting_heart_rate": "resting_heart_rate", "heart_rate": "heart_rate",
         "sleep": "sleep_"}
JSON_FILE = re.compile(r"^(?P<kind>[a-z_]+)-\d{4}-\d{2}-\d{2}\.json$")
HRV_FILE = re.compile(r"^Heart Rate Variability Summary - .*\.csv$")
SPO2_FILE = re.compile(r"^Daily SpO2 - .*\.csv$")
PROFILE = "Profile.csv"
MAX_STEPS_PER_MIN = 400.0  # sprinting cadence is ~200
ENTRY_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, csv.Error)
SECONDS = 86_400


def wanted(name: str) -> bool:
    """Whether a file (by its base name) is one this importer reads."""
    m = JSON_FILE.match(name)
    return bool((m and m["kind"] in KINDS) or HRV_FILE.match(name) or SPO2_FILE.match(name) or name == PROFILE)


def detect(probe: Probe) -> bool:
    names = [PurePosixPath(n).name for n in probe.names]
    if names:
        return any((m := JSON_FILE.match(n)) and m["kind"] in KINDS for n in names)
    return bool(probe.suffix == ".json" and (m := JSON_FILE.match(probe.path.name)) and m["kind"] in KINDS)


def _files(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each file this importer reads; `read` refuses one over MAX_JSON_BYTES."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and wanted(p.name):
                yield str(p.relative_to(path)), lambda p=p: _read_file(p)
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and wanted(PurePosixPath(info.filename).name):
                        yield info.filename, lambda i=info, z=zf: _read_member(z, i, path.name)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise HealthImportError(f"{path.name} is not a readable zip file ({exc}); download it again") from None
    else:
        yield path.name, lambda: _read_file(path)


def _read_file(p: Path) -> bytes:
    if p.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{p.stat().st_size >> 20} MiB is over the {MAX_JSON_BYTES >> 20} MiB a Fitbit file can be")
    return p.read_bytes()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: str) -> bytes:
    check_member(info, archive, MAX_JSON_BYTES)
    return zf.read(info)


def parse_stamp(text: str) -> datetime:
    """`01/31/20 23:59:00` (Fitbit's UTC stamp) -> aware UTC datetime."""
    return datetime.strptime(text, "%m/%d/%y %H:%M:%S").replace(tzinfo=ZoneInfo("UTC"))


class _Reader:
    def __init__(self, tz: str | None) -> None:
        self.result = ImportResult(FORMAT, [])
        self.tz_name = tz
        self.budget = Budget()
        self.steps = MinuteSeries("steps", self.budget)
        self.rhr: dict[date, float] = {}
        self.hr: dict[date, np.ndarray] = {}  # bpm per second of the local day (0 = none): set, not added
        self.sleep: dict[str, dict] = {}
        self.hrv: dict[date, float] = {}
        self.spo2: dict[date, float] = {}

    def warn(self, message: str, file: str, line: int | None = None) -> None:
        self.result.warn(message, file, line)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz_name or "UTC")
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise HealthImportError(f"unknown time zone {self.tz_name!r}: use an IANA name such as "
                                    "Europe/Berlin") from None

    def read_all(self, path: Path) -> None:
        for name, read in _files(path):  # the profile first: it carries the time zone
            if PurePosixPath(name).name == PROFILE:
                self.guard(name, lambda read=read, name=name: self.profile(name, read()))
        if self.tz_name is None:
            self.warn("no time zone given and no Profile.csv: intraday stamps are taken as UTC "
                      "(pass --tz)", path.name)
        zone = self.zone()
        for name, read in _files(path):
            base = PurePosixPath(name).name
            if base != PROFILE:
                self.guard(base, lambda read=read, base=base: self.one(base, read(), zone))

    def guard(self, name: str, fn: Callable[[], None]) -> None:
        """Run one file's reader; a bad file is skipped with a warning, the import goes on."""
        try:
            fn()
        except json.JSONDecodeError as exc:
            self.result.partial = True
            self.warn(f"not valid JSON ({exc.msg}); file skipped", name, exc.lineno)
        except ENTRY_ERRORS as exc:
            self.result.partial = True
            self.warn(f"unexpected content ({exc!r:.200}); rest of file skipped", name)

    def profile(self, name: str, data: bytes) -> None:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))))
        for row in rows[:1]:
            for key in ("full_name", "first_name", "last_name", "display_name", "username", "email_address"):
                if row.get(key):
                    self.result.private.names.add(row[key].strip())
            if row.get("date_of_birth"):
                self.result.private.dates_of_birth.add(row["date_of_birth"].strip())
            self.tz_name = self.tz_name or row.get("timezone") or None

    def one(self, name: str, data: bytes, zone: ZoneInfo) -> None:
        m = JSON_FILE.match(name)
        if m and m["kind"] in KINDS:
            entries = json.loads(data)
            if not isinstance(entries, list):
                raise TypeError(f"a list of entries was expected, not {type(entries).__name__}")
            self.result.records += len(entries)
            getattr(self, KINDS[m["kind"]])(entries, zone, name)
        elif HRV_FILE.match(name):
            self.daily_csv(name, data, "rmssd", self.hrv, "hrv_ms")
        elif SPO2_FILE.match(name):
            self.daily_csv(name, data, "average_value", self.spo2, "spo2_pct")

    def steps_(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            value = float(e["value"])
            if not 0 <= value <= MAX_STEPS_PER_MIN:
                raise ValueError(f"{value:g} steps in one minute")
            self.steps.set_minute(SRC, parse_stamp(e["dateTime"]).astimezone(zone), value)

    def resting_heart_rate(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            v = e["value"]
            if v.get("date") and float(v.get("value") or 0) > 0:  # 0.0 = not measured
                lo, hi = RANGES["resting_hr"]
                if not lo <= float(v["value"]) <= hi:
                    raise ValueError(f"resting heart rate {v['value']!r} is outside {lo:g}-{hi:g}")
                self.rhr[datetime.strptime(v["date"], "%m/%d/%y").date()] = float(v["value"])

    def heart_rate(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            v = e["value"]
            if int(v.get("confidence", 0)) >= 2 and 0 < int(v["bpm"]) < 256:
                when = parse_stamp(e["dateTime"]).astimezone(zone)
                self._hr_day(when.date())[when.hour * 3600 + when.minute * 60 + when.second] = int(v["bpm"])

    def _hr_day(self, day: date) -> np.ndarray:
        arr = self.hr.get(day)
        if arr is None:
            self.budget.take(SECONDS, "heart rate per second")
            arr = self.hr[day] = np.zeros(SECONDS, dtype=np.uint8)
        return arr

    def sleep_(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            if not isinstance(e, dict):
                raise TypeError(f"a sleep log is an object, not {type(e).__name__}")
            self.budget.take(len(e) * 100 + 200, "sleep logs")
            self.sleep[str(e.get("logId", id(e)))] = e

    def daily_csv(self, name: str, data: bytes, column: str, into: dict[date, float], metric: str) -> None:
        rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
        if column not in (rows.fieldnames or []):
            raise ValueError(f"column {column!r} missing; header is {rows.fieldnames!r:.200}")
        lo, hi = RANGES[metric]
        for i, row in enumerate(rows, start=2):
            try:
                day, value = datetime.fromisoformat(row["timestamp"]).date(), float(row[column])
                check_day(day)
                if not lo <= value <= hi:
                    raise ValueError(f"{metric} {value:g} is outside {lo:g}-{hi:g}")
                into[day] = value
                self.result.records += 1
            except (TypeError, ValueError) as exc:
                self.result.skipped += 1
                self.warn(f"row skipped ({exc}): {row!r:.80}", name, i)

    def finish(self) -> ImportResult:
        days: dict[date, DayRecord] = {}

        def day(d: date) -> DayRecord:
            return days.setdefault(d, DayRecord(d.isoformat()))

        for d, (total, _) in self.steps.totals().items():
            day(d).set("steps", round(total), SRC)
        for d, bpm in self.rhr.items():
            day(d).set("resting_hr", round(bpm, 1), SRC)
        for d, per_second in self.hr.items():
            readings = per_second[per_second > 0]
            if d not in self.rhr and len(readings) >= 60:
                day(d).set("resting_hr", round(float(np.percentile(readings, 5)), 1), f"{SRC}/heart_rate (estimate)")
        self._sleep(day)
        for d, v in self.hrv.items():
            day(d).set("hrv_ms", round(v, 1), SRC)
            day(d).set("hrv_kind", "RMSSD", SRC)
        lo, hi = RANGES["spo2_pct"]
        for d, v in self.spo2.items():
            day(d).set("spo2_pct", round(v, 1) if lo <= v <= hi else None, SRC)
        self.result.days = [days[d] for d in sorted(days)]
        check_output(self.result.days, "the Fitbit export")
        return self.result

    def _sleep(self, day: Callable[[date], DayRecord]) -> None:
        nights: dict[date, list[tuple[dict, dict[str, float]]]] = defaultdict(list)
        for log in self.sleep.values():
            try:
                night = date.fromisoformat(log["dateOfSleep"])
                check_day(night)
                nights[night].append((log, _log_stages(log)))
            except ENTRY_ERRORS as exc:
                self.result.skipped += 1
                self.result.partial = True
                self.warn(f"sleep log {str(log.get('logId'))[:40]} skipped ({exc!r:.120})", "sleep")
        for d, logs in nights.items():
            main = [(g, st) for g, st in logs if g.get("mainSleep", True)] or logs
            stages: dict[str, float] = defaultdict(float)
            for _, st in main:
                for k, v in st.items():
                    if k != "efficiency":  # a percentage: taken from a lone log below, never summed
                        stages[k] += v
            if len(main) == 1 and "efficiency" in main[0][1]:
                stages["efficiency"] = main[0][1]["efficiency"]
            fill_sleep(day(d), stages, SRC)


def _log_stages(log: dict) -> dict[str, float]:
    """A sleep log's stage minutes (and efficiency); ValueError for an impossible one."""
    out: dict[str, float] = defaultdict(float)
    summary = (log.get("levels") or {}).get("summary") or {}
    if "deep" in summary:
        for stage in ("deep", "light", "rem"):
            out[stage] += float((summary.get(stage) or {}).get("minutes", 0))
    else:
        out["unspecified"] += float(log["minutesAsleep"])
    out["awake"] += float(log.get("minutesAwake", 0))
    if log.get("efficiency") is not None:
        out["efficiency"] = float(log["efficiency"])
    for k, v in out.items():
        if not 0 <= v <= (100 if k == "efficiency" else 1440):
            raise ValueError(f"{k} {v:g} is impossible for one night")
    return out


def read(path: Path, tz: str | None = None) -> ImportResult:
    reader = _Reader(tz)
    reader.read_all(path)
    return reader.finish()
