"""The generic CSV importer: documented columns, units, and bad input."""

from __future__ import annotations

import pytest

from apps.health.errors import HealthImportError
from apps.health.importers import import_file


def write(tmp_path, text: str, name: str = "days.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_columns_units_and_missing(tmp_path):
    path = write(tmp_path, "date,steps,active_kcal [kJ],resting_hr,hrv_ms,hrv_kind,spo2_pct [fraction],"
                           "sleep_asleep_min [h],sleep_awake_min,mood\n"
                           "2024-01-01,8000,836.8,58,42,RMSSD,0.97,7.5,20,4\n"
                           "2024-01-02,,NA,0,,,,,,\n")
    result = import_file(path)
    assert result.format == "csv" and not result.partial and not result.warnings
    d1, d2 = result.days
    assert (d1.steps, d1.active_kcal, d1.resting_hr, d1.hrv_ms, d1.hrv_kind) == (8000, 200.0, 58.0, 42.0, "RMSSD")
    assert (d1.spo2_pct, d1.sleep_asleep_min, d1.sleep_awake_min, d1.mood) == (97.0, 450.0, 20.0, 4)
    assert d1.sleep_deep_min is None  # no stages given: total only
    assert d1.sleep_efficiency == pytest.approx(100 * 450 / 470, abs=0.05)
    assert d2.resting_hr is None and d2.steps is None and "steps" in d2.missing  # 0 bpm = not measured
    assert d2.to_json()["steps"] is None


def test_value_in_wrong_unit_warns_with_line_and_is_partial(tmp_path):
    path = write(tmp_path, "date,steps,spo2_pct,sleep_asleep_min\n"
                           "2024-01-01,8000,97,450\n"
                           "2024-01-02,7000,0.95,7.2\n")
    result = import_file(path)
    assert result.partial and len(result.days) == 2
    lines = {(w.line, w.message.split("=")[0]) for w in result.warnings}
    assert lines == {(3, "spo2_pct"), (3, "sleep_asleep_min")}
    assert "wrong unit?" in result.warnings[0].message and "days.csv:3" in str(result.warnings[0])
    assert result.days[1].steps == 7000 and result.days[1].spo2_pct is None


def test_unknown_unit_is_an_error_naming_the_column(tmp_path):
    path = write(tmp_path, "date,steps,active_kcal [lb]\n2024-01-01,1,2\n")
    with pytest.raises(HealthImportError, match=r"days.csv:1: column 'active_kcal \[lb\]' has unit 'lb'"):
        import_file(path)


def test_unknown_column_and_bad_rows(tmp_path):
    path = write(tmp_path, "date,steps,weight_kg\n2024-01-01,100,70\n01/02/2024,200,71\n2024-01-03,abc,72\n")
    result = import_file(path)
    assert result.partial
    msgs = [(w.line, w.message) for w in result.warnings]
    assert msgs[0][0] == 1 and "weight_kg" in msgs[0][1]
    assert msgs[1][0] == 3 and "not YYYY-MM-DD" in msgs[1][1]
    assert msgs[2][0] == 4 and "not a number" in msgs[2][1]
    assert [d.date for d in result.days] == ["2024-01-01", "2024-01-03"]
    assert result.skipped == 1


def test_no_date_column(tmp_path):
    with pytest.raises(HealthImportError, match="no 'date' column"):
        import_file(write(tmp_path, "day,steps\n2024-01-01,5\n"), "csv")


def test_unknown_format_is_named(tmp_path):
    with pytest.raises(HealthImportError, match="cannot tell the format"):
        import_file(write(tmp_path, "hello", "notes.txt"))
