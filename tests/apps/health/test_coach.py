"""Recommendations and Q&A: grounded in the report; the cloud hook is off by default and gets no numbers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apps.health import synth_formats as sf
from apps.health.coach import (
    ask,
    eligible_tips,
    for_cloud,
    needs_general_knowledge,
    recommend,
    relevant_facts,
)
from apps.health.importers import import_file
from apps.health.narrative import unsupported_numbers
from apps.health.report import build_report


@pytest.fixture(scope="module")
def imported(history, tmp_path_factory):
    days, _ = history
    return import_file(sf.write_apple(tmp_path_factory.mktemp("c") / "export.xml", days))


@pytest.fixture(scope="module")
def report(imported):
    return build_report(imported, None)


def test_tips_follow_the_events_and_cite_report_numbers(report):
    ids = eligible_tips(report)
    assert {"earlier_bedtime", "rest_when_unwell", "spo2_check"} <= set(ids)
    rec = recommend(None, report)
    debt = next(ev for ev in report["events"] if ev["type"] == "sleep_debt")["evidence"]["debt_min"]
    assert any(str(debt) in t["text"] for t in rec["tips"])
    for t in rec["tips"]:
        assert unsupported_numbers(t["text"], report) == []


def test_model_picks_only_eligible_tips(report, default_engine):
    rec = recommend(default_engine, report, seed=3)
    assert rec["tips"] and {t["id"] for t in rec["tips"]} <= set(eligible_tips(report))


@pytest.mark.parametrize("q,general", [("Why does HRV drop when you are ill?", True),
                                       ("What is a normal resting heart rate?", True),
                                       ("How did I sleep last week?", False),
                                       ("Is my heart rate too high?", False),
                                       ("Tell me about sleep", False)])
def test_routing(q, general):
    assert needs_general_knowledge(q) is general


def test_cloud_gets_only_a_redacted_question_without_numbers(report, imported, default_engine):
    sent = []

    def cloud(text: str) -> str:
        sent.append(text)
        return "general answer"

    q = "Why would a Jonas-like sleeper born 1984-03-02 see HRV of 32.5 ms drop, like Anna?"
    out = ask(default_engine, report, q, cloud=cloud, private=imported.private)
    assert out["route"] == "cloud" and out["answer"] == "general answer"
    (text,) = sent
    assert not any(ch.isdigit() for ch in text)
    assert "Anna" not in text and "[private]" in text
    assert for_cloud("Anna’s Apple Watch says 97", imported.private) == "[private] says [number]"


def test_personal_question_stays_local_and_grounded(report, default_engine):
    calls = []
    out = ask(default_engine, report, "How did I sleep last week?", cloud=calls.append, max_tokens=16)
    assert calls == [] and out["route"] == "local"
    assert out["facts"] and out["facts"] == relevant_facts(report, "How did I sleep last week?")
    assert unsupported_numbers(out["answer"], report) == []


def test_cloud_off_by_default_and_failure_falls_back(report, default_engine):
    assert ask(default_engine, report, "Why does HRV drop when you are ill?", max_tokens=8)["route"] == "local"

    def down(text: str) -> str:
        raise ConnectionError("no route")

    out = ask(default_engine, report, "Why does HRV drop when you are ill?", cloud=down, max_tokens=8)
    assert out["route"] == "local" and "cloud unavailable" in out["note"]


def test_cloud_bridge_not_imported_by_the_app():
    code = ("import sys, apps.health, apps.health.cli, apps.health.coach, apps.health.server; "
            "print('cloud_bridge' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
