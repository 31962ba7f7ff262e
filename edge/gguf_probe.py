"""Load a GGUF once in a child process, so an abort inside llama.cpp cannot kill the caller.

`gguf_hparams` refuses the hyper-parameters llama.cpp is known to assert on; this covers the
rest: before a long-lived process (the server) opens a file for the first time, a child loads
it and decodes one token. A crash there (SIGABRT, SIGSEGV) becomes a ModelFormatError. A file
that passed is remembered by path, size and mtime under $EDGESPLIT_HOME/cache, so the probe
costs once per file version.

    python -m edge.gguf_probe FILE.gguf      # exit 0: loads and decodes; else the reason on stderr
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from .errors import EdgeError, ModelFormatError
from .gguf_meta import read_gguf_meta
from .models import edgesplit_home

PROBE_TIMEOUT_S = 600.0  # a large model on a slow device; a probe is not a benchmark
EXIT_REFUSED = 3  # the child raised a clean EdgeError (its message is on stderr)
_failed: dict[str, str] = {}  # key -> error message, for this process (a fixed file changes its key)


def _key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]


def _marker(key: str) -> Path:
    return edgesplit_home() / "cache" / "gguf-probe" / f"{key}.ok"


def probe_gguf(path: Path, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise ModelFormatError unless llama.cpp loads `path` and decodes a token in a child process."""
    path = Path(path)
    read_gguf_meta(path)  # the cheap structural and hyper-parameter checks first
    key = _key(path)
    if key in _failed:
        raise ModelFormatError(_failed[key])
    if _marker(key).is_file():
        return
    message = _run_child(path, timeout)
    if message is not None:
        _failed[key] = message
        raise ModelFormatError(message)
    _marker(key).parent.mkdir(parents=True, exist_ok=True)
    _marker(key).write_text(str(path.resolve()) + "\n")


def _child_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "edge.gguf_probe", str(path)]


def _run_child(path: Path, timeout: float) -> str | None:
    """None when the child loaded and decoded; else what went wrong, as a message for the user."""
    try:
        proc = subprocess.run(_child_command(path), capture_output=True, text=True, errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL, env={**os.environ, "GGML_NO_BACKTRACE": "1"})  # no gdb attach on abort
    except subprocess.TimeoutExpired:
        return f"llama.cpp did not load {path} within {timeout:g} s in a test process; check the file"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode == EXIT_REFUSED and lines:
        return lines[-1]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        why = next((ln.strip() for ln in lines if "GGML_ASSERT" in ln or "error" in ln.lower()), "")
        return (f"llama.cpp crashed ({name}) loading {path}{': ' + why[:300] if why else ''}; the file is "
                "malformed: re-export or re-download it")
    return f"{path} failed to load in a test process (exit {proc.returncode}): {(lines or ['?'])[-1][:300]}"


def _probe_main(path: str) -> int:
    """The child: load with the runtime's own backend, as the server would, and decode one token."""
    from .engine import Engine
    from .options import RuntimeOptions

    try:
        engine = Engine.load(path, options=RuntimeOptions(n_threads=1, n_ctx=128, n_batch=128))
        try:
            engine.generate("Hi", max_tokens=1, temperature=0)
        finally:
            engine.close()
    except EdgeError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1]))
