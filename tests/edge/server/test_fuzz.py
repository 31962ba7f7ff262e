"""OpenAPI-driven fuzzing with schemathesis against the running server: never a 5xx, still alive after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import chat_body

# the core API; app routers are other packages' and are fuzzed by their own tests
CORE = r"^/(v1/(models|chat/completions|completions|apps$)|health$|metrics$)"


def test_schemathesis_finds_no_server_error(start_server, tmp_path):
    live = start_server(max_tokens_limit=8, timeout=60)  # valid requests generate at most 8 tokens
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [str(exe), "run", f"{live.url}/openapi.json", "--checks", "not_a_server_error",
           "--max-examples", "25", "--include-path-regex", CORE, "--request-timeout", "60", "--workers", "1",
           "--seed", "7", "--suppress-health-check", "all", "--no-color"]
    # cwd: schemathesis and hypothesis keep caches in the working directory
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "generated" in r.stdout
    with live.client() as c:  # alive and still answering properly
        assert c.get("/health").json()["status"] == "ok"
        ok = c.post("/v1/chat/completions", json=chat_body(max_tokens=2))
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] >= 1
        metrics = c.get("/metrics").text
    assert 'status="5' not in metrics  # no 5xx was ever sent, whatever the fuzzer checked
