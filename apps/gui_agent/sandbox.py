"""Scripts run in a worker process with a hard wall-clock and memory limit.

    env, result = run_script("settings", "$network__wifi.tap()")
    result.ok, result.error, [str(a) for a in env.log], env.state

The interpreter's own limits (interp.py) stop a script between steps; this module is the hard
stop behind them: a script runs in a warm child process (started once, reused, since the agent
runs several scripts per task) whose address space is capped, and the caller waits at most
`max_seconds + GRACE_S`. Past that the child is killed and the next script gets a fresh one, so
nothing a script does can hold the server's threads, GIL or memory. The child sends back the
action log, the final screen and the app state as JSON.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .env import Action, UIEnv
from .errors import (
    ActionError,
    LimitExceeded,
    SandboxBusyError,
    SandboxFailure,
    SandboxViolation,
    ScriptError,
    ScriptSyntaxError,
)
from .interp import Interpreter, Limits, RunResult

GRACE_S = 2.0  # beyond the interpreter's own time limit, before the hard kill
MEMORY_BYTES = 512 << 20  # address space a worker may add to what it holds after start-up
POOL_SIZE = 2  # warm workers: concurrent /exec requests beyond this wait their turn
QUEUE_WAIT_S = 30.0  # ... for this long at most (then 429), so waiters cannot pile up on the server's threads
DEFAULT_LIMITS = Limits()
ERRORS: dict[str, type[ScriptError]] = {c.__name__: c for c in (
    ScriptError, ScriptSyntaxError, SandboxViolation, LimitExceeded, ActionError, SandboxFailure)}


@dataclass
class EnvRecord:
    """What a script left behind: the `UIEnv` fields callers read (log, screen, state)."""

    log: list[Action] = field(default_factory=list)
    screen: str = ""
    state: dict[str, Any] = field(default_factory=dict)


def run_in_process(app_name: str, script: str, limits: Limits | None = None) -> tuple[UIEnv, RunResult]:
    """Run `script` on a fresh instance of the app in this process (the worker's side)."""
    from .sim import load_app

    env = UIEnv(load_app(app_name))
    result = Interpreter(env, limits).run(script)
    if result.ok and env.script_actions == 0:
        result.ok, result.error = False, ActionError("the script took no action: act on the doc's elements")
    return env, result


# -- the worker process ---------------------------------------------------------------------
def _reply(app_name: str, script: str, limits: dict) -> dict:
    env, result = run_in_process(app_name, script, Limits(**limits))
    return {"ok": result.ok, "error": result.error_dict(), "output": result.output, "steps": result.steps,
            "log": [a.to_dict() for a in env.log], "screen": env.screen, "state": env.state}


def _cap_memory(extra: int) -> None:
    """Cap the address space at what the process holds now plus `extra` (Linux /proc; else no cap)."""
    import resource

    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return
    vm_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmSize:")), 0)
    if vm_kb:
        resource.setrlimit(resource.RLIMIT_AS, (vm_kb * 1024 + extra, resource.RLIM_INFINITY))


def worker_main(memory_bytes: int) -> None:
    """Serve requests, one JSON line each on stdin, one reply line each on stdout, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; EOF on stdin ends us
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the protocol
    from .sim import load_app

    load_app("settings")  # import and parse once, before the cap and the first timed script
    _cap_memory(memory_bytes)
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            reply = _reply(req["app"], req["script"], req["limits"])
        except MemoryError:
            reply = {"ok": False, "output": [], "steps": 0, "log": [], "screen": "", "state": {},
                     "error": {"type": "LimitExceeded", "reason": "the script ran out of memory", "line": 0,
                               "source": ""}}
        except Exception as exc:  # a bug in the sandbox: reported to the caller, the worker lives on
            reply = {"crash": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


class _Gone(Exception):
    """The worker did not answer in time, or died."""


class Worker:
    """One child process running `worker_main`."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the folder that holds the `apps` package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        code = f"from apps.gui_agent.sandbox import worker_main; worker_main({int(memory_bytes)})"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, close_fds=True)
        self._buf = b""
        try:
            self._read_line(time.monotonic() + 120)  # start-up: imports, not the script's time
        except _Gone:
            how = self.kill()
            raise SandboxFailure(f"the sandbox process did not start ({how}); see its output above") from None

    def request(self, msg: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Gone from None
        return json.loads(self._read_line(time.monotonic() + timeout))

    def _read_line(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                if time.monotonic() >= deadline:
                    raise _Gone
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Gone
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def kill(self) -> str:
        """Kill the child; returns how it ended (for the error message)."""
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()
        return f"signal {-code}" if code < 0 else f"exit code {code}"


class SandboxPool:
    """Up to `size` warm workers; a killed or dead one is replaced on next use."""

    def __init__(self, size: int = POOL_SIZE, memory_bytes: int = MEMORY_BYTES) -> None:
        self.size, self.memory_bytes = size, memory_bytes
        self._idle: list[Worker] = []
        self._count = 0
        self._cond = threading.Condition()

    def run(self, app_name: str, script: str, limits: Limits | None = None) -> tuple[EnvRecord, RunResult]:
        from .sim import check_app

        check_app(app_name)  # UnknownAppError (404) here, not a crash report from the worker
        limits = limits or DEFAULT_LIMITS
        timeout = limits.max_seconds + GRACE_S
        worker = self._acquire()
        try:
            reply = worker.request({"app": app_name, "script": script, "limits": asdict(limits)}, timeout)
        except _Gone:
            died = worker.proc.poll() is not None
            how = worker.kill()
            worker = None
            if died:
                return EnvRecord(), RunResult(False, SandboxFailure(f"the sandbox process died ({how}); "
                                                                    "it was replaced: this is a bug, please report it"))
            return EnvRecord(), RunResult(False, LimitExceeded(f"the script ran longer than {timeout:g} s and "
                                                               "was stopped (its process was killed)"))
        finally:
            self._release(worker)
        return _decode(reply)

    def _acquire(self) -> Worker:
        deadline = time.monotonic() + QUEUE_WAIT_S
        with self._cond:
            while not self._idle and self._count >= self.size:
                if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    raise SandboxBusyError(f"all {self.size} sandbox workers stayed busy for {QUEUE_WAIT_S:g} s; "
                                           "retry later")
            while self._idle:
                worker = self._idle.pop()
                if worker.proc.poll() is None:
                    return worker
                worker.kill()  # died while idle (killed from outside): start a fresh one instead
                self._count -= 1
            self._count += 1
        try:
            return Worker(self.memory_bytes)
        except BaseException:
            self._release(None)
            raise

    def _release(self, worker: Worker | None) -> None:
        with self._cond:
            if worker is None:
                self._count -= 1
            else:
                self._idle.append(worker)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()

    def pids(self) -> list[int]:
        """Process ids of the idle workers (for tests and diagnostics)."""
        with self._cond:
            return [w.proc.pid for w in self._idle]


def _decode(reply: dict) -> tuple[EnvRecord, RunResult]:
    if "crash" in reply:
        err: ScriptError = SandboxFailure(f"the sandbox failed: {reply['crash']}; this is a bug, please report it")
        return EnvRecord(), RunResult(False, err)
    env = EnvRecord([Action(**a) for a in reply["log"]], reply["screen"], reply["state"])
    e = reply["error"]
    error = None if e is None else ERRORS.get(e["type"], ScriptError)(e["reason"], e["line"], e["source"])
    return env, RunResult(reply["ok"], error, reply["output"], reply["steps"])


POOL = SandboxPool()
atexit.register(POOL.close)


def run_script(app_name: str, script: str, limits: Limits | None = None) -> tuple[EnvRecord, RunResult]:
    """Run `script` against a fresh instance of the app in the shared worker pool."""
    return POOL.run(app_name, script, limits)
