"""`edgesplit cogenesis write` and the app's HTTP route on the real edgesplit server: the cloud is
the server's configuration only, every byte sent is what the recording cloud received, and a
damaged ledger stops sending with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from apps.cogenesis.server import PAGE
from cloud_bridge.ledger import Ledger, body_bytes
from edge.server.app import create_app
from tests.cloud_bridge.fakecloud import FakeCloud
from tests.cloud_bridge.realserver import serve
from tests.conftest import run_cli

CONTEXT = "My name is Zoltan Quibbleworth. My dentist Dr. Okafor moved to 42 Maple Avenue. Call me on +44 20 7946 0958."
PRIVATE = ("Zoltan", "Quibbleworth", "Okafor", "42 Maple Avenue", "+44 20 7946 0958")
WRITE = "/v1/apps/cogenesis/write"


def _no_private_bytes(bodies: list[bytes]) -> bool:
    sent = b"".join(bodies).decode("utf-8", "replace").lower()
    return not any(p.lower() in sent for p in PRIVATE)


def _cut_the_ledger() -> None:
    """A ledger with one entry, then cut mid-line (what made every write crash before)."""
    led = Ledger()
    led.append("http://127.0.0.1:9/v1/chat/completions", b'{"earlier": "send"}', "earlier")
    led.path.write_bytes(led.path.read_bytes()[:-15])


@pytest.fixture(scope="module")
def server(default_engine):
    app = create_app(engines={"default": default_engine}, apps={"cogenesis": "apps.cogenesis.server"})
    with serve(app) as root, httpx.Client(base_url=root, timeout=300) as client:
        yield client


@pytest.fixture
def attacker():
    """Where a hostile page would like the data to go: it must never receive anything."""
    other = FakeCloud(None).start()
    other.reset("http500")
    yield other
    other.stop()


def test_cli_write_sketch_against_the_cloud(tmp_path, fake_cloud):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--cloud-url", fake_cloud.url, "--json",
                  "-n", "6", "--outline-tokens", "8", "Write a thank-you note to Dr. Okafor")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cloud_used"] is True and result["mode_used"] == "sketch" and result["text"]
    assert fake_cloud.bodies() and _no_private_bytes(fake_cloud.bodies())
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_cli_write_cloud_down_answers_locally(tmp_path, dead_url):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--mode", "logits", "--timeout", "1",
                  "-n", "4", "--json", "Write a short note", env={"EDGESPLIT_CLOUD_URL": dead_url})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cloud_used"] is False and "unreachable" in result["cloud_error"] and result["text"]
    assert Ledger().entries(), "the client never tried the cloud"


def test_cli_write_with_a_cut_ledger_fails_closed(tmp_path, fake_cloud):
    _cut_the_ledger()
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--cloud-url", fake_cloud.url,
                  "-n", "4", "Write a note")
    assert out.returncode == 2, out
    assert "error:" in out.stderr and "cut short" in out.stderr and "edgesplit ledger verify" in out.stderr
    assert "Traceback" not in out.stderr and fake_cloud.received == []


def test_route_refuses_a_cloud_url_from_the_request(server, fake_cloud, attacker, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    for mode in ("sketch", "logits", "off"):
        resp = server.post(WRITE, json={"instruction": "Write to Dr. Okafor", "context": CONTEXT, "mode": mode,
                                        "cloud_url": attacker.url, "max_tokens": 3})
        assert resp.status_code == 400, resp.text
        assert "cloud_url cannot be chosen by a request" in resp.json()["error"]["message"]
    monkeypatch.delenv("EDGESPLIT_CLOUD_URL")
    resp = server.post(WRITE, json={"instruction": "Hi", "cloud_url": attacker.url, "max_tokens": 3})
    assert resp.status_code == 400
    assert attacker.received == [] and fake_cloud.received == [] and Ledger().entries() == []


def test_route_sends_only_to_the_configured_cloud(server, fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    resp = server.post(WRITE, json={"instruction": "Write a thank-you note to Dr. Okafor", "context": CONTEXT,
                                    "mode": "sketch", "max_tokens": 4, "cloud_url": fake_cloud.url + "/"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cloud_used"] is True and resp.json()["mode_used"] == "sketch"
    assert [p for p, _ in fake_cloud.received] == ["/v1/chat/completions"]
    assert _no_private_bytes(fake_cloud.bodies())
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_route_with_a_damaged_ledger_sends_nothing(server, fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    _cut_the_ledger()
    resp = server.post(WRITE, json={"instruction": "Write to Dr. Okafor", "context": CONTEXT, "max_tokens": 3})
    assert resp.status_code == 409, resp.text
    assert "edgesplit ledger verify" in resp.json()["error"]["message"]
    assert fake_cloud.received == []


def test_route_runs_on_the_servers_own_models(server):
    """The route borrows the server's model by name (no Engine of its own): an unknown name is the
    server's 404, and the module has no engine to load."""
    import apps.cogenesis.server as module

    resp = server.post(WRITE, json={"instruction": "Say hi", "mode": "off", "model": "no-such-model", "max_tokens": 2})
    assert resp.status_code == 404, resp.text
    assert not hasattr(module, "_engine") and "Engine.load" not in Path(module.__file__).read_text()


def test_route_write_off_and_validation(server, fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    resp = server.post(WRITE, json={"instruction": "Say hi", "context": CONTEXT, "mode": "off", "max_tokens": 3})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cloud_used"] is False and resp.json()["mode_used"] == "local"
    assert Ledger().entries() == [] and fake_cloud.received == []
    assert server.post(WRITE, json={"instruction": "", "mode": "x"}).status_code == 400
    assert PAGE.is_file() and WRITE in PAGE.read_text() and "cloud_url" not in PAGE.read_text()


def test_route_gated_logits_reports_its_cloud_statistics(server, fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_URL", fake_cloud.url)
    resp = server.post(WRITE, json={"instruction": "Write a thank-you note", "context": CONTEXT, "mode": "logits",
                                    "max_tokens": 4, "gate_metric": "top1", "gate_threshold": 0.0, "batch": 2})
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["steps"] >= 1 and result["consulted_steps"] == result["steps"]  # threshold 0: every step
    assert result["cloud_calls"] == len(fake_cloud.received) and result["bytes_sent"] == sum(map(len, fake_cloud.bodies()))
    assert _no_private_bytes(fake_cloud.bodies())


def test_cli_refuses_a_malformed_gate(tmp_path):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    out = run_cli("cogenesis", "write", "--context", str(ctx), "--mode", "logits", "--gate", "perplexity:2",
                  "Write a short note")
    assert out.returncode != 0 and "--gate" in out.stderr and "entropy" in out.stderr
