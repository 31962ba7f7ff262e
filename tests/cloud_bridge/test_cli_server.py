"""`edgesplit redact` and the ledger web routes."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_bridge.ledger import Ledger
from cloud_bridge.server import PAGE, router
from tests.conftest import run_cli

TEXT = "Dear Dr. Okafor, I am Alice Martin (born 04/12/1988); call +44 20 7946 0958 or mail alice@example.org.\n"


def test_redact_text_and_json(tmp_path):
    src = tmp_path / "note.txt"
    src.write_text(TEXT)
    plain = run_cli("redact", str(src))
    assert plain.returncode == 0, plain.stderr
    assert "Okafor" not in plain.stdout and "<PERSON_1>" in plain.stdout and "<PHONE_1>" in plain.stdout
    data = json.loads(run_cli("redact", "--json", str(src)).stdout)
    kinds = {f["type"] for f in data["findings"]}
    assert {"PERSON", "DATE_OF_BIRTH", "PHONE", "EMAIL"} <= kinds
    for f in data["findings"]:
        assert set(f) == {"type", "start", "end", "score"} and 0 <= f["start"] < f["end"] <= len(TEXT)


def test_redact_stdin_with_profile_file(tmp_path):
    profile = tmp_path / "me.toml"
    profile.write_text('places = ["Lakeview Clinic"]\nemployers = ["Acme Corp"]\n')
    out = run_cli("redact", "-", "--profile-file", str(profile), input="I work at Acme Corp near Lakeview Clinic.")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "I work at <ORG_1> near <LOCATION_1>."
    bad = tmp_path / "bad.toml"
    bad.write_text("nmes = ['x']\n")
    err = run_cli("redact", "-", "--profile-file", str(bad), input="x")
    assert err.returncode == 2 and "unknown keys" in err.stderr


def test_ledger_routes_and_page():
    Ledger().append("https://cloud.example/v1/chat/completions", b'{"x": 1}', "test")
    app = FastAPI()
    app.include_router(router, prefix="/v1/apps/privacy")
    client = TestClient(app)
    data = client.get("/v1/apps/privacy/ledger").json()
    assert data["verify"]["ok"] and data["entries"][0]["body"] == '{"x": 1}'
    assert client.get("/v1/apps/privacy/ledger/verify").json()["entries"] == 1
    red = client.post("/v1/apps/privacy/redact", json={"text": "mail bob@example.org"}).json()
    assert red["text"] == "mail <EMAIL_1>"
    assert PAGE.is_file() and "ledger" in PAGE.read_text()


def test_ledger_routes_report_damage_by_line():
    led = Ledger()
    led.append("https://cloud.example/v1/chat/completions", b'{"x": 1}', "test")
    led.path.write_bytes(led.path.read_bytes()[:-5] + b"\xff\n[1]\n")
    app = FastAPI()
    app.include_router(router, prefix="/v1/apps/privacy")
    client = TestClient(app)
    resp = client.get("/v1/apps/privacy/ledger")
    assert resp.status_code == 200
    problems = resp.json()["verify"]["problems"]
    assert resp.json()["verify"]["ok"] is False and resp.json()["entries"] == []
    assert problems[0].startswith("line 1: not UTF-8 (byte 0xff") and problems[1] == "line 2: not a JSON object (a list)"
    assert client.get("/v1/apps/privacy/ledger/verify").json()["ok"] is False
