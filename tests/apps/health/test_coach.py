"""Recommendations and Q&A: grounded in the report; the cloud hook is off by default and gets no numbers."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from apps.health import synth_formats as sf
from apps.health.coach import (
    ask,
    cloud_bridge_hook,
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


@pytest.fixture(scope="module")
def fake_cloud(default_engine):
    """A real OpenAI-compatible HTTP server on 127.0.0.1 that records what it receives (echo mode)."""
    from tests.cloud_bridge.fakecloud import FakeCloud

    cloud = FakeCloud(default_engine).start()
    cloud.reset("echo")
    yield cloud
    cloud.stop()


def test_cloud_gets_only_a_redacted_question_without_numbers(report, imported, default_engine, fake_cloud,
                                                             monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    fake_cloud.reset("echo")
    q = "Why would a Jonas-like sleeper born 1984-03-02 see HRV of 32.5 ms drop, like Anna?"
    out = ask(default_engine, report, q, cloud=cloud_bridge_hook(imported.private), private=imported.private)
    assert out["route"] == "cloud" and out["answer"].startswith("- ")
    ((path, body),) = fake_cloud.received  # one request, over HTTP, through cloud_bridge
    assert path == "/v1/chat/completions"
    text = json.loads(body)["messages"][-1]["content"]
    # placeholders such as <PERSON_1> carry a counter, not data: every other digit would be a leak
    assert not any(ch.isdigit() for ch in re.sub(r"<[A-Z]+_\d+>", "", text)), text
    assert "Anna" not in text and "Jonas" not in text and "1984" not in text and "32.5" not in text
    assert "[private]" in out["sent"] and "HRV" in text
    assert for_cloud("Anna’s Apple Watch says 97", imported.private) == "[private] says [number]"


def test_personal_question_stays_local_and_grounded(report, imported, default_engine, fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    fake_cloud.reset("echo")
    out = ask(default_engine, report, "How did I sleep last week?", cloud=cloud_bridge_hook(imported.private),
              max_tokens=16)
    assert fake_cloud.received == [] and out["route"] == "local"
    assert out["facts"] and out["facts"] == relevant_facts(report, "How did I sleep last week?")
    assert unsupported_numbers(out["answer"], report) == []


def test_cloud_off_by_default_and_failure_falls_back(report, imported, default_engine, fake_cloud, monkeypatch):
    fake_cloud.reset("echo")
    assert ask(default_engine, report, "Why does HRV drop when you are ill?", max_tokens=8)["route"] == "local"
    assert fake_cloud.received == []
    with socket.socket() as s:  # a port nobody listens on: the cloud is down
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", down)
    out = ask(default_engine, report, "Why does HRV drop when you are ill?", cloud=cloud_bridge_hook(imported.private),
              max_tokens=8)
    assert out["route"] == "local" and "cloud unavailable" in out["note"]
    fake_cloud.reset("http500")
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    out = ask(default_engine, report, "Why does HRV drop when you are ill?", cloud=cloud_bridge_hook(imported.private),
              max_tokens=8)
    assert out["route"] == "local" and "cloud unavailable" in out["note"] and fake_cloud.received


def test_cloud_bridge_not_imported_by_the_app():
    code = ("import sys, apps.health, apps.health.cli, apps.health.coach, apps.health.server; "
            "print('cloud_bridge' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
