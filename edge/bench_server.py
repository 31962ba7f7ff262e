"""Bench history for the web UI: `edgesplit bench` saves every run, the server lists them.

Runs are JSON files under `$EDGESPLIT_HOME/bench/`; the page (`PAGE`) charts decode speed and
first-token latency per target, newest run first. Registered in the server's app registry as
`bench` (mounted at `/v1/apps/bench`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from .models import edgesplit_home

PAGE = Path(__file__).parent / "server" / "static" / "bench.html"
MAX_RUNS = 50
router = APIRouter(tags=["bench"])


def bench_dir() -> Path:
    return edgesplit_home() / "bench"


def save_report(rows: list[dict], bandwidth_gb_s: float, notes: list[str]) -> Path:
    """Write one run; the file name sorts by time."""
    now = datetime.now(UTC)
    path = bench_dir() / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"created": now.isoformat(timespec="seconds"), "bandwidth_gb_s": bandwidth_gb_s,
                                "notes": notes, "rows": rows}, indent=1))
    return path


def load_runs(limit: int = MAX_RUNS) -> list[dict]:
    """Saved runs, newest first; unreadable files are skipped, not fatal."""
    runs = []
    for path in sorted(bench_dir().glob("*.json"), reverse=True)[:limit]:
        try:
            run = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(run, dict) and isinstance(run.get("rows"), list):
            runs.append({"id": path.stem, **run})
    return runs


@router.get("/runs")
async def runs() -> dict:
    """Saved `edgesplit bench` runs, newest first."""
    return {"runs": await run_in_threadpool(load_runs)}
