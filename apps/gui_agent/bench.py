"""The task benchmark: natural-language tasks over the shipped apps, checked on final app state.

tasks.json holds {id, app, task, checks, reference}. A check is one of
    {"path": "timer.minutes", "equals": 15}          dotted path into the app state
    {"path": "calls", "contains": "David Okafor"}    a list that holds the value
    {"path": "notes", "length": 3}                   a list of that length
    {"list": "alarms", "where": {"label": "Gym"}, "count": 1, "expect": {"enabled": true}}
                                                     rows matching `where`: how many, and their fields
`reference` is a hand-written script that solves the task (the tests run all of them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from edge import Engine

from .agent import execute, solve
from .errors import GuiAgentError

TASKS = Path(__file__).parent / "tasks.json"


@dataclass(frozen=True)
class Task:
    id: str
    app: str
    task: str
    checks: tuple[dict, ...]
    reference: str


def load_tasks(path: Path = TASKS) -> list[Task]:
    data = json.loads(Path(path).read_text())
    return [Task(t["id"], t["app"], t["task"], tuple(t["checks"]), t["reference"]) for t in data["tasks"]]


def _get(state: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(state, dict) or key not in state:
            raise GuiAgentError(f"check path {path!r}: no key {key!r} in the app state")
        state = state[key]
    return state


def check_state(state: dict, checks: tuple[dict, ...] | list[dict]) -> list[str]:
    """The checks that fail on `state`, each as a sentence (empty: the task succeeded)."""
    failures = []
    for c in checks:
        if "list" in c:
            rows = [r for r in _get(state, c["list"]) if all(r.get(k) == v for k, v in c["where"].items())]
            if "count" in c and len(rows) != c["count"]:
                failures.append(f"{c['list']} where {c['where']}: {len(rows)} rows, expected {c['count']}")
            for row in rows:
                bad = {k: row.get(k) for k, v in c.get("expect", {}).items() if row.get(k) != v}
                if bad:
                    failures.append(f"{c['list']} where {c['where']}: {bad}, expected {c['expect']}")
            continue
        value = _get(state, c["path"])
        if "equals" in c and value != c["equals"]:
            failures.append(f"{c['path']} is {value!r}, expected {c['equals']!r}")
        if "contains" in c and c["contains"] not in value:
            failures.append(f"{c['path']} does not contain {c['contains']!r}")
        if "length" in c and len(value) != c["length"]:
            failures.append(f"{c['path']} has {len(value)} items, expected {c['length']}")
    return failures


def run_reference(task: Task) -> tuple[bool, list[str], Any]:
    """Run the hand-written script; (success, failures, RunResult)."""
    env, result = execute(task.app, task.reference)
    failures = check_state(env.state, task.checks) if result.ok else [str(result.error)]
    return not failures, failures, result


def select_tasks(tasks: list[Task], limit: int | None = None, app: str | None = None) -> list[Task]:
    """`limit` tasks taken round-robin over the apps (so a small run covers every app)."""
    tasks = [t for t in tasks if app is None or t.app == app]
    if limit is None:
        return tasks
    by_app: dict[str, list[Task]] = {}
    for t in tasks:
        by_app.setdefault(t.app, []).append(t)
    mixed = [t for group in zip_longest(*by_app.values()) for t in group if t is not None]
    chosen = {t.id for t in mixed[:limit]}
    return [t for t in tasks if t.id in chosen]  # grouped by app: the doc prompt prefix is reused


def run_bench(engine: Engine, constrain: bool = True, limit: int | None = None, app: str | None = None,
              max_repairs: int = 2, on_result: Callable[[dict], None] | None = None) -> dict:
    """Run the agent over the benchmark; a report with success_rate, means and per-task results."""
    results = []
    for task in select_tasks(load_tasks(), limit, app):
        run = solve(engine, task.app, task.task, constrain=constrain, max_repairs=max_repairs)
        failures = check_state(run.state, task.checks) if run.ok else ["script stopped: " + str(
            (run.attempts[-1].error or {}).get("reason", ""))]
        results.append({"id": task.id, "app": task.app, "task": task.task, "success": not failures,
                        "script_ran": run.ok, "failures": failures, "script": run.script,
                        "actions": [str(a) for a in run.actions], **run.metrics()})
        if on_result is not None:
            on_result(results[-1])
    n = len(results)

    def mean(key: str) -> float:
        return round(sum(r[key] for r in results) / n, 1) if n else 0.0

    return {"model": engine.name, "constrained": constrain, "tasks": n,
            "succeeded": sum(r["success"] for r in results),
            "success_rate": round(sum(r["success"] for r in results) / n, 3) if n else 0.0,
            "script_ran_rate": round(sum(r["script_ran"] for r in results) / n, 3) if n else 0.0,
            "mean_tokens_in": mean("tokens_in"), "mean_tokens_out": mean("tokens_out"),
            "mean_latency_ms": mean("latency_ms"), "mean_repairs": mean("repairs"), "results": results}


COMPARED = ("success_rate", "script_ran_rate", "mean_tokens_in", "mean_tokens_out", "mean_latency_ms", "mean_repairs")


def compare(reports: list[dict]) -> dict:
    """Side by side: each summary figure per model, and the tasks on which the models disagree."""
    by_task = [{r["id"]: r["success"] for r in rep["results"]} for rep in reports]
    ids = [r["id"] for r in reports[0]["results"]]
    differ = [{"id": i, "success": [t.get(i) for t in by_task]} for i in ids if len({t.get(i) for t in by_task}) > 1]
    return {"models": [rep["model"] for rep in reports],
            "figures": {k: [rep[k] for rep in reports] for k in COMPARED}, "tasks_that_differ": differ}
