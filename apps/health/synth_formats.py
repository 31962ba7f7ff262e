"""Write SYNTHETIC histories (from `apps.health.synth`) in each export format the importers read.

The files follow the public format descriptions closely enough to exercise the importers,
including their hard parts: an iPhone and a Watch counting the same steps (Apple), two apps
mirroring each other (Health Connect), UTC stamps and a 0.0 resting HR on missing days (Fitbit).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from .synth import SynthDay

OWNER = "Anna"  # the synthetic owner's first name: a private entity the tests look for
DOB = "1984-03-02"
WATCH, PHONE = f"{OWNER}’s Apple Watch", f"{OWNER}’s iPhone"
WAKING_HOURS = range(8, 22)
APPLE_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Workout)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="{now}"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="{dob}" HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
"""


def hourly(total: float, hours: range = WAKING_HOURS) -> list[int]:
    """Split a daily total into integer hourly parts that sum to it exactly."""
    n = len(hours)
    base = [int(total) // n] * n
    for i in range(int(total) - sum(base)):
        base[i] += 1
    return base


def _stamp(dt: datetime, offset: str) -> str:
    return f"{dt:%Y-%m-%d %H:%M:%S} {offset}"


def _record(fh: IO[str], kind: str, src: str, unit: str, start: datetime, end: datetime, value: float | str,
            offset: str) -> None:
    fh.write(f' <Record type="{kind}" sourceName={quoteattr(src)} sourceVersion="17.1" unit="{unit}" '
             f'creationDate="{_stamp(end, offset)}" startDate="{_stamp(start, offset)}" '
             f'endDate="{_stamp(end, offset)}" value="{value}"/>\n')


def _apple_day(fh: IO[str], day: SynthDay, offset: str, hr_per_hour: int) -> None:
    midnight = datetime.combine(day.date, datetime.min.time())
    for h, part in zip(WAKING_HOURS, hourly(day.steps), strict=True):
        start, end = midnight + timedelta(hours=h), midnight + timedelta(hours=h + 1)
        _record(fh, "HKQuantityTypeIdentifierStepCount", WATCH, "count", start, end, part, offset)
        # the phone in the pocket counts the same walk, a little lower: must not be added
        _record(fh, "HKQuantityTypeIdentifierStepCount", PHONE, "count", start, end, int(part * 0.85), offset)
    for h, part in zip(WAKING_HOURS, hourly(day.active_kcal * 10), strict=True):
        start = midnight + timedelta(hours=h)
        _record(fh, "HKQuantityTypeIdentifierActiveEnergyBurned", WATCH, "kcal", start,
                start + timedelta(hours=1), part / 10, offset)
    at7 = midnight + timedelta(hours=7)
    _record(fh, "HKQuantityTypeIdentifierRestingHeartRate", WATCH, "count/min", at7, at7, day.resting_hr, offset)
    for h in (3, 15):
        t = midnight + timedelta(hours=h)
        _record(fh, "HKQuantityTypeIdentifierHeartRateVariabilitySDNN", WATCH, "ms", t, t, day.hrv_ms, offset)
        _record(fh, "HKQuantityTypeIdentifierOxygenSaturation", WATCH, "%", t, t, round(day.spo2_pct / 100, 4),
                offset)
    _apple_sleep(fh, day, midnight, offset)
    for i in range(24 * hr_per_hour):  # padding: heart-rate samples, a type the importer skips
        t = midnight + timedelta(minutes=i * 60 / hr_per_hour)
        _record(fh, "HKQuantityTypeIdentifierHeartRate", WATCH, "count/min", t, t, 60 + i % 30, offset)


def _apple_sleep(fh: IO[str], day: SynthDay, midnight: datetime, offset: str) -> None:
    s = day.sleep
    blocks = [("AsleepCore", s["light"] / 2), ("AsleepDeep", s["deep"]), ("Awake", s["awake"]),
              ("AsleepCore", s["light"] - s["light"] / 2), ("AsleepREM", s["rem"])]
    cur = start = midnight - timedelta(hours=1)  # 23:00 the evening before
    for stage, minutes in blocks:
        end = cur + timedelta(minutes=minutes)
        _record(fh, "HKCategoryTypeIdentifierSleepAnalysis", WATCH, "", cur, end,
                f"HKCategoryValueSleepAnalysis{stage}", offset)
        cur = end
    _record(fh, "HKCategoryTypeIdentifierSleepAnalysis", PHONE, "", start, cur, "HKCategoryValueSleepAnalysisInBed",
            offset)


def write_apple(path: Path, days: list[SynthDay], offset: str = "-0700", hr_per_hour: int = 0) -> Path:
    """Stream an Apple Health export.xml (or export.zip when `path` ends in .zip) to `path`."""
    if path.suffix == ".zip":
        import zipfile

        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
                zf.open("apple_health_export/export.xml", "w", force_zip64=True) as raw:
            import io

            _write_apple(io.TextIOWrapper(raw, "utf-8"), days, offset, hr_per_hour)
        return path
    with path.open("w", encoding="utf-8") as fh:
        _write_apple(fh, days, offset, hr_per_hour)
    return path


def _write_apple(fh: IO[str], days: list[SynthDay], offset: str, hr_per_hour: int) -> None:
    fh.write(APPLE_HEAD.format(now=f"{datetime.now():%Y-%m-%d %H:%M:%S} {offset}", dob=DOB))
    for day in days:
        if day.present:
            _apple_day(fh, day, offset, hr_per_hour)
    fh.write("</HealthData>\n")
    fh.flush()


def _fitbit_minutes(day: SynthDay, zone: ZoneInfo) -> Iterator[dict]:
    for h, part in zip(WAKING_HOURS, hourly(day.steps), strict=True):
        for m, n in enumerate(hourly(part, range(60))):
            local = datetime.combine(day.date, datetime.min.time()).replace(hour=h, minute=m, tzinfo=zone)
            yield {"dateTime": f"{local.astimezone(UTC):%m/%d/%y %H:%M:%S}", "value": str(n)}


def write_fitbit(folder: Path, days: list[SynthDay], tz: str = "America/Denver") -> Path:
    """A Fitbit data-export folder: Profile.csv, per-month JSON, HRV and SpO2 CSVs."""
    zone = ZoneInfo(tz)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Profile.csv").write_text("id,full_name,first_name,last_name,date_of_birth,timezone\n"
                                        f"ABC123,{OWNER} Example,{OWNER},Example,{DOB},{tz}\n")
    steps, rhr, sleep = [], [], []
    hrv = ["timestamp,rmssd,nremhr,entropy"]
    spo2 = ["timestamp,average_value,lower_bound,upper_bound"]
    for day in days:
        stamp = f"{day.date:%m/%d/%y} 00:00:00"
        rhr.append({"dateTime": stamp, "value": {"date": f"{day.date:%m/%d/%y}",
                                                 "value": day.resting_hr if day.present else 0.0, "error": 6.1}})
        if not day.present:
            continue
        steps.extend(_fitbit_minutes(day, zone))
        s = day.sleep
        sleep.append({"logId": int(day.date.strftime("%Y%m%d")), "dateOfSleep": day.date.isoformat(),
                      "minutesAsleep": int(day.asleep), "minutesAwake": int(s["awake"]), "mainSleep": True,
                      "type": "stages", "levels": {"summary": {k: {"minutes": int(s[k])} for k in
                                                               ("deep", "light", "rem")} | {"wake": {"minutes": int(s["awake"])}}}})
        hrv.append(f"{day.date}T04:00:00,{day.hrv_ms},{day.resting_hr + 2},2.1")
        spo2.append(f"{day.date}T00:00:00,{day.spo2_pct},{day.spo2_pct - 2},{min(100, day.spo2_pct + 2)}")
    first = days[0].date
    for kind, data in (("steps", steps), ("resting_heart_rate", rhr), ("sleep", sleep)):
        (folder / f"{kind}-{first}.json").write_text(json.dumps(data))
    (folder / f"Heart Rate Variability Summary - {first}.csv").write_text("\n".join(hrv) + "\n")
    (folder / f"Daily SpO2 - {first}.csv").write_text("\n".join(spo2) + "\n")
    return folder


