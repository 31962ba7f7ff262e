"""`edgesplit health ...` through click and through the real entry point."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from apps.health import synth_formats as sf
from apps.health.cli import health
from apps.health.schema import METRICS
from tests.conftest import run_cli


def invoke(*args: str):
    res = CliRunner().invoke(health, list(args), catch_exceptions=False)
    return res


def test_synth_then_import_json(tmp_path):
    out = tmp_path / "d.csv"
    res = invoke("synth", str(out), "--days", "20", "--events", "illness,gap", "--end", "2024-02-01")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["synthetic"] is True and [e["type"] for e in info["events"]] == ["illness", "gap"]
    res = invoke("import", str(out), "--json")
    days = json.loads(res.output)
    assert len(days) == 18 and days[-1]["date"] == "2024-02-01"
    assert set(METRICS) <= set(days[0]) and "missing" in days[0]
    assert days[0]["mood"] is None and "mood" in days[0]["missing"]


@pytest.mark.parametrize("suffix", ["export.zip", "fitbit", "hc.db"])
def test_synth_formats_import(tmp_path, suffix):
    out = tmp_path / suffix
    assert invoke("synth", str(out), "--days", "12", "--events", "illness").exit_code == 0
    days = json.loads(invoke("import", str(out), "--json").output)
    assert len(days) == 12 and all(d["steps"] for d in days)


def test_assess_json_without_model(tmp_path):
    out = tmp_path / "demo.zip"
    invoke("synth", str(out), "--end", "2024-02-01")
    report = json.loads(invoke("assess", str(out), "--json", "--no-model").output)
    assert [e["type"] for e in report["events"]] == ["illness_onset", "sleep_debt", "low_spo2", "activity_drop",
                                                     "data_gap"]
    assert report["events"][0]["evidence"]["resting_hr_delta"] > 5
    assert report["predictions"] == {} and report["narrative"]


def test_help_has_examples():
    for cmd in ("import", "assess", "ask", "synth", "private"):
        res = invoke(cmd, "--help")
        assert "Examples:" in res.output, cmd


def test_real_entry_point_errors(tmp_path):
    bad = tmp_path / "export.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    res = run_cli("health", "import", str(bad), "--json")
    assert res.returncode == 2 and res.stderr.startswith("error:") and "not a readable zip" in res.stderr
    assert "Traceback" not in res.stderr
    csv = tmp_path / "d.csv"
    csv.write_text("date,steps,spo2_pct\n2024-01-01,100,0.9\n")
    res = run_cli("health", "import", str(csv), "--json")
    assert res.returncode == 0 and "d.csv:2" in res.stderr and "partial import" in res.stderr
    assert json.loads(res.stdout)[0]["spo2_pct"] is None


def test_assess_with_the_model_through_the_entry_point(cli_assess):
    res = cli_assess["assess"]
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert set(report["predictions"]) == {"readiness", "fatigue", "stress", "sleep_quality"}
    for p in report["predictions"].values():
        assert p["value"] == "uncertain" or p["low"] <= p["value"] <= p["high"]
    assert report["assessment"]["source"] == "model" and report["narrative"].startswith("Overall")
    assert "illness_onset" in [e["type"] for e in report["events"]]


def test_ask_with_the_model_through_the_entry_point(cli_assess):
    res = cli_assess["ask"]
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["route"] == "local" and out["facts"] and any("resting heart rate" in f for f in out["facts"])


def test_model_options_are_the_engine_commands_own(tmp_path, history14) -> None:
    """The apps take --profile/--threads/--speculative like `edgesplit run`, refused the same way."""
    data = sf.write_csv(tmp_path / "w.csv", history14[0])
    bad = run_cli("health", "assess", str(data), "--no-model", "--speculative", "always")
    assert bad.returncode == 2 and "'always' is not one of" in bad.stderr
    missing = run_cli("health", "ask", str(data), "How did I sleep?", "--profile", "no-such-board")
    assert missing.returncode != 0 and "unknown profile 'no-such-board'" in missing.stderr
    assert "Traceback" not in missing.stderr
