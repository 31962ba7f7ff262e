"""Android Health Connect export: a SQLite database (`health_connect_export.db`, or a zip of it).

Tables read (missing ones are simply absent data): `steps_record_table` (start_time, end_time in
epoch ms, start_zone_offset in seconds, count), `active_calories_burned_record_table` (energy in
calories, Health Connect's stored unit), `resting_heart_rate_record_table` (time, zone_offset,
beats_per_minute), `heart_rate_variability_rmssd_record_table` (heart_rate_variability_millis),
`oxygen_saturation_record_table` (percentage), `sleep_session_record_table` with
`sleep_stages_table` (stage_type: 1 awake, 2 sleeping, 4 light, 5 deep, 6 REM, 7 awake in bed), and
`application_info_table` (app names). Apps mirror each other's data into Health Connect, so a
day's steps and energy are the *maximum* over apps, never the sum. Times are local by each
record's own zone offset. A database with none of these tables is not a Health Connect export;
a row with an impossible time, span or value is skipped and counted (`limits`).
"""

from __future__ import annotations

import sqlite3
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HealthImportError
from ..schema import RANGES, DayRecord, ImportResult
from .accumulate import MinuteSeries, Readings, SleepNights, fill_sleep
from .limits import MAX_MEMBER_BYTES, Budget, check_member, check_output, check_span

if TYPE_CHECKING:
    from . import Probe

FORMAT = "healthconnect"
STAGES = {1: "awake", 2: "unspecified", 3: "awake", 4: "light", 5: "deep", 6: "rem", 7: "awake"}
# table -> (metric, value column, scale)
CUMULATIVE = {"steps_record_table": ("steps", "count", 1.0),
              "active_calories_burned_record_table": ("active_kcal", "energy", 0.001)}
READINGS = {"resting_heart_rate_record_table": ("resting_hr", "beats_per_minute"),
            "heart_rate_variability_rmssd_record_table": ("hrv_ms", "heart_rate_variability_millis"),
            "oxygen_saturation_record_table": ("spo2_pct", "percentage")}


def detect(probe: Probe) -> bool:
    if probe.names:
        return any(n.endswith(".db") for n in probe.names)
    return probe.head.startswith(b"SQLite format 3")


TABLES = (*CUMULATIVE, *READINGS, "sleep_session_record_table")
ROW_ERRORS = (TypeError, ValueError, OverflowError, OSError)  # what a bad cell raises in local()/float()
MAX_OFFSET_S = 18 * 3600  # the widest zone offset there is


def local(ms: int, offset_s: int | None) -> datetime:
    """Epoch milliseconds + zone offset -> the wall-clock time there (naive); ValueError if impossible."""
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not isinstance(offset_s, int | None):
        raise ValueError(f"time {ms!r} / offset {offset_s!r} is not a number")
    if abs(offset_s or 0) > MAX_OFFSET_S:
        raise ValueError(f"zone offset {offset_s} s is beyond +-18 h")
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None) + timedelta(seconds=offset_s or 0)


