"""Health Connect fixture written by hand from the platform's own table layout, not the product's.

`REAL_SCHEMA` follows the tables of Android's HealthConnect module (RecordHelper columns first:
row_id, uuid, last_modified_time, client_record_id, client_record_version, device_info_id,
app_info_id, recording_method, dedupe_hash; then the interval or instant columns with local_date;
the value column last), so a product that relied on its own column order or names would fail here.
Expected values are worked out by hand below.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from apps.health.importers import detect_format, import_file

RECORD = ("row_id INTEGER PRIMARY KEY AUTOINCREMENT, uuid BLOB UNIQUE, last_modified_time INTEGER, "
          "client_record_id TEXT, client_record_version TEXT, device_info_id INTEGER, app_info_id INTEGER, "
          "recording_method INTEGER, dedupe_hash BLOB UNIQUE")
INTERVAL = "start_time INTEGER NOT NULL, start_zone_offset INTEGER, end_time INTEGER NOT NULL, " \
           "end_zone_offset INTEGER, local_date INTEGER"
INSTANT = "time INTEGER NOT NULL, zone_offset INTEGER, local_date INTEGER"
REAL_SCHEMA = f"""
CREATE TABLE application_info_table (row_id INTEGER PRIMARY KEY AUTOINCREMENT, package_name TEXT NOT NULL UNIQUE,
  app_name TEXT, app_icon BLOB, record_types_used TEXT);
CREATE TABLE device_info_table (row_id INTEGER PRIMARY KEY AUTOINCREMENT, manufacturer TEXT, model TEXT,
  device_type INTEGER);
CREATE TABLE steps_record_table ({RECORD}, {INTERVAL}, count INTEGER NOT NULL);
CREATE TABLE active_calories_burned_record_table ({RECORD}, {INTERVAL}, energy REAL NOT NULL);
CREATE TABLE resting_heart_rate_record_table ({RECORD}, {INSTANT}, beats_per_minute INTEGER NOT NULL);
CREATE TABLE heart_rate_variability_rmssd_record_table ({RECORD}, {INSTANT},
  heart_rate_variability_millis REAL NOT NULL);
CREATE TABLE oxygen_saturation_record_table ({RECORD}, {INSTANT}, percentage REAL NOT NULL);
CREATE TABLE sleep_session_record_table ({RECORD}, {INTERVAL}, notes TEXT, title TEXT);
CREATE TABLE sleep_stages_table (row_id INTEGER PRIMARY KEY AUTOINCREMENT, parent_key INTEGER NOT NULL,
  stage_start_time INTEGER NOT NULL, stage_end_time INTEGER NOT NULL, stage_type INTEGER NOT NULL,
  FOREIGN KEY (parent_key) REFERENCES sleep_session_record_table(row_id) ON DELETE CASCADE);
"""
TOKYO = 9 * 3600  # UTC+9: local days differ from UTC days for anything before 09:00


def ms(local: str) -> int:
    return int(datetime.fromisoformat(local + "+09:00").astimezone(UTC).timestamp() * 1000)


def insert(db: sqlite3.Connection, table: str, **cols) -> None:
    db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))


def interval(s: str, e: str) -> dict:
    return {"start_time": ms(s), "start_zone_offset": TOKYO, "end_time": ms(e), "end_zone_offset": TOKYO}


@pytest.fixture
def real_db(tmp_path):
    path = tmp_path / "health_connect_export.db"
    db = sqlite3.connect(path)
    db.executescript(REAL_SCHEMA)
    insert(db, "application_info_table", package_name="com.fitbit.FitbitMobile", app_name="Fitbit")
    insert(db, "application_info_table", package_name="com.google.android.apps.fitness", app_name="Fit")
    # the two apps mirror one morning walk (2,000 vs 2,100); Fitbit also saw an evening one (600):
    # per app and day Fitbit 2,600, Fit 2,100 -> the day keeps the larger app, 2,600, never the 4,700 sum
    insert(db, "steps_record_table", uuid=b"a", app_info_id=1, count=2000, **interval("2024-06-10T07:00", "2024-06-10T08:00"))
    insert(db, "steps_record_table", uuid=b"b", app_info_id=2, count=2100, **interval("2024-06-10T07:00", "2024-06-10T08:00"))
    insert(db, "steps_record_table", uuid=b"c", app_info_id=1, count=600, **interval("2024-06-10T20:00", "2024-06-10T20:30"))
    # energy is stored in calories: 250,000 cal = 250 kcal
    insert(db, "active_calories_burned_record_table", uuid=b"d", app_info_id=1, energy=250_000.0,
           **interval("2024-06-10T07:00", "2024-06-10T08:00"))
    for uid, t, bpm in ((b"e", "2024-06-10T06:00", 52), (b"f", "2024-06-10T06:30", 54)):
        insert(db, "resting_heart_rate_record_table", uuid=uid, app_info_id=1, time=ms(t), zone_offset=TOKYO,
               beats_per_minute=bpm)
    insert(db, "heart_rate_variability_rmssd_record_table", uuid=b"g", app_info_id=1, time=ms("2024-06-10T03:00"),
           zone_offset=TOKYO, heart_rate_variability_millis=41.0)
    insert(db, "oxygen_saturation_record_table", uuid=b"h", app_info_id=1, time=ms("2024-06-10T03:00"),
           zone_offset=TOKYO, percentage=95.5)
    insert(db, "sleep_session_record_table", uuid=b"i", app_info_id=1, title="night",
           **interval("2024-06-09T23:30", "2024-06-10T06:00"))
    for s, e, kind in (("2024-06-09T23:30", "2024-06-10T00:00", 7), ("2024-06-10T00:00", "2024-06-10T02:00", 4),
                       ("2024-06-10T02:00", "2024-06-10T03:30", 5), ("2024-06-10T03:30", "2024-06-10T06:00", 6)):
        insert(db, "sleep_stages_table", parent_key=1, stage_start_time=ms(s), stage_end_time=ms(e), stage_type=kind)
    db.commit()
    db.close()
    return path


def test_real_layout_imports_with_hand_computed_values(real_db):
    assert detect_format(real_db) == "healthconnect"
    result = import_file(real_db)
    (day,) = result.days  # all on the local Tokyo day (07:00 local is 22:00 UTC the day before)
    assert day.date == "2024-06-10"
    assert day.steps == 2600 and "com.fitbit.FitbitMobile" in day.source["steps"]
    assert day.active_kcal == 250.0
    assert day.resting_hr == 53.0  # mean of 52 and 54
    assert (day.hrv_ms, day.hrv_kind, day.spo2_pct) == (41.0, "RMSSD", 95.5)
    # stages: 30 min awake in bed, 120 light, 90 deep, 150 REM
    assert (day.sleep_light_min, day.sleep_deep_min, day.sleep_rem_min) == (120, 90, 150)
    assert (day.sleep_asleep_min, day.sleep_awake_min) == (360, 30)
    assert not result.partial and result.records == 9  # 3 steps, 1 energy, 2 RHR, 1 HRV, 1 SpO2, 1 session


def test_real_layout_with_only_some_tables(real_db):
    db = sqlite3.connect(real_db)
    for table in ("sleep_stages_table", "sleep_session_record_table", "oxygen_saturation_record_table"):
        db.execute(f"DROP TABLE {table}")
    db.commit()
    db.close()
    (day,) = import_file(real_db).days
    assert day.steps == 2600 and day.sleep_asleep_min is None and day.spo2_pct is None
