"""Stage progress for the export CLIs: one line per stage with a bar, and nothing else on the terminal.

The exporters call `progress.stage("trace", total)` / `handle.advance()`; they never print. The
CLI wraps the export in `quiet_terminal()`, which points file descriptors 1 and 2 at a log file
while it runs, so chatter from transformers, torch, onnx, onnxruntime's quantizer, tqdm bars and
llama.cpp's C code (which Python logging cannot silence) stays off the terminal; the stage lines
go to the terminal's own stderr, saved before the redirect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import IO

BAR = 20
NOISY_LOGGERS = ("transformers", "torch", "onnx", "onnxruntime", "optimum", "huggingface_hub", "gguf",
                 "onnxruntime.quantization", "root")


class Stage:
    """One running stage: `advance()` moves its bar; the line is finished when the stage ends."""

    def __init__(self, progress: Progress, index: int, name: str, total: int) -> None:
        self.progress, self.index, self.name, self.total = progress, index, name, max(total, 1)
        self.done, self.t0 = 0, time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self.progress.live:
            self.progress.write("\r" + self.line(), end="")

    def line(self) -> str:
        filled = round(BAR * self.done / self.total)
        width = len(str(self.progress.n_stages))
        return (f"[{self.index:>{width}}/{self.progress.n_stages}] {self.name:<9} "
                f"[{'#' * filled}{'.' * (BAR - filled)}] {time.monotonic() - self.t0:6.1f}s")


class Progress:
    """Stage lines on `stream` (a TTY gets a live bar); `Progress.silent()` for library callers."""

    def __init__(self, stages: tuple[str, ...], stream: IO[str] | None = None) -> None:
        self.stages, self.stream = stages, stream
        self.n_stages = len(stages)
        self.live = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    @classmethod
    def silent(cls) -> Progress:
        return cls((), None)

    def write(self, text: str, end: str = "\n") -> None:
        if self.stream is not None:
            self.stream.write(text + end)
            self.stream.flush()

    @contextlib.contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Stage]:
        index = self.stages.index(name) + 1 if name in self.stages else 0
        handle = Stage(self, index, name, total)
        yield handle
        handle.done = handle.total
        self.write(("\r" if self.live else "") + handle.line())


@contextlib.contextmanager
def quiet_terminal(verbose: bool) -> Iterator[IO[str]]:
    """Yield a stream on the real stderr; unless `verbose`, fds 1/2 and library logging go to a log file."""
    if verbose:
        from edge.runtimes.llamacpp import set_verbose

        logging.basicConfig(level=logging.INFO)
        previous = set_verbose(True)  # llama.cpp's own log lines too (its quantizer, model loads)
        try:
            yield sys.stderr
        finally:
            set_verbose(previous)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    levels = {name: logging.getLogger(None if name == "root" else name).level for name in NOISY_LOGGERS}
    with tempfile.TemporaryFile("w+") as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NOISY_LOGGERS:
            logging.getLogger(None if name == "root" else name).setLevel(logging.ERROR)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            terminal.close()
            for name, level in levels.items():
                logging.getLogger(None if name == "root" else name).setLevel(level)


def quiet_libraries() -> None:
    """Progress bars of transformers/huggingface_hub off (they would draw on the redirected stderr anyway)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
