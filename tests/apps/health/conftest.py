"""Fixtures for the health app: hand-written exports in each real format, and synthetic histories."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from apps.health import synth_formats as sf
from apps.health.synth import generate
from tests.conftest import run_cli

END = date(2024, 3, 31)


def apple_record(kind: str, src: str, unit: str, start: str, end: str, value: str) -> str:
    return (f'<Record type="{kind}" sourceName="{src}" sourceVersion="17.2" unit="{unit}" '
            f'creationDate="{end}" startDate="{start}" endDate="{end}" value="{value}"/>')


APPLE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="2021-12-14 09:00:00 -0700"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1990-05-17" HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexMale"/>
{records}
</HealthData>
"""
W, P = "Jonas’s Apple Watch", "Jonas’s iPhone"
STEPS, KCAL = "HKQuantityTypeIdentifierStepCount", "HKQuantityTypeIdentifierActiveEnergyBurned"
RHR, HRV = "HKQuantityTypeIdentifierRestingHeartRate", "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
SPO2, SLEEP = "HKQuantityTypeIdentifierOxygenSaturation", "HKCategoryTypeIdentifierSleepAnalysis"
APPLE_RECORDS = [
    # 12-11: watch and phone count the same 10-minute walk (watch 120, phone 100) -> 120, not 220
    apple_record(STEPS, W, "count", "2021-12-11 10:00:00 -0700", "2021-12-11 10:10:00 -0700", "120"),
    apple_record(STEPS, P, "count", "2021-12-11 10:00:00 -0700", "2021-12-11 10:10:00 -0700", "100"),
    # phone alone (watch charging): counts
    apple_record(STEPS, P, "count", "2021-12-11 18:04:47 -0700", "2021-12-11 18:09:47 -0700", "50"),
    # 23:50-00:10 local: half on 12-11, half on 12-12 (UTC would put all of it on 12-12)
    apple_record(STEPS, W, "count", "2021-12-11 23:50:00 -0700", "2021-12-12 00:10:00 -0700", "40"),
    # 12-12: partly overlapping: watch 09:00-09:10 (60), phone 09:05-09:15 (60): 30 + max(30,30) + 30 = 90
    apple_record(STEPS, W, "count", "2021-12-12 09:00:00 -0700", "2021-12-12 09:10:00 -0700", "60"),
    apple_record(STEPS, P, "count", "2021-12-12 09:05:00 -0700", "2021-12-12 09:15:00 -0700", "60"),
    apple_record(KCAL, W, "kcal", "2021-12-11 10:00:00 -0700", "2021-12-11 11:00:00 -0700", "250.5"),
    apple_record(KCAL, W, "kJ", "2021-12-12 10:00:00 -0700", "2021-12-12 11:00:00 -0700", "418.4"),
    apple_record(RHR, W, "count/min", "2021-12-11 07:00:00 -0700", "2021-12-11 07:00:00 -0700", "57"),
    apple_record(RHR, W, "count/min", "2021-12-12 07:00:00 -0700", "2021-12-12 07:00:00 -0700", "0.0"),
    apple_record(HRV, W, "ms", "2021-12-11 03:00:00 -0700", "2021-12-11 03:01:00 -0700", "40"),
    apple_record(HRV, W, "ms", "2021-12-11 15:00:00 -0700", "2021-12-11 15:01:00 -0700", "50"),
    apple_record(SPO2, W, "%", "2021-12-11 04:00:00 -0700", "2021-12-11 04:00:00 -0700", "0.96"),
    # the night before 12-12: watch stages; the phone's in-bed record must not add to them
    apple_record(SLEEP, W, "", "2021-12-11 23:00:00 -0700", "2021-12-12 01:00:00 -0700",
                 "HKCategoryValueSleepAnalysisAsleepCore"),
    apple_record(SLEEP, W, "", "2021-12-12 01:00:00 -0700", "2021-12-12 02:00:00 -0700",
                 "HKCategoryValueSleepAnalysisAsleepDeep"),
    apple_record(SLEEP, W, "", "2021-12-12 02:00:00 -0700", "2021-12-12 02:20:00 -0700",
                 "HKCategoryValueSleepAnalysisAwake"),
    apple_record(SLEEP, W, "", "2021-12-12 02:20:00 -0700", "2021-12-12 03:50:00 -0700",
                 "HKCategoryValueSleepAnalysisAsleepREM"),
    apple_record(SLEEP, P, "", "2021-12-11 22:50:00 -0700", "2021-12-12 04:00:00 -0700",
                 "HKCategoryValueSleepAnalysisInBed"),
    apple_record("HKQuantityTypeIdentifierHeartRate", W, "count/min", "2021-12-11 12:00:00 -0700",
                 "2021-12-11 12:00:00 -0700", "88"),
]


@pytest.fixture
def apple_xml(tmp_path: Path) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(APPLE_XML.format(records="\n".join(" " + r for r in APPLE_RECORDS)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def history():
    """42 synthetic days ending END with every event planted."""
    return generate(42, seed=7, end=END)


@pytest.fixture(scope="session")
def history14():
    """14 synthetic days with an illness planted (the benchmark's shape)."""
    return generate(14, ("illness",), seed=3, end=END)


@pytest.fixture(scope="session")
def cli_assess(history14, tmp_path_factory):
    """`edgesplit health assess --json` and `ask` with the real model through the real entry point,
    once per session (the suite's slowest health work): tests share the finished processes."""
    folder = tmp_path_factory.mktemp("cli-assess")
    data = sf.write_csv(folder / "w.csv", history14[0])
    env = {"EDGESPLIT_HOME": str(folder / "home")}
    return {"assess": run_cli("health", "assess", str(data), "--json", env=env, timeout=1800),
            "ask": run_cli("health", "ask", str(data), "How is my heart rate?", "--json", "--max-tokens", "8",
                           "--speculative", "off", "--threads", "1", env=env, timeout=1800)}
