"""`make run` on a runtime-only install (EDGESPLIT_RUNTIME_ONLY=1, a Raspberry Pi): no torch needed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

SCRIPT = Path(__file__).with_name("no_export_stack.py")


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, **kw)


def test_run_answers_without_torch():
    proc = _cli("run", "--temperature", "0", "--max-tokens", "8", "--json", "What is the capital of France?")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert '"completion_tokens"' in out and "runtime-only" not in err


def test_serve_answers_without_torch():
    proc = _cli("serve", "--port", "0", "--threads", "2")
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        with httpx.Client(base_url=match.group(0), timeout=120) as c:
            r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}],
                                                     "max_tokens": 4})
            assert r.status_code == 200, r.text
            assert c.get("/").status_code == 200  # the web UI and the mounted apps came up too
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()


def test_the_blocker_blocks():
    """The check is only worth something if torch really is out of reach in the child."""
    code = (f"import runpy, sys; sys.meta_path.insert(0, runpy.run_path({str(SCRIPT)!r})['_Absent']()); "
            "import torch")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "No module named 'torch' (runtime-only install)" in proc.stderr
