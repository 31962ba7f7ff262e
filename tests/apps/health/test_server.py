"""The health router mounted as the edgesplit server mounts it, and the dashboard page."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from apps.health import synth_formats as sf
from apps.health.server import PAGE, router


@pytest.fixture(scope="module")
def client(default_engine):
    app = FastAPI()
    app.state.engine = default_engine  # the server shares its loaded engine
    app.include_router(router, prefix="/v1/apps/health")
    return TestClient(app)


@pytest.fixture(scope="module")
def export_zip(history, tmp_path_factory):
    return sf.write_apple(tmp_path_factory.mktemp("s") / "export.zip", history[0]).read_bytes()


def test_import_route(client, export_zip, history):
    res = client.post("/v1/apps/health/import?filename=export.zip", content=export_zip)
    assert res.status_code == 200
    body = res.json()
    assert body["summary"]["format"] == "apple"
    assert len(body["days"]) == sum(d.present for d in history[0])
    assert "Anna" not in res.text


def test_assess_route_with_model(client, export_zip):
    res = client.post("/v1/apps/health/assess?filename=export.zip&model=true", content=export_zip)
    assert res.status_code == 200, res.text
    report = res.json()
    assert report["predictions"] and len(report["events"]) == 5 and "Anna" not in res.text


def test_demo_and_errors(client, tmp_path):
    demo = client.get("/v1/apps/health/demo?days=42&model=false").json()
    assert demo["synthetic"] is True and demo["events"]
    res = client.post("/v1/apps/health/import?filename=export.zip", content=b"PK\x03\x04garbage")
    assert res.status_code == 400 and "not a readable zip" in res.json()["error"]["message"]
    assert client.post("/v1/apps/health/import?filename=x.csv", content=b"").status_code == 400
    assert client.post("/v1/apps/health/import?filename=../../x.c$v", content=b"a").status_code == 400


def test_dashboard_page_is_self_contained():
    html = PAGE.read_text()
    assert PAGE.name == "dashboard.html"
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)  # no CDN, no remote asset
    assert "fetch(" in html and "/v1/apps/health" in html and "/assess" in html
    assert "<svg" in html or "createElementNS" in html
    for name in ("illness_onset", "sleep_debt", "low_spo2", "activity_drop", "data_gap"):
        assert name in html


def test_dashboard_ships_in_the_package():
    # pyproject's package-data must carry the page into wheels
    text = (PAGE.parents[3] / "pyproject.toml").read_text()
    assert '"**/*.html"' in text
