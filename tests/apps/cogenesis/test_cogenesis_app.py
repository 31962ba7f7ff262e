"""`edgesplit cogenesis write` and the app's HTTP route."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from apps.cogenesis.server import PAGE, router
from cloud_bridge.ledger import Ledger, body_bytes
from tests.conftest import run_cli

CONTEXT = "My name is Zoltan Quibbleworth. My dentist Dr. Okafor moved to 42 Maple Avenue. Call me on +44 20 7946 0958."
PRIVATE = ("Zoltan", "Quibbleworth", "Okafor", "42 Maple Avenue", "+44 20 7946 0958")


def test_cli_write_sketch_against_the_cloud(tmp_path, fake_cloud):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--cloud-url", fake_cloud.url, "--json",
                  "-n", "6", "--outline-tokens", "8", "Write a thank-you note to Dr. Okafor")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cloud_used"] is True and result["mode_used"] == "sketch" and result["text"]
    sent = b"".join(fake_cloud.bodies()).decode()
    assert fake_cloud.bodies() and not any(p.lower() in sent.lower() for p in PRIVATE)
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_cli_write_cloud_down_answers_locally(tmp_path, dead_url):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--mode", "logits", "--timeout", "1",
                  "-n", "4", "--json", "Write a short note", env={"EDGESPLIT_CLOUD_URL": dead_url})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cloud_used"] is False and result["cloud_error"] and result["text"]


def test_route_write_off_and_validation(default_engine):
    app = FastAPI()
    app.state.engine = default_engine
    app.include_router(router, prefix="/v1/apps/cogenesis")
    client = TestClient(app)
    resp = client.post("/v1/apps/cogenesis/write", json={"instruction": "Say hi", "context": CONTEXT,
                                                         "mode": "off", "max_tokens": 3})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cloud_used"] is False and resp.json()["mode_used"] == "local"
    assert Ledger().entries() == []
    assert client.post("/v1/apps/cogenesis/write", json={"instruction": "", "mode": "x"}).status_code == 422
    assert PAGE.is_file() and "/v1/apps/cogenesis/write" in PAGE.read_text()
