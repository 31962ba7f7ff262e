"""Bounded load on loopback: 8 concurrent streaming clients x 20 requests against `edgesplit serve`.

Uses the same driver as `bench/server_load.py` (which prints the throughput figures).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from .conftest import THREADS

BENCH = Path(__file__).resolve().parents[3] / "bench" / "server_load.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("server_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["server_load"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_eight_streaming_clients_twenty_requests_each():
    load = _bench_module()
    proc, url = load.start_server(THREADS, max_queue=16)
    try:
        asyncio.run(load.run_load(url, clients=2, requests=4, max_tokens=8))  # warm-up: allocations settle
        before = load.rss_mb(proc.pid)
        report = asyncio.run(load.run_load(url, clients=8, requests=20, max_tokens=8))
        after = load.rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    summary = report.summary()
    assert report.errors == [], report.errors[:5]
    assert report.ok + report.rejected == 160, summary  # each one streamed to [DONE] or got a clean 429
    assert report.rejected == 0, summary  # one running + 16 waiting hold all 8 clients: none is refused
    assert report.completion_tokens > 0
    assert after <= before * 1.10, f"RSS grew from {before:.1f} MB to {after:.1f} MB"
    print(f"\nload: {summary}  rss {before:.1f} -> {after:.1f} MB")
