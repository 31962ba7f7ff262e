"""The health app inside the real server (`edge.server.create_app` under uvicorn), and its packaging."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import httpx
import pytest

from apps.health import server as health_server
from apps.health import synth_formats as sf
from apps.health.server import PAGE
from edge import Engine
from tests.edge.server.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[3]
API = "/v1/apps/health"
MiB = 1 << 20


@pytest.fixture(scope="module")
def live(default_engine):
    """The real server with its real app registry, serving the shared default model."""
    server = LiveServer(engines={"default": default_engine}, timeout=600).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(live):
    with httpx.Client(base_url=live.url, timeout=600) as client:
        yield client


@pytest.fixture(scope="module")
def export_zip(history, tmp_path_factory):
    return sf.write_apple(tmp_path_factory.mktemp("s") / "export.zip", history[0]).read_bytes()


def chunks(data: bytes, size: int = 256 << 10):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_import_route(http, export_zip, history):
    res = http.post(f"{API}/import?filename=export.zip", content=chunks(export_zip))  # chunked, no length
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["summary"]["format"] == "apple"
    assert len(body["days"]) == sum(d.present for d in history[0])
    assert "Anna" not in res.text


def test_assess_route_with_model(http, export_zip, monkeypatch):
    def no_own_engine(*args, **kwargs):
        raise AssertionError("the health app loaded an Engine of its own inside the server")

    monkeypatch.setattr(Engine, "load", no_own_engine)  # the work must run on the server's model
    res = http.post(f"{API}/assess?filename=export.zip&use_model=true", content=export_zip)
    assert res.status_code == 200, res.text
    report = res.json()
    assert set(report["predictions"]) == {"readiness", "fatigue", "stress", "sleep_quality"}
    for p in report["predictions"].values():
        assert p["value"] == "uncertain" or p["low"] <= p["value"] <= p["high"]
    assert len(report["events"]) == 5 and "Anna" not in res.text


def test_an_unknown_model_is_a_clear_404(http, export_zip):
    res = http.post(f"{API}/assess?filename=export.zip&model=no-such-model", content=export_zip)
    assert res.status_code == 404 and res.json()["error"]["type"] == "model_not_found"


def test_demo_and_errors(http):
    demo = http.get(f"{API}/demo?days=42&use_model=false").json()
    assert demo["synthetic"] is True and demo["events"]
    res = http.post(f"{API}/import?filename=export.zip", content=b"PK\x03\x04garbage")
    assert res.status_code == 400 and "not a readable zip" in res.json()["error"]["message"]
    assert http.post(f"{API}/import?filename=x.csv", content=b"").status_code == 400
    assert http.post(f"{API}/import?filename=../../x.c$v", content=b"a").status_code == 400
    res = http.post(f"{API}/import?filename=d.csv", content=b"date,steps\n2024-01-01,\xff\n")
    assert res.status_code == 400 and "not UTF-8" in res.json()["error"]["message"]


def test_a_big_upload_streams_to_disk_not_memory(http):
    # 64 MiB that is not a zip: the server holds chunks, not the body (it once buffered all of it)
    body = b"PK\x03\x04" + bytes(64 * MiB)
    tracemalloc.start()
    try:
        res = http.post(f"{API}/import?filename=export.zip", content=chunks(body, MiB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.status_code == 400 and "not a readable zip" in res.text
    assert peak < 24 * MiB, peak >> 20


def test_limits_give_413_and_429(monkeypatch, default_engine):
    monkeypatch.setattr(health_server, "MAX_BODY_BYTES", MiB)  # read when the server loads its apps
    server = LiveServer(engines={"default": default_engine}).start()
    try:
        with server.client() as client:
            res = client.post(f"{API}/import?filename=d.csv", content=chunks(bytes(3 * MiB)))
            assert res.status_code == 413, res.text
            res = client.post(f"{API}/import?filename=d.csv", content=bytes(3 * MiB))  # with Content-Length
            assert res.status_code == 413
            assert client.get("/health").status_code == 200
            monkeypatch.setattr(health_server, "MAX_IMPORTS", 0)
            res = client.post(f"{API}/import?filename=d.csv", content=b"date,steps\n2024-01-01,5\n")
            assert res.status_code == 429 and "retry" in res.json()["error"]["message"]
    finally:
        server.stop()


def test_dashboard_page_is_self_contained():
    html = PAGE.read_text()
    assert PAGE.name == "dashboard.html"
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)  # no CDN, no remote asset
    assert "fetch(" in html and "/v1/apps/health" in html and "/assess" in html
    assert "<svg" in html or "createElementNS" in html
    for name in ("illness_onset", "sleep_debt", "low_spo2", "activity_drop", "data_gap"):
        assert name in html


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The project built into a wheel once per session, offline, from a copy of its sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("edge", "export", "cloud_bridge", "apps", "hw_profiles"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("edgesplit-*.whl")
    return whl


def test_dashboard_ships_in_the_wheel(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "apps/health/static/dashboard.html" in names
        assert zf.read("apps/health/static/dashboard.html") == PAGE.read_bytes()
        assert "apps/health/server.py" in names and "apps/health/importers/limits.py" in names


def test_the_server_route_is_reachable_without_the_test_client(live):
    # the app is mounted by the server's own registry, not by this test
    res = httpx.get(live.url + "/v1/apps", timeout=30).json()
    health = next(a for a in (res["data"] if isinstance(res, dict) else res) if a["name"] == "health")
    assert health["installed"] and health["error"] is None
