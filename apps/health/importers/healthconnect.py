"""Android Health Connect export: a SQLite database (`health_connect_export.db`, or a zip of it).

Tables read (missing ones are simply absent data): `steps_record_table` (start_time, end_time in
epoch ms, start_zone_offset in seconds, count), `active_calories_burned_record_table` (energy in
calories, Health Connect's stored unit), `resting_heart_rate_record_table` (time, zone_offset,
beats_per_minute), `heart_rate_variability_rmssd_record_table` (heart_rate_variability_millis),
`oxygen_saturation_record_table` (percentage), `sleep_session_record_table` with
`sleep_stages_table` (stage_type: 1 awake, 2 sleeping, 4 light, 5 deep, 6 REM, 7 awake in bed), and
`application_info_table` (app names). Apps mirror each other's data into Health Connect, so a
day's steps and energy are the *maximum* over apps, never the sum. Times are local by each
record's own zone offset.
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
from ..schema import RANGES, DayRecord, ImportResult, ImportWarning
from .accumulate import MinuteSeries, Readings, SleepNights, fill_sleep

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


def local(ms: int, offset_s: int | None) -> datetime:
    """Epoch milliseconds + zone offset -> the wall-clock time there (naive)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None) + timedelta(seconds=offset_s or 0)


class _Reader:
    def __init__(self, db: sqlite3.Connection, file: str) -> None:
        self.db, self.file = db, file
        self.result = ImportResult(FORMAT, [])
        self.apps = self._apps()

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
                self.result.warnings.append(ImportWarning(f"table {table} unreadable ({exc}); skipped", self.file))
        except sqlite3.DatabaseError as exc:
            raise HealthImportError(f"{self.file} is not a readable Health Connect database ({exc})") from None

    def app(self, app_id: int | None) -> str:
        return f"health_connect/{self.apps.get(app_id, 'unknown app')}"

    def cumulative(self, days: dict[date, DayRecord]) -> None:
        for table, (metric, column, scale) in CUMULATIVE.items():
            per_app: dict[str, MinuteSeries] = defaultdict(MinuteSeries)
            sql = f"SELECT start_time, start_zone_offset, end_time, end_zone_offset, {column}, app_info_id FROM {table}"
            for s, so, e, eo, value, app in self.rows(sql, table):
                self.result.records += 1
                per_app[self.app(app)].add("x", local(s, so), local(e, eo), float(value) * scale)
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
            acc, (lo, hi) = Readings(), RANGES[metric]
            for t, off, value, app in self.rows(f"SELECT time, zone_offset, {column}, app_info_id FROM {table}", table):
                self.result.records += 1
                if value is None or not lo <= float(value) <= hi:  # 0 bpm = not measured
                    self.result.skipped += 1
                    continue
                acc.add(local(t, off).date(), float(value), self.app(app))
            for d, (mean, src) in acc.means().items():
                rec = days.setdefault(d, DayRecord(d.isoformat()))
                rec.set(metric, round(mean, 1), src)
                if metric == "hrv_ms":
                    rec.set("hrv_kind", "RMSSD", src)

    def sleep(self, days: dict[date, DayRecord]) -> None:
        nights = SleepNights()
        sessions = "SELECT row_id, start_time, start_zone_offset, end_time, end_zone_offset, app_info_id " \
                   "FROM sleep_session_record_table"
        stages: dict[int, list[tuple]] = defaultdict(list)
        for row in self.rows("SELECT parent_key, stage_start_time, stage_end_time, stage_type "
                             "FROM sleep_stages_table", "sleep_stages_table"):
            stages[row[0]].append(row[1:])
        for row_id, s, _so, e, eo, app in self.rows(sessions, "sleep_session_record_table"):
            self.result.records += 1
            night = (local(e, eo) + timedelta(hours=6)).date()
            for st, en, kind in stages.get(row_id) or [(s, e, 2)]:
                nights.add(night, self.app(app), STAGES.get(kind, "unspecified"), (en - st) / 60000)
        for d, (st, src) in nights.best().items():
            fill_sleep(days.setdefault(d, DayRecord(d.isoformat())), st, src)


def _open(path: Path, tmp: str) -> Path:
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".db")), None)
            if member is None:
                raise HealthImportError(f"{path.name} holds no .db file: is it a Health Connect export?")
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
        finally:
            db.close()
    reader.result.days = [days[d] for d in sorted(days)]
    return reader.result