HC_SCHEMA = """
CREATE TABLE application_info_table (row_id INTEGER PRIMARY KEY, package_name TEXT, app_name TEXT);
CREATE TABLE steps_record_table (row_id INTEGER PRIMARY KEY, uuid BLOB, start_time INTEGER,
  start_zone_offset INTEGER, end_time INTEGER, end_zone_offset INTEGER, count INTEGER, app_info_id INTEGER);
CREATE TABLE active_calories_burned_record_table (row_id INTEGER PRIMARY KEY, start_time INTEGER,
  start_zone_offset INTEGER, end_time INTEGER, end_zone_offset INTEGER, energy REAL, app_info_id INTEGER);
CREATE TABLE resting_heart_rate_record_table (row_id INTEGER PRIMARY KEY, time INTEGER, zone_offset INTEGER,
  beats_per_minute INTEGER, app_info_id INTEGER);
CREATE TABLE heart_rate_variability_rmssd_record_table (row_id INTEGER PRIMARY KEY, time INTEGER,
  zone_offset INTEGER, heart_rate_variability_millis REAL, app_info_id INTEGER);
CREATE TABLE oxygen_saturation_record_table (row_id INTEGER PRIMARY KEY, time INTEGER, zone_offset INTEGER,
  percentage REAL, app_info_id INTEGER);
CREATE TABLE sleep_session_record_table (row_id INTEGER PRIMARY KEY, start_time INTEGER,
  start_zone_offset INTEGER, end_time INTEGER, end_zone_offset INTEGER, app_info_id INTEGER);
CREATE TABLE sleep_stages_table (row_id INTEGER PRIMARY KEY, parent_key INTEGER, stage_start_time INTEGER,
  stage_end_time INTEGER, stage_type INTEGER);
"""


