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
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ..errors import HealthImportError
from ..schema import RANGES, DayRecord, ImportResult, ImportWarning
from .accumulate import MinuteSeries, fill_sleep

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


def detect(probe: Probe) -> bool:
    names = [PurePosixPath(n).name for n in probe.names]
    if names:
        return any((m := JSON_FILE.match(n)) and m["kind"] in KINDS for n in names)
    return bool(probe.suffix == ".json" and (m := JSON_FILE.match(probe.path.name)) and m["kind"] in KINDS)


def _files(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                yield str(p.relative_to(path)), p.read_bytes()
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    yield name, zf.read(name)
        except zipfile.BadZipFile as exc:
            raise HealthImportError(f"{path.name} is not a readable zip file ({exc}); download it again") from None
    else:
        yield path.name, path.read_bytes()


def parse_stamp(text: str) -> datetime:
    """`01/31/20 23:59:00` (Fitbit's UTC stamp) -> aware UTC datetime."""
    return datetime.strptime(text, "%m/%d/%y %H:%M:%S").replace(tzinfo=ZoneInfo("UTC"))


class _Reader:
    def __init__(self, tz: str | None) -> None:
        self.result = ImportResult(FORMAT, [])
        self.tz_name = tz
        self.steps = MinuteSeries()
        self.rhr: dict[date, float] = {}
        self.hr: dict[date, dict[datetime, int]] = defaultdict(dict)
        self.sleep: dict[str, dict] = {}
        self.hrv: dict[date, float] = {}
        self.spo2: dict[date, float] = {}

    def warn(self, message: str, file: str, line: int | None = None) -> None:
        self.result.warnings.append(ImportWarning(message, file, line))

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz_name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise HealthImportError(f"unknown time zone {self.tz_name!r}: use an IANA name such as "
                                    "Europe/Berlin") from None

    def read_all(self, path: Path) -> None:
        files = list(_files(path))
        for name, data in files:  # the profile first: it carries the time zone
            if PurePosixPath(name).name == "Profile.csv":
                self.profile(name, data)
        if self.tz_name is None:
            self.warn("no time zone given and no Profile.csv: intraday stamps are taken as UTC "
                      "(pass --tz)", path.name)
        zone = self.zone()
        for name, data in files:
            self.one(PurePosixPath(name).name, data, zone)

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
        try:
            if m and m["kind"] in KINDS:
                entries = json.loads(data)
                self.result.records += len(entries)
                getattr(self, KINDS[m["kind"]])(entries, zone, name)
            elif HRV_FILE.match(name):
                self.daily_csv(name, data, "rmssd", self.hrv)
            elif SPO2_FILE.match(name):
                self.daily_csv(name, data, "average_value", self.spo2)
        except json.JSONDecodeError as exc:
            self.result.partial = True
            self.warn(f"not valid JSON ({exc.msg}); file skipped", name, exc.lineno)
        except (KeyError, TypeError, ValueError) as exc:
            self.result.partial = True
            self.warn(f"unexpected content ({exc!r}); rest of file skipped", name)

    def steps_(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            self.steps.set_minute(SRC, parse_stamp(e["dateTime"]).astimezone(zone), float(e["value"]))

    def resting_heart_rate(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            v = e["value"]
            if v.get("date") and float(v.get("value") or 0) > 0:  # 0.0 = not measured
                self.rhr[datetime.strptime(v["date"], "%m/%d/%y").date()] = float(v["value"])

    def heart_rate(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            v = e["value"]
            if int(v.get("confidence", 0)) >= 2 and int(v["bpm"]) > 0:
                when = parse_stamp(e["dateTime"]).astimezone(zone)
                self.hr[when.date()][when] = int(v["bpm"])

    def sleep_(self, entries: list, zone: ZoneInfo, name: str) -> None:
        for e in entries:
            self.sleep[str(e.get("logId", id(e)))] = e

    def daily_csv(self, name: str, data: bytes, column: str, into: dict[date, float]) -> None:
        rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
        if column not in (rows.fieldnames or []):
            raise ValueError(f"column {column!r} missing; header is {rows.fieldnames}")
        for i, row in enumerate(rows, start=2):
            try:
                into[datetime.fromisoformat(row["timestamp"]).date()] = float(row[column])
                self.result.records += 1
            except (TypeError, ValueError):
                self.result.skipped += 1
                self.warn(f"row skipped: {row!r:.80}", name, i)

    def finish(self) -> ImportResult:
        days: dict[date, DayRecord] = {}

        def day(d: date) -> DayRecord:
            return days.setdefault(d, DayRecord(d.isoformat()))

        for d, (total, _) in self.steps.totals().items():
            day(d).set("steps", round(total), SRC)
        for d, bpm in self.rhr.items():
            day(d).set("resting_hr", round(bpm, 1), SRC)
        for d, readings in self.hr.items():
            if d not in self.rhr and len(readings) >= 60:
                day(d).set("resting_hr", round(float(np.percentile(list(readings.values()), 5)), 1),
                           f"{SRC}/heart_rate (estimate)")
        self._sleep(day)
        for d, v in self.hrv.items():
            day(d).set("hrv_ms", round(v, 1), SRC)
            day(d).set("hrv_kind", "RMSSD", SRC)
        lo, hi = RANGES["spo2_pct"]
        for d, v in self.spo2.items():
            day(d).set("spo2_pct", round(v, 1) if lo <= v <= hi else None, SRC)
        self.result.days = [days[d] for d in sorted(days)]
        return self.result

    def _sleep(self, day: Callable[[date], DayRecord]) -> None:
        nights: dict[date, list[dict]] = defaultdict(list)
        for log in self.sleep.values():
            nights[date.fromisoformat(log["dateOfSleep"])].append(log)
        for d, logs in nights.items():
            main = [g for g in logs if g.get("mainSleep", True)] or logs
            stages: dict[str, float] = defaultdict(float)
            for log in main:
                summary = (log.get("levels") or {}).get("summary") or {}
                if "deep" in summary:
                    for stage, key in (("deep", "deep"), ("light", "light"), ("rem", "rem")):
                        stages[stage] += float(summary.get(key, {}).get("minutes", 0))
                else:
                    stages["unspecified"] += float(log["minutesAsleep"])
                stages["awake"] += float(log.get("minutesAwake", 0))
            if len(main) == 1 and main[0].get("efficiency") is not None:
                stages["efficiency"] = float(main[0]["efficiency"])
            fill_sleep(day(d), stages, SRC)


def read(path: Path, tz: str | None = None) -> ImportResult:
    reader = _Reader(tz)
    reader.read_all(path)
    return reader.finish()
