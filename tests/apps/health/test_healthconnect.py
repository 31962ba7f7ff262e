"""Health Connect importer on a hand-built SQLite export."""

from __future__ import annotations

import sqlite3
import zipfile
from datetime import UTC, datetime

import pytest

from apps.health.errors import HealthImportError
from apps.health.importers import detect_format, import_file
from apps.health.synth_formats import HC_SCHEMA

OFF = 2 * 3600  # UTC+2


def ms(text: str) -> int:
    """Local wall-clock time at UTC+2 -> epoch ms."""
    return int(datetime.fromisoformat(text + "+02:00").astimezone(UTC).timestamp() * 1000)


@pytest.fixture
def hc_db(tmp_path):
    path = tmp_path / "health_connect_export.db"
    db = sqlite3.connect(path)
    db.executescript(HC_SCHEMA)
    db.executemany("INSERT INTO application_info_table VALUES (?, ?, ?)",
                   [(1, "com.google.android.apps.fitness", "Fit"), (2, "com.sec.android.app.shealth", "Health")])
    steps = [("2024-05-01T09:00", "2024-05-01T10:00", 3000, 1), ("2024-05-01T09:00", "2024-05-01T10:00", 2900, 2),
             ("2024-05-01T18:00", "2024-05-01T19:00", 1000, 1), ("2024-05-01T18:00", "2024-05-01T19:00", 1500, 2),
             # 00:30 local on May 2 is 22:30 UTC on May 1: it belongs to May 2
             ("2024-05-02T00:30", "2024-05-02T00:40", 200, 1)]
    db.executemany("INSERT INTO steps_record_table VALUES (NULL, NULL, ?, ?, ?, ?, ?, ?)",
                   [(ms(s), OFF, ms(e), OFF, n, app) for s, e, n, app in steps])
    db.execute("INSERT INTO active_calories_burned_record_table VALUES (NULL, ?, ?, ?, ?, ?, 1)",
               (ms("2024-05-01T09:00"), OFF, ms("2024-05-01T10:00"), OFF, 310_000.0))
    db.executemany("INSERT INTO resting_heart_rate_record_table VALUES (NULL, ?, ?, ?, 1)",
                   [(ms("2024-05-01T07:00"), OFF, 55), (ms("2024-05-02T07:00"), OFF, 0)])
    db.execute("INSERT INTO heart_rate_variability_rmssd_record_table VALUES (NULL, ?, ?, ?, 1)",
               (ms("2024-05-01T04:00"), OFF, 38.5))
    db.execute("INSERT INTO oxygen_saturation_record_table VALUES (NULL, ?, ?, ?, 1)",
               (ms("2024-05-01T04:00"), OFF, 97.0))
    db.execute("INSERT INTO sleep_session_record_table VALUES (1, ?, ?, ?, ?, 1)",
               (ms("2024-04-30T23:00"), OFF, ms("2024-05-01T06:30"), OFF))
    stages = [("2024-04-30T23:00", "2024-05-01T01:00", 4), ("2024-05-01T01:00", "2024-05-01T02:30", 5),
              ("2024-05-01T02:30", "2024-05-01T03:00", 1), ("2024-05-01T03:00", "2024-05-01T06:30", 6)]
    db.executemany("INSERT INTO sleep_stages_table VALUES (NULL, 1, ?, ?, ?)",
                   [(ms(s), ms(e), k) for s, e, k in stages])
    db.commit()
    db.close()
    return path


def test_max_per_day_across_apps_and_local_days(hc_db):
    result = import_file(hc_db)
    assert result.format == "healthconnect"
    d = {x.date: x for x in result.days}
    # Fit: 3000 + 1000 = 4000; Health: 2900 + 1500 = 4400 -> the max, never the 8400 sum
    assert d["2024-05-01"].steps == 4400 and "com.sec.android.app.shealth" in d["2024-05-01"].source["steps"]
    assert d["2024-05-02"].steps == 200
    assert d["2024-05-01"].active_kcal == 310.0


def test_readings_sleep_and_zero_hr(hc_db):
    d = {x.date: x for x in import_file(hc_db).days}
    may1 = d["2024-05-01"]
    assert may1.resting_hr == 55 and d["2024-05-02"].resting_hr is None
    assert (may1.hrv_ms, may1.hrv_kind, may1.spo2_pct) == (38.5, "RMSSD", 97.0)
    assert (may1.sleep_light_min, may1.sleep_deep_min, may1.sleep_rem_min, may1.sleep_awake_min) == (120, 90, 210, 30)
    assert may1.sleep_asleep_min == 420


def test_zip_of_the_database(hc_db, tmp_path):
    z = tmp_path / "Health Connect.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(hc_db, "health_connect_export.db")
    assert detect_format(z) == "healthconnect"
    assert {x.date: x for x in import_file(z).days}["2024-05-01"].steps == 4400


def test_not_a_database(tmp_path):
    bad = tmp_path / "x.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x01" * 200)
    with pytest.raises(HealthImportError, match="not a readable Health Connect database"):
        import_file(bad, "healthconnect")