class _Reader:
    def __init__(self, db: sqlite3.Connection, file: str) -> None:
        self.db, self.file = db, file
        self.result = ImportResult(FORMAT, [])
        self.budget = Budget()
        self._require_tables()
        self.apps = self._apps()

    def _require_tables(self) -> None:
        try:
            names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise HealthImportError(f"{self.file} is not a readable Health Connect database ({exc})") from None
        if not names & set(TABLES):
            raise HealthImportError(f"{self.file} is an SQLite database but not a Health Connect export: it has "
                                    f"none of the tables {', '.join(TABLES)}")

    def skip(self, table: str, exc: Exception) -> None:
        self.result.skipped += 1
        self.result.partial = True
        self.result.warn(f"a row of {table} skipped: {exc}", self.file)

    def _apps(self) -> dict[int, str]:
        try:
            return {r[0]: r[1] or f"app{r[0]}" for r in self.db.execute(
                "SELECT row_id, package_name FROM application_info_table")}
        except sqlite3.Error:
            return {}

    def rows(self, sql: str, table: str) -> Iterator[tuple]:
        try:
            yield from self.db.execute(sql)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                self.result.partial = True
                self.result.warn(f"table {table} unreadable ({exc}); skipped", self.file)
        except sqlite3.DatabaseError as exc:
            raise HealthImportError(f"{self.file} is not a readable Health Connect database ({exc})") from None

    def app(self, app_id: int | None) -> str:
        return f"health_connect/{self.apps.get(app_id, 'unknown app')}"

    def cumulative(self, days: dict[date, DayRecord]) -> None:
        for table, (metric, column, scale) in CUMULATIVE.items():
            per_app: dict[str, MinuteSeries] = defaultdict(lambda m=metric: MinuteSeries(m, self.budget))
            sql = f"SELECT start_time, start_zone_offset, end_time, end_zone_offset, {column}, app_info_id FROM {table}"
            lo, hi = RANGES[metric]
            for s, so, e, eo, value, app in self.rows(sql, table):
                self.result.records += 1
                try:
                    v = float(value) * scale
                    if not lo <= v <= hi:
                        raise ValueError(f"{metric} {v:g} is outside {lo:g}-{hi:g}")
                    per_app[self.app(app)].add("x", local(s, so), local(e, eo), v)
                except ROW_ERRORS as exc:
                    self.skip(table, exc)
            best: dict[date, tuple[float, str]] = {}
            for name, series in sorted(per_app.items()):
                for d, (total, _) in series.totals().items():
                    if d not in best or total > best[d][0]:
                        best[d] = (total, name)
            for d, (total, name) in best.items():
                value = round(total) if metric == "steps" else round(total, 1)
                days.setdefault(d, DayRecord(d.isoformat())).set(metric, value, f"{name} (max over apps)")

    def readings(self, days: dict[date, DayRecord]) -> None:
        for table, (metric, column) in READINGS.items():
            acc, (lo, hi) = Readings(self.budget), RANGES[metric]
            for t, off, value, app in self.rows(f"SELECT time, zone_offset, {column}, app_info_id FROM {table}", table):
                self.result.records += 1
                try:
                    if value is None or not lo <= float(value) <= hi:  # 0 bpm = not measured
                        self.result.skipped += 1
                        continue
                    acc.add(local(t, off).date(), float(value), self.app(app))
                except ROW_ERRORS as exc:
                    self.skip(table, exc)
            for d, (mean, src) in acc.means().items():
                rec = days.setdefault(d, DayRecord(d.isoformat()))
                rec.set(metric, round(mean, 1), src)
                if metric == "hrv_ms":
                    rec.set("hrv_kind", "RMSSD", src)

    def sleep(self, days: dict[date, DayRecord]) -> None:
        nights = SleepNights(self.budget)
        sessions = "SELECT row_id, start_time, start_zone_offset, end_time, end_zone_offset, app_info_id " \
                   "FROM sleep_session_record_table"
        stages: dict[int, list[tuple]] = defaultdict(list)
        for row in self.rows("SELECT parent_key, stage_start_time, stage_end_time, stage_type "
                             "FROM sleep_stages_table", "sleep_stages_table"):
            self.budget.take(120, "sleep stages")
            stages[row[0]].append(row[1:])
        for row_id, s, so, e, eo, app in self.rows(sessions, "sleep_session_record_table"):
            self.result.records += 1
            try:
                self._night(nights, stages.get(row_id) or [(s, e, 2)], local(s, so), local(e, eo), self.app(app))
            except ROW_ERRORS as exc:
                self.skip("sleep_session_record_table", exc)
        for d, (st, src) in nights.best().items():
            fill_sleep(days.setdefault(d, DayRecord(d.isoformat())), st, src)

    @staticmethod
    def _night(nights: SleepNights, stages: list[tuple], start: datetime, end: datetime, app: str) -> None:
        check_span("sleep", start, end)
        night = (end + timedelta(hours=6)).date()
        for st, en, kind in stages:
            minutes = (en - st) / 60000
            if not 0 <= minutes <= 1440:
                raise ValueError(f"a sleep stage of {minutes:g} minutes")
            nights.add(night, app, STAGES.get(kind, "unspecified"), minutes)


def _open(path: Path, tmp: str) -> Path:
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".db")), None)
            if member is None:
                raise HealthImportError(f"{path.name} holds no .db file: is it a Health Connect export?")
            check_member(zf.getinfo(member), path.name, MAX_MEMBER_BYTES)
            return Path(zf.extract(member, tmp))
    except zipfile.BadZipFile as exc:
        raise HealthImportError(f"{path.name} is not a readable zip file ({exc}); export it again") from None


def read(path: Path, tz: str | None = None) -> ImportResult:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = _open(path, tmp)
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            reader = _Reader(db, path.name)
            days: dict[date, DayRecord] = {}
            reader.cumulative(days)
            reader.readings(days)
            reader.sleep(days)
        except sqlite3.DatabaseError as exc:  # a page that turns out corrupt halfway through a table
            raise HealthImportError(f"{path.name} is not a readable Health Connect database ({exc})") from None
        finally:
            db.close()
    reader.result.days = [days[d] for d in sorted(days)]
    check_output(reader.result.days, path.name)
    return reader.result