def _ms(local: datetime, offset_s: int) -> int:
    return int((local - timedelta(seconds=offset_s)).replace(tzinfo=UTC).timestamp() * 1000)


def write_healthconnect(path: Path, days: list[SynthDay], offset_s: int = 3600) -> Path:
    """A Health Connect SQLite export where a second app mirrors the first one's steps."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(HC_SCHEMA)
    db.executemany("INSERT INTO application_info_table VALUES (?, ?, ?)",
                   [(1, "com.google.android.apps.fitness", "Fit"), (2, "com.sec.android.app.shealth", "Health")])
    for day in (d for d in days if d.present):
        _hc_day(db, day, offset_s)
    db.commit()
    db.close()
    return path


def _hc_day(db: sqlite3.Connection, day: SynthDay, off: int) -> None:
    midnight = datetime.combine(day.date, datetime.min.time())
    for h, part in zip(WAKING_HOURS, hourly(day.steps), strict=True):
        s, e = _ms(midnight + timedelta(hours=h), off), _ms(midnight + timedelta(hours=h + 1), off)
        db.execute("INSERT INTO steps_record_table VALUES (NULL, NULL, ?, ?, ?, ?, ?, 1)", (s, off, e, off, part))
        db.execute("INSERT INTO steps_record_table VALUES (NULL, NULL, ?, ?, ?, ?, ?, 2)",
                   (s, off, e, off, int(part * 0.97)))
    s, e = _ms(midnight + timedelta(hours=8), off), _ms(midnight + timedelta(hours=22), off)
    db.execute("INSERT INTO active_calories_burned_record_table VALUES (NULL, ?, ?, ?, ?, ?, 1)",
               (s, off, e, off, day.active_kcal * 1000))
    t = _ms(midnight + timedelta(hours=7), off)
    db.execute("INSERT INTO resting_heart_rate_record_table VALUES (NULL, ?, ?, ?, 1)", (t, off, day.resting_hr))
    db.execute("INSERT INTO heart_rate_variability_rmssd_record_table VALUES (NULL, ?, ?, ?, 1)",
               (t, off, day.hrv_ms))
    db.execute("INSERT INTO oxygen_saturation_record_table VALUES (NULL, ?, ?, ?, 1)", (t, off, day.spo2_pct))
    cur = midnight - timedelta(hours=1)
    stages = [(4, day.sleep["light"]), (5, day.sleep["deep"]), (1, day.sleep["awake"]), (6, day.sleep["rem"])]
    rows = []
    for kind, minutes in stages:
        rows.append((_ms(cur, off), _ms(cur + timedelta(minutes=minutes), off), kind))
        cur += timedelta(minutes=minutes)
    sid = db.execute("INSERT INTO sleep_session_record_table VALUES (NULL, ?, ?, ?, ?, 1)",
                     (rows[0][0], off, rows[-1][1], off)).lastrowid
    db.executemany("INSERT INTO sleep_stages_table VALUES (NULL, ?, ?, ?, ?)", [(sid, *r) for r in rows])


CSV_COLUMNS = ["date", "steps", "active_kcal", "resting_hr", "hrv_ms", "hrv_kind", "spo2_pct", "sleep_deep_min",
               "sleep_light_min", "sleep_rem_min", "sleep_awake_min"]


def write_csv(path: Path, days: list[SynthDay]) -> Path:
    """The generic CSV (see `apps.health.importers.csv_generic`)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for d in (d for d in days if d.present):
            w.writerow([d.date, d.steps, d.active_kcal, d.resting_hr, d.hrv_ms, "SDNN", d.spo2_pct,
                        d.sleep["deep"], d.sleep["light"], d.sleep["rem"], d.sleep["awake"]])
    return path


WRITERS = {"apple": write_apple, "fitbit": write_fitbit, "healthconnect": write_healthconnect, "csv": write_csv}


def format_for(path: Path) -> str:
    """The format a synth output path implies: .xml/.zip Apple, .db Health Connect, .csv CSV, else Fitbit."""
    return {".xml": "apple", ".zip": "apple", ".db": "healthconnect", ".csv": "csv"}.get(path.suffix.lower(),
                                                                                            "fitbit")


def first_date(days: list[SynthDay]) -> date:
    return days[0].date
