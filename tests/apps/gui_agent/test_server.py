"""The agent's routes and page, through the real server (create_app, uvicorn, the default model)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from apps.gui_agent import sandbox
from apps.gui_agent.interp import Limits
from apps.gui_agent.server import PAGE
from apps.gui_agent.sim import app_doc

API = "/v1/apps/agent"
NESTED_COMPARE = "a = 1\nb = 1\nfor i in range(29):\n    a = [a, a]\n    b = [b, b]\nx = a == b\n$network__wifi.tap()"


@pytest.fixture
def client(agent_server):
    with agent_server.client() as c:
        yield c


def test_page_is_plain_html_without_cdn(client):
    html = PAGE.read_text()
    assert "<script src=" not in html and "https://" not in html
    for path in (f"{API}/", "/apps/agent/"):
        r = client.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"] and "actions" in r.text


def test_apps_and_doc(client):
    apps = client.get(f"{API}/apps").json()["apps"]
    assert {a["app"] for a in apps} >= {"clock", "contacts", "notes", "settings"}
    assert client.get(f"{API}/apps/clock/doc").json()["home"] == "alarms"
    r = client.get(f"{API}/apps/calendar/doc")
    assert r.status_code == 404 and "unknown app" in r.json()["error"]["message"]


def test_exec_returns_actions_state_and_errors(client):
    ok = client.post(f"{API}/exec", json={"app": "settings", "script": "$network__wifi.tap()"}).json()
    assert ok["ok"] and ok["state"]["wifi"] is False and ok["actions"][-1]["element"] == "network__wifi"
    bad = client.post(f"{API}/exec", json={"app": "settings", "script": "x = ().__class__"}).json()
    assert not bad["ok"] and bad["error"]["line"] == 1 and "__class__" in bad["error"]["reason"]
    assert bad["error"]["type"] == "SandboxViolation"
    r = client.post(f"{API}/exec", json={"app": "calendar", "script": "back()"})
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("unknown app")


def test_text_that_is_not_valid_unicode_is_a_clear_error(client):
    escaped = client.post(f"{API}/exec", json={"app": "notes", "script": '$notes__note_list.match("\\ud800").tap()'})
    assert escaped.status_code == 200 and "surrogate" in escaped.json()["error"]["reason"]
    for route, body in (("exec", {"app": "notes", "script": 'print("\ud800")'}), ("run", {"app": "notes", "task": "\ud800"})):
        raw = client.post(f"{API}/{route}", content=json.dumps(body), headers={"content-type": "application/json"})
        assert raw.status_code == 400 and raw.json()["error"]["param"] in ("script", "task")  # pydantic refuses it


def _exec_while_polling_health(agent_server, client, script: str) -> dict:
    """POST /exec in a thread; /health must answer (each within a generous 20 s) until it returns."""
    reply: dict = {}

    def post() -> None:
        with agent_server.client() as c:
            reply["r"] = c.post(f"{API}/exec", json={"app": "settings", "script": script})

    t = threading.Thread(target=post)
    t.start()
    polls = 0
    while t.is_alive() or polls == 0:
        assert client.get("/health", timeout=20).status_code == 200  # a frozen server times out here
        polls += 1
        t.join(0.2)
    assert reply["r"].status_code == 200, reply["r"].text
    return reply["r"].json()


def test_issue_14_3_nested_compare_is_refused_and_health_keeps_answering(agent_server, client):
    body = _exec_while_polling_health(agent_server, client, NESTED_COMPARE)
    assert not body["ok"] and body["error"]["type"] == "LimitExceeded" and body["error"]["line"] == 4
    assert body["actions"] == []


def test_a_script_past_the_hard_limit_is_killed_while_health_answers(agent_server, client, monkeypatch):
    # looser interpreter bounds let one C call run long (3 ** 10**8): only the process kill stops it
    monkeypatch.setattr(sandbox, "DEFAULT_LIMITS", Limits(max_pow_bits=10**12, max_seconds=1.0))
    body = _exec_while_polling_health(agent_server, client, "x = 3 ** 10**8\n$network__wifi.tap()")
    assert not body["ok"] and body["error"]["type"] == "LimitExceeded" and "was stopped" in body["error"]["reason"]
    monkeypatch.undo()
    assert client.post(f"{API}/exec", json={"app": "settings", "script": "$network__wifi.tap()"}).json()["ok"]


def test_run_generates_on_the_servers_model(client):
    doc = app_doc("settings")
    r = client.post(f"{API}/run", json={"app": "settings", "task": "Turn off Wi-Fi", "model": "default"}, timeout=900)
    assert r.status_code == 200, r.text
    body = r.json()
    assert 1 <= len(body["attempts"]) <= 3 and body["tokens_in"] > 0 and body["tokens_out"] > 0
    for a in body["attempts"]:
        refs = set(re.findall(r"\$([A-Za-z_0-9]+)", re.sub(r'"[^"\n]*"|#[^\n]*', '""', a["script"])))  # code, not text
        if a["truncated"]:
            assert a["finish_reason"] == "length" and a["actions"] == [] and a["error"]["type"] == "ScriptTruncated"
        else:
            assert refs <= set(doc.element_names), a["script"]  # the grammar admits doc elements only
    assert body["ok"] == (body["attempts"][-1]["error"] is None)
    assert body["state"] == {} or "wifi" in body["state"]  # {} when the last attempt was cut and not run


def test_run_refuses_bad_requests(client):
    assert client.post(f"{API}/run", json={"app": "settings", "task": ""}).status_code == 400
    r = client.post(f"{API}/run", json={"app": "settings", "task": "Turn off Wi-Fi", "model": "no-such-model"})
    assert r.status_code == 404, r.text
    assert client.post(f"{API}/run", json={"app": "calendar", "task": "x"}).status_code == 404
