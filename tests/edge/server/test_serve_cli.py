"""`edgesplit serve` through the real entry point."""

from __future__ import annotations

import socket

import httpx

from tests.conftest import run_cli


def test_help_has_examples():
    r = run_cli("serve", "--help")
    assert r.returncode == 0
    assert "Examples:" in r.stdout and "--token" in r.stdout and "--max-queue" in r.stdout


def test_public_address_needs_a_token():
    r = run_cli("serve", "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "--token" in r.stderr
    assert "Traceback" not in r.stderr


def test_busy_port_and_bad_profile_are_one_line_errors():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = run_cli("serve", "--port", str(taken.getsockname()[1]), timeout=60)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("serve", "--port", "0", "--profile", "no-such-profile", timeout=60)
    assert r.returncode == 2 and "no-such-profile" in r.stderr and "Traceback" not in r.stderr


def test_serve_prints_the_url_and_answers(serve_process):
    proc = serve_process("--token", "cli-token", "--profile", "laptop-x86-avx2")
    auth = {"Authorization": "Bearer cli-token"}
    with httpx.Client(base_url=proc.url, timeout=120) as c:
        health = c.get("/health").json()
        assert health["profile"] == "laptop-x86-avx2" and health["models"][0]["loaded"]  # loaded at start
        assert c.get("/v1/models").status_code == 401
        r = c.post("/v1/chat/completions", headers=auth,
                   json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1
    assert proc.stop() == 0  # Ctrl-C: a clean exit
