"""The agent's routes and page, mounted the way the edgesplit server mounts app routers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from apps.gui_agent.server import PAGE, router

from .test_agent import ScriptedEngine


@pytest.fixture
def client():
    app = FastAPI()
    app.include_router(router, prefix="/v1/apps/agent")
    return TestClient(app)


def test_page_is_plain_html_without_cdn(client):
    assert PAGE.is_file()
    html = PAGE.read_text()
    assert "<script src=" not in html and "https://" not in html
    r = client.get("/v1/apps/agent/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and "actions" in r.text


def test_apps_and_doc(client):
    apps = client.get("/v1/apps/agent/apps").json()["apps"]
    assert {a["app"] for a in apps} >= {"clock", "contacts", "notes", "settings"}
    doc = client.get("/v1/apps/agent/apps/clock/doc").json()
    assert doc["home"] == "alarms"


def test_exec_returns_actions_state_and_errors(client):
    ok = client.post("/v1/apps/agent/exec", json={"app": "settings", "script": "$network__wifi.tap()"}).json()
    assert ok["ok"] and ok["state"]["wifi"] is False and ok["actions"][-1]["element"] == "network__wifi"
    bad = client.post("/v1/apps/agent/exec", json={"app": "settings", "script": "x = ().__class__"}).json()
    assert not bad["ok"] and bad["error"]["line"] == 1 and "__class__" in bad["error"]["reason"]


def test_run_uses_the_servers_engine(client):
    engine = ScriptedEngine(["# plan: switch wifi\n$network__wifi.tap()\n"])
    client.app.state.engine = engine
    r = client.post("/v1/apps/agent/run", json={"app": "settings", "task": "Turn off Wi-Fi"})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] and body["state"]["wifi"] is False and len(engine.calls) == 1
    assert body["script"] == "# plan: switch wifi\n$network__wifi.tap()" and body["tokens_in"] == 100
    assert [a["element"] for a in body["actions"]] == ["settings__network", "network__wifi"]
    assert client.post("/v1/apps/agent/run", json={"app": "settings", "task": ""}).status_code == 422
