"""Sandbox fuzzer (issue 14): seeded generated scripts, hostile constructs included, run in the
worker process. Each ends within the hard limit with ok or a clear ScriptError (never a sandbox
failure, i.e. another exception or a dead worker), and the parent's memory does not grow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from apps.gui_agent.errors import SandboxFailure, ScriptError
from apps.gui_agent.interp import Limits
from apps.gui_agent.sandbox import GRACE_S, SandboxPool

from .scriptgen import ScriptGen

SEED = 1414
SCRIPTS = 2000
BUDGET_S = 45.0  # wall-clock cap on the whole run on a slow, shared machine: fewer scripts, same seed


def _rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_generated_scripts_end_cleanly_within_the_limits():
    limits = Limits()
    hard = limits.max_seconds + GRACE_S
    gen, pool = ScriptGen(SEED), SandboxPool(1, memory_bytes=256 << 20)
    try:
        pool.run("notes", "$notes__new_note.tap()")  # start the worker before measuring
        rss0, t_start = _rss_kb(), time.monotonic()
        tried, ok, clean, worst, worst_script = 0, 0, 0, 0.0, ""
        while tried < SCRIPTS and time.monotonic() - t_start < BUDGET_S:
            script = gen.script()
            t0 = time.monotonic()
            env, result = pool.run("notes", script, limits)
            wall = time.monotonic() - t0
            tried += 1
            if wall > worst:
                worst, worst_script = wall, script
            assert wall < hard + 30, f"{wall:.1f} s: {script!r}"  # the hard kill fired, generously bounded
            if result.ok:
                ok += 1
                continue
            assert isinstance(result.error, ScriptError) and not isinstance(result.error, SandboxFailure), (
                f"{result.error!r} for {script!r}")
            assert result.error.reason
            clean += 1
        rss1 = _rss_kb()
    finally:
        pool.close()
    print(f"\nsandbox fuzz: {tried} scripts, {ok} ok, {clean} clean errors, 0 crashes; worst {worst:.3f} s "
          f"({worst_script[:60]!r}); parent RSS {rss0} -> {rss1} kB")
    assert tried >= 200
    assert rss1 <= rss0 * 1.10 + 2048
