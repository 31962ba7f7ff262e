"""Fitbit / Google Takeout importer on a hand-written export folder."""

from __future__ import annotations

import json
import zipfile

import pytest

from apps.health.importers import detect_format, import_file


def _write(folder, name, data) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.fixture
def fitbit_dir(tmp_path):
    root = tmp_path / "Takeout" / "Fitbit"
    _write(root, "Your Profile/Profile.csv", "id,full_name,first_name,last_name,date_of_birth,timezone\n"
           "XYZ,Maria Lopez,Maria,Lopez,1979-11-02,America/New_York\n")
    pa = "Physical Activity"
    # stamps are UTC; New York is UTC-5 in January
    _write(root, f"{pa}/steps-2020-01-01.json", [
        {"dateTime": "01/01/20 14:00:00", "value": "100"},   # 09:00 local, Jan 1
        {"dateTime": "01/02/20 03:30:00", "value": "40"},    # 22:30 local, still Jan 1
        {"dateTime": "01/02/20 15:00:00", "value": "70"}])
    _write(root, f"{pa}/steps-2020-01-02.json", [
        {"dateTime": "01/02/20 15:00:00", "value": "70"},    # the same minute again: not added twice
        {"dateTime": "01/02/20 16:00:00", "value": "30"}])
    _write(root, f"{pa}/resting_heart_rate-2020-01-01.json", [
        {"dateTime": "01/01/20 00:00:00", "value": {"date": "01/01/20", "value": 61.5, "error": 6.8}},
        {"dateTime": "01/02/20 00:00:00", "value": {"date": "01/02/20", "value": 0.0, "error": 0.0}}])
    hr = [{"dateTime": f"01/03/20 {12 + i // 60:02d}:{i % 60:02d}:00", "value": {"bpm": 50 + i % 40, "confidence": 2}}
          for i in range(100)]
    hr += [{"dateTime": "01/03/20 18:00:00", "value": {"bpm": 20, "confidence": 0}}] * 20  # not trusted
    _write(root, f"{pa}/heart_rate-2020-01-03.json", hr)
    _write(root, "Sleep/sleep-2020-01-02.json", [
        {"logId": 1, "dateOfSleep": "2020-01-02", "startTime": "2020-01-01T23:10:00.000", "minutesAsleep": 350,
         "minutesAwake": 30, "efficiency": 92, "mainSleep": True, "type": "stages",
         "levels": {"summary": {"deep": {"minutes": 60}, "light": {"minutes": 200}, "rem": {"minutes": 90},
                                "wake": {"minutes": 30}}}},
        {"logId": 2, "dateOfSleep": "2020-01-02", "minutesAsleep": 40, "minutesAwake": 5, "efficiency": 90,
         "mainSleep": False, "type": "classic", "levels": {"summary": {"asleep": {"minutes": 40}}}},
        {"logId": 3, "dateOfSleep": "2020-01-03", "minutesAsleep": 400, "minutesAwake": 20, "efficiency": 95,
         "mainSleep": True, "type": "classic", "levels": {"summary": {"asleep": {"minutes": 400}}}}])
    _write(root, "Heart Rate Variability/Heart Rate Variability Summary - 2020-01-01.csv",
           "timestamp,rmssd,nremhr,entropy\n2020-01-01T03:00:00,45.5,58.1,2.3\n")
    _write(root, "Oxygen Saturation (SpO2)/Daily SpO2 - 2020-01-01.csv",
           "timestamp,average_value,lower_bound,upper_bound\n2020-01-01T00:00:00,95.8,93.0,99.0\n")
    return tmp_path / "Takeout"


def days(result):
    return {d.date: d for d in result.days}


def test_steps_in_local_time_without_double_counting(fitbit_dir):
    result = import_file(fitbit_dir)
    assert result.format == "fitbit"
    d = days(result)
    assert d["2020-01-01"].steps == 140
    assert d["2020-01-02"].steps == 100


def test_explicit_tz_overrides_profile(fitbit_dir):
    d = days(import_file(fitbit_dir, tz="UTC"))
    assert d["2020-01-01"].steps == 100 and d["2020-01-02"].steps == 140


def test_resting_hr_zero_is_missing_and_estimate_from_confident_readings(fitbit_dir):
    d = days(import_file(fitbit_dir))
    assert d["2020-01-01"].resting_hr == 61.5
    assert d["2020-01-02"].resting_hr is None
    est = d["2020-01-03"]
    assert est.resting_hr is not None and 50 <= est.resting_hr < 55  # low-confidence 20 bpm ignored
    assert "estimate" in est.source["resting_hr"]


def test_sleep_hrv_spo2(fitbit_dir):
    d = days(import_file(fitbit_dir))
    n2 = d["2020-01-02"]  # the nap (mainSleep false) is not added
    assert (n2.sleep_deep_min, n2.sleep_light_min, n2.sleep_rem_min, n2.sleep_asleep_min) == (60, 200, 90, 350)
    assert (n2.sleep_awake_min, n2.sleep_efficiency) == (30, 92)
    n3 = d["2020-01-03"]
    assert n3.sleep_asleep_min == 400 and n3.sleep_deep_min is None
    assert (d["2020-01-01"].hrv_ms, d["2020-01-01"].hrv_kind) == (45.5, "RMSSD")
    assert d["2020-01-01"].spo2_pct == 95.8


def test_private_entities(fitbit_dir):
    result = import_file(fitbit_dir)
    assert {"Maria", "Maria Lopez"} <= result.private.names
    assert result.private.dates_of_birth == {"1979-11-02"}


def test_zip_and_broken_file_is_partial(fitbit_dir, tmp_path):
    (fitbit_dir / "Fitbit" / "Physical Activity" / "heart_rate-2020-01-05.json").write_text('[\n{"dateTime": ')
    z = tmp_path / "takeout.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in fitbit_dir.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(fitbit_dir))
    assert detect_format(z) == "fitbit"
    result = import_file(z)
    assert result.partial
    (w,) = [w for w in result.warnings if "heart_rate-2020-01-05.json" in w.file]
    assert w.line == 2 and "not valid JSON" in w.message
    assert days(result)["2020-01-01"].steps == 140


def test_no_time_zone_warns(fitbit_dir):
    (fitbit_dir / "Fitbit" / "Your Profile" / "Profile.csv").unlink()
    result = import_file(fitbit_dir)
    assert any("UTC" in w.message for w in result.warnings)
