"""Scripts run in a warm worker process: a hard wall-clock kill and a memory cap behind the
interpreter's own limits (issue 14.3). Loosened interpreter limits stand in for a bound that a
future change might get wrong: the process limits must stop the script anyway."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from apps.gui_agent import sandbox
from apps.gui_agent.agent import execute
from apps.gui_agent.errors import ActionError, LimitExceeded, SandboxBusyError
from apps.gui_agent.interp import Limits
from apps.gui_agent.sandbox import GRACE_S, SandboxPool

# 3 ** 10**8 is one C call of many seconds (a 160-million-bit power), invisible to the step limit
ONE_LONG_C_CALL = "x = 3 ** 10**8\n"


@pytest.fixture
def pool():
    p = SandboxPool(1, memory_bytes=256 << 20)
    yield p
    p.close()


def test_execute_sends_back_the_log_screen_and_state():
    env, result = execute("settings", "$network__wifi.tap()\nprint('done')")
    assert result.ok and result.output == ["done"]
    assert [a.element for a in env.log] == ["settings__network", "network__wifi"] and env.log[0].auto
    assert env.state["wifi"] is False and env.screen == "network"
    env, result = execute("notes", "$notes__new_note.tap()\n$note_editor__titel.set_text('x')")
    assert isinstance(result.error, ActionError) and result.error.line == 2
    assert result.error.source_line == "$note_editor__titel.set_text('x')" and len(env.log) == 1


def test_the_worker_is_reused_between_scripts(pool):
    pool.run("settings", "$network__wifi.tap()")
    first = pool.pids()
    pool.run("settings", "$network__wifi.tap()")
    assert pool.pids() == first and len(first) == 1


def test_a_long_c_call_is_killed_at_the_hard_limit_and_the_worker_replaced(pool):
    pool.run("settings", "$network__wifi.tap()")
    before = pool.pids()
    limits = Limits(max_pow_bits=10**12, max_seconds=0.5)
    env, result = _bounded(lambda: pool.run("notes", ONE_LONG_C_CALL, limits), 0.5 + GRACE_S + 60)
    assert not result.ok and isinstance(result.error, LimitExceeded)
    assert "was stopped" in result.error.reason and env.log == []
    env, result = pool.run("settings", "$network__wifi.tap()")
    assert result.ok and env.state["wifi"] is False
    assert pool.pids() != before


def test_memory_is_capped(pool):
    loose = Limits(max_size=10**12, max_total=10**13)
    env, result = pool.run("notes", "x = 'a' * (2 * 10**9)\n$notes__new_note.tap()", loose)
    assert not result.ok and isinstance(result.error, LimitExceeded) and "memory" in result.error.reason
    assert pool.run("notes", "$notes__new_note.tap()")[1].ok  # the worker lives on


def test_a_worker_killed_from_outside_is_replaced(pool):
    pool.run("notes", "$notes__new_note.tap()")
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # dead and reaped before the next request (Popen then sees it gone)
    assert pool.run("notes", "$notes__new_note.tap()")[1].ok
    assert pool.pids() != [pid]


def _bounded(fn, seconds: float):
    """fn() in a thread; fails (instead of hanging) when it has not returned within `seconds`.

    That the kill fired is the point, so the bound is generous: never a measure of speed."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"still running after {seconds:g} s: the hard limit did not fire"
    return out[0]


def test_a_request_that_finds_every_worker_busy_is_refused_not_queued_forever(pool, monkeypatch):
    monkeypatch.setattr(sandbox, "QUEUE_WAIT_S", 0.5)
    pool.run("notes", "$notes__new_note.tap()")  # one warm, idle worker: the busy thread takes it
    busy = threading.Thread(target=pool.run, args=("notes", ONE_LONG_C_CALL, Limits(max_pow_bits=10**12, max_seconds=3)))
    busy.start()
    try:
        deadline = time.monotonic() + 60
        while pool.pids():  # until the one worker has taken the long script
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(SandboxBusyError, match="busy"):
            pool.run("notes", "$notes__new_note.tap()")
    finally:
        busy.join()
    assert pool.run("notes", "$notes__new_note.tap()")[1].ok
