"""Apple Health importer on hand-written export.xml / export.zip files."""

from __future__ import annotations

import json
import zipfile

import pytest

from apps.health.errors import HealthImportError
from apps.health.importers import detect_format, import_file

from .conftest import APPLE_RECORDS, APPLE_XML, STEPS, W, apple_record


def by_date(result):
    return {d.date: d for d in result.days}


def test_daily_totals_dedupe_and_time_zone(apple_xml):
    result = import_file(apple_xml)
    assert result.format == "apple" and not result.partial
    days = by_date(result)
    assert set(days) == {"2021-12-11", "2021-12-12"}
    # 120 (watch, phone's 100 overlaps) + 50 (phone alone) + 20 (first half of the midnight walk)
    assert days["2021-12-11"].steps == 190
    # 20 (second half) + 30 + 30 + 30 (phone and watch overlap for 5 minutes)
    assert days["2021-12-12"].steps == 110
    assert days["2021-12-11"].active_kcal == 250.5
    assert days["2021-12-12"].active_kcal == 100.0  # 418.4 kJ


def test_readings_and_missing(apple_xml):
    days = by_date(import_file(apple_xml))
    d11, d12 = days["2021-12-11"], days["2021-12-12"]
    assert d11.resting_hr == 57.0
    assert d12.resting_hr is None and "resting_hr" in d12.missing  # 0.0 is not a reading
    assert (d11.hrv_ms, d11.hrv_kind) == (45.0, "SDNN")
    assert d11.spo2_pct == 96.0
    assert d11.to_json()["resting_hr"] == 57.0 and d12.to_json()["resting_hr"] is None


def test_sleep_stages_from_one_source(apple_xml):
    d12 = by_date(import_file(apple_xml))["2021-12-12"]
    assert (d12.sleep_light_min, d12.sleep_deep_min, d12.sleep_rem_min) == (120.0, 60.0, 90.0)
    assert d12.sleep_asleep_min == 270.0 and d12.sleep_awake_min == 20.0
    assert d12.sleep_efficiency == pytest.approx(100 * 270 / 290)
    assert d12.source["sleep_asleep_min"] == "apple_health/watch"


def test_private_entities_collected_and_kept_out(apple_xml):
    result = import_file(apple_xml)
    assert result.private.dates_of_birth == {"1990-05-17"}
    assert "Jonas" in result.private.names
    assert W in result.private.device_names
    text = json.dumps([d.to_json() for d in result.days]) + json.dumps(result.summary())
    for term in result.private.terms():
        assert term not in text


def test_zip_is_detected_and_read(apple_xml, tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(apple_xml, "apple_health_export/export.xml")
        zf.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    assert detect_format(z) == "apple"
    assert by_date(import_file(z))["2021-12-11"].steps == 190


def test_corrupt_zip_is_a_clear_error(apple_xml, tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(apple_xml, "apple_health_export/export.xml")
    z.write_bytes(z.read_bytes()[:-60])  # the central directory is cut off
    with pytest.raises(HealthImportError, match="not a readable zip"):
        import_file(z)


def test_corrupt_member_data_is_a_partial_import(apple_xml, tmp_path):
    z = tmp_path / "export.zip"
    body = apple_xml.read_text() * 1
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("apple_health_export/export.xml", body)
    raw = bytearray(z.read_bytes())
    i = raw.index(b"HKQuantityTypeIdentifierOxygenSaturation")
    raw[i:i + 8] = b"XXXXXXXX"  # bad CRC when read back
    z.write_bytes(bytes(raw))
    result = import_file(z, "apple")
    assert result.partial
    assert any("could not be read" in w.message for w in result.warnings)


def test_unknown_record_type_warns_with_its_line(tmp_path):
    records = [*APPLE_RECORDS[:2], apple_record("HKQuantityTypeIdentifierMadeUpThing", W, "count",
                                                 "2021-12-11 10:00:00 -0700", "2021-12-11 10:01:00 -0700", "3")]
    path = tmp_path / "export.xml"
    path.write_text(APPLE_XML.format(records="\n".join(records)))
    result = import_file(path)
    line = path.read_text().splitlines().index(next(
        s for s in path.read_text().splitlines() if "MadeUpThing" in s)) + 1
    (w,) = [w for w in result.warnings if "MadeUpThing" in w.message]
    assert w.line == line and "unknown record type" in w.message and f"export.xml:{line}" in str(w)
    assert result.days[0].steps == 120 and result.skipped == 1


def test_bad_values_and_units_warn_with_line(tmp_path):
    records = [apple_record(STEPS, W, "km", "2021-12-11 10:00:00 -0700", "2021-12-11 10:01:00 -0700", "3"),
               apple_record(STEPS, W, "count", "2021-12-11 11:00:00 -0700", "2021-12-11 11:01:00 -0700", "abc"),
               apple_record(STEPS, W, "count", "2021-12-11 12:00:00 -0700", "2021-12-11 12:01:00 -0700", "7")]
    path = tmp_path / "export.xml"
    path.write_text(APPLE_XML.format(records="\n".join(records)))
    result = import_file(path)
    lines = path.read_text().splitlines()
    expected = [i + 1 for i, s in enumerate(lines) if 'unit="km"' in s or 'value="abc"' in s]
    assert [w.line for w in result.warnings] == expected and len(expected) == 2
    assert "unit 'km'" in result.warnings[0].message
    assert result.days[0].steps == 7


def test_truncated_xml_keeps_what_was_read(apple_xml, tmp_path):
    text = apple_xml.read_text()
    cut = tmp_path / "export.xml"
    cut.write_text(text[: text.index("HKQuantityTypeIdentifierRestingHeartRate") + 20])
    result = import_file(cut)
    assert result.partial and result.days
    assert any("broken" in w.message and w.line for w in result.warnings)


def test_not_xml_at_all(tmp_path):
    path = tmp_path / "export.xml"
    path.write_text("<HealthData><<<")
    with pytest.raises(HealthImportError, match="export.xml:1"):
        import_file(path, "apple")
