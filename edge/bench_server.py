"""Bench history for the web UI: `edgesplit bench` saves every run, the server lists them.

Runs are JSON files under `$EDGESPLIT_HOME/bench/`, each with the facts of the host that made it
(copy runs from other devices there to see them together); the page (`PAGE`) lays the chosen
runs side by side (`bench_compare.compare_rows`) and charts each run, newest first. Registered
in the server's app registry as `bench` (mounted at `/v1/apps/bench`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from .bench_compare import compare_rows
from .models import edgesplit_home

PAGE = Path(__file__).parent / "server" / "static" / "bench.html"
MAX_RUNS = 50
router = APIRouter(tags=["bench"])


def bench_dir() -> Path:
    return edgesplit_home() / "bench"


def save_report(rows: list[dict], bandwidth_gb_s: float, notes: list[str], host: dict | None = None,
                also: Path | None = None) -> Path:
    """Write one run (with `host`, see `bench_compare.host_record`); the file name sorts by time.
    `also`: a second copy at a path of the user's choosing (`--save FILE`)."""
    now = datetime.now(UTC)
    path = bench_dir() / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"created": now.isoformat(timespec="seconds"), "bandwidth_gb_s": bandwidth_gb_s,
                       "host": host, "notes": notes, "rows": rows}, indent=1)
    for dest in filter(None, (path, also)):
        tmp = Path(f"{dest}.part")
        tmp.write_text(text)
        tmp.replace(dest)
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


def _compare(ids: list[str]) -> dict:
    chosen = [r for r in load_runs() if isinstance(r.get("host"), dict) and (not ids or r["id"] in ids)]
    return {"runs": [r["id"] for r in chosen], "rows": compare_rows(chosen)}


@router.get("/runs")
async def runs() -> dict:
    """Saved `edgesplit bench` runs, newest first."""
    return {"runs": await run_in_threadpool(load_runs)}


@router.get("/compare")
async def compare(ids: str = Query("", max_length=4000, description="comma-separated run ids; empty: all")) -> dict:
    """Saved runs side by side (those with host facts): measured rows first, then emulated ones."""
    return await run_in_threadpool(_compare, [i for i in ids.split(",") if i])
