"""Hostile exports (issue 14.4, 14.8): bounded work per record and per import, clear errors."""

from __future__ import annotations

import sqlite3
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from apps.health.errors import HealthImportError
from apps.health.importers import import_file, limits
from edge import EdgeError
from tests.conftest import run_cli

from .conftest import APPLE_XML, STEPS, apple_record

MiB = 1 << 20


def apple(tmp_path: Path, *records: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(APPLE_XML.format(records="\n".join(records)), encoding="utf-8")
    return path


def traced(fn):
    """(result, peak traced bytes) of fn()."""
    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("start,end", [("2000-01-01", "2100-01-01"), ("2000-01-01", "3000-01-01"),
                                       ("0001-01-01", "9999-12-31"), ("2024-01-02", "2024-01-01")])
def test_a_record_spanning_years_is_skipped_in_bounded_memory(tmp_path, start, end):
    # 228 bytes once allocated one day array per day of the span: 404 MB for 100 years
    rec = apple_record(STEPS, "W", "count", f"{start} 00:00:00 +0000", f"{end} 00:00:00 +0000", "100")
    ok = apple_record(STEPS, "W", "count", "2024-01-01 10:00:00 +0000", "2024-01-01 11:00:00 +0000", "500")
    result, peak = traced(lambda: import_file(apple(tmp_path, rec, ok)))
    assert [d.date for d in result.days] == ["2024-01-01"] and result.days[0].steps == 500
    assert result.skipped == 1 and "StepCount record skipped" in str(result.warnings[0])
    assert peak < 16 * MiB


def test_sleep_and_readings_at_the_end_of_time_are_skipped(tmp_path):
    # 9999-12-31 + 6 h (the wake-up night) overflowed datetime: a traceback, not a warning
    sleep = apple_record("HKCategoryTypeIdentifierSleepAnalysis", "W", "", "9999-12-31 22:00:00 +0000",
                         "9999-12-31 23:00:00 +0000", "HKCategoryValueSleepAnalysisAsleepCore")
    rhr = apple_record("HKQuantityTypeIdentifierRestingHeartRate", "W", "count/min", "9999-12-31 07:00:00 +0000",
                       "9999-12-31 07:00:00 +0000", "60")
    steps = apple_record(STEPS, "W", "count", "9999-12-31 23:59:00 +0000", "9999-12-31 23:59:30 +0000", "5")
    result = import_file(apple(tmp_path, sleep, rhr, steps))
    assert result.days == [] and result.skipped == 3
    assert all("outside 1900-2199" in str(w) for w in result.warnings)


def test_many_days_hit_the_memory_budget_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_BYTES", MiB)  # ~175 day arrays; 336 days need 336
    recs = [apple_record(STEPS, f"W{i % 3}", "count", f"2020-{m:02d}-{d:02d} 10:00:00 +0000",
                         f"2020-{m:02d}-{d:02d} 10:10:00 +0000", "10") for i, (m, d) in
            enumerate((m, d) for m in range(1, 13) for d in range(1, 29))]
    with pytest.raises(HealthImportError, match="MiB to hold its steps per minute"):
        import_file(apple(tmp_path, *recs))


def test_output_over_max_days_is_a_clear_error(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("date,steps\n1901-01-01,100\n2150-01-01,200\n")
    with pytest.raises(HealthImportError, match="over 16000 days"):
        import_file(csv)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE HealthData [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<HealthData><Record type="HKQuantityTypeIdentifierStepCount" sourceName="&d;" unit="count"
 startDate="2024-01-01 10:00:00 +0000" endDate="2024-01-01 10:01:00 +0000" value="1"/></HealthData>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE HealthData [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<HealthData><Record type="HKQuantityTypeIdentifierStepCount" sourceName="&x;" unit="count"
 startDate="2024-01-01 10:00:00 +0000" endDate="2024-01-01 10:01:00 +0000" value="1"/></HealthData>
"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entity_declarations_are_refused(tmp_path, xml):
    path = tmp_path / "export.xml"
    path.write_text(xml)
    with pytest.raises(HealthImportError, match="declares an entity"):
        import_file(path)


def test_an_apple_zip_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("apple_health_export/export.xml", b"<HealthData>" + b" " * (256 * MiB) + b"</HealthData>")
    assert path.stat().st_size < MiB
    _, peak = traced(lambda: pytest.raises(HealthImportError, import_file, path))
    assert peak < 16 * MiB
    with pytest.raises(HealthImportError, match="zip bomb"):
        import_file(path)


def test_an_endless_token_is_refused(tmp_path):
    path = tmp_path / "export.xml"
    with path.open("w") as fh:
        fh.write('<HealthData><Record type="' + "x" * (20 * MiB))
    with pytest.raises(HealthImportError, match="without an XML element"):
        import_file(path)


@pytest.mark.parametrize("suffix", ["export.zip", "hc.zip"])
def test_truncated_zips(tmp_path, suffix, apple_xml):
    path = tmp_path / suffix
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(apple_xml, "apple_health_export/export.xml" if suffix == "export.zip" else "x.db")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(HealthImportError, match="not a readable zip"):
        import_file(path)


def test_an_sqlite_file_that_is_not_health_connect(tmp_path):
    path = tmp_path / "notes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
    db.execute("INSERT INTO notes VALUES (1, 'hello')")
    db.commit()
    db.close()
    with pytest.raises(HealthImportError, match="not a Health Connect export"):
        import_file(path)


def test_health_connect_rows_with_impossible_values_are_counted(tmp_path):
    from .test_healthconnect_real import REAL_SCHEMA

    path = tmp_path / "hc.db"
    db = sqlite3.connect(path)
    db.executescript(REAL_SCHEMA)
    day, year = 86_400_000, 365 * 86_400_000
    t0 = 1_714_550_400_000  # 2024-05-01 08:00 UTC
    rows = [(t0, t0 + 3_600_000, 500), (t0, t0 + 100 * year, 100),  # 100 years: skipped, not expanded
            (t0, t0 + day, "lots"), (2 ** 62, 2 ** 62 + 1, 5), (t0 + day, t0 + day + 60_000, 10 ** 9)]
    db.executemany("INSERT INTO steps_record_table (start_time, start_zone_offset, end_time, end_zone_offset, count, "
                   "app_info_id) VALUES (?, 0, ?, 0, ?, 1)", rows)
    db.commit()
    db.close()
    result, peak = traced(lambda: import_file(path))
    assert [(d.date, d.steps) for d in result.days] == [("2024-05-01", 500)]
    assert result.skipped == 4 and result.partial and peak < 16 * MiB


def test_csv_non_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"date,steps,mood\n2024-01-01,100,3\n" + b"2024-01-02,\xff\xfe,2\n")
    with pytest.raises(HealthImportError, match="not UTF-8"):
        import_file(path)


def test_csv_field_over_128_kib_is_a_clear_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('date,steps\n2024-01-01,"' + "1" * (129 << 10) + '"\n')
    with pytest.raises(HealthImportError, match="not a readable CSV"):
        import_file(path)


def test_csv_dates_at_the_ends_of_time_are_counted_skips(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date,steps\n9999-12-31,100\n0001-01-01,100\n2024-01-01,100\n")
    result = import_file(path)
    assert [d.date for d in result.days] == ["2024-01-01"] and result.skipped == 2
    assert "outside 1900-2199" in str(result.warnings[0])


@pytest.mark.parametrize("content", [b"date,steps\n2024-01-01,\xff\n", b'date,steps\n2024-01-01,"' + b"9" * (200 << 10)
                                     + b'"\n', b"date,steps\n9999-12-31,5\n2024-01-01,5\n2024-01-02,6\n"])
def test_cli_gives_errors_not_tracebacks(tmp_path, content):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    res = run_cli("health", "assess", str(path), "--no-model", "--json")
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (0, 2) and (res.returncode == 0 or res.stderr.startswith("error:")), res.stderr


def test_every_importer_error_is_an_edge_error():
    assert issubclass(HealthImportError, EdgeError)
