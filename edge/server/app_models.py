"""Model work for app routes, on the server's own models.

An app route (health, agent, cogenesis...) never loads an Engine of its own inside the server:

    result = await run_on_model(request, lambda engine: solve(engine, app, task), model=body.model)

`fn(engine)` runs on the worker thread of the named model (the server's default when None), behind
the same queue (429 when full), `--timeout` (504), metrics and cancellation as /v1/chat/completions,
so `serve -m X --threads N --profile P` applies to the apps too and the model is in memory once.
Outside the server (the CLI) apps take an Engine passed in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from ..engine import Chunk, Engine, GenerationResult
from ..errors import EdgeError
from ..sampling import SamplingParams
from .errors import QueueFullError, RequestTimeoutError
from .settings import state_of
from .workers import ClientDisconnected, Job, Run

T = TypeVar("T")


class RequestCancelledError(EdgeError):
    """The request this model work belonged to was cancelled (client gone or --timeout)."""

    http_status = 499
    kind = "cancelled"


class CancellableEngine:
    """The Engine as an app's `fn` sees it: generation stops at the next token once cancelled."""

    def __init__(self, engine: Engine, cancelled: threading.Event) -> None:
        self._engine, self._cancelled = engine, cancelled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream(self, prompt, **kwargs) -> Iterator[Chunk]:
        self._check()
        inner = self._engine.stream(prompt, **kwargs)
        try:
            for chunk in inner:
                self._check()
                yield chunk
        finally:
            inner.close()

    def generate(self, prompt, **kwargs) -> GenerationResult:
        result = None
        for chunk in self.stream(prompt, **kwargs):
            result = chunk.result or result
        assert result is not None  # the last chunk always carries the result
        return result

    def next_token_logprobs(self, prompt, top_k: int = 20):
        self._check()  # collaboration steps token by token: each step is a point to stop at
        return self._engine.next_token_logprobs(prompt, top_k)

    logprobs = next_token_logprobs

    def prompt_logprobs(self, prompt, top_k: int = 5):
        return self._engine.prompt_logprobs(prompt, top_k, check=self._check)

    def next_token_logits(self, prompt):
        self._check()
        return self._engine.next_token_logits(prompt)

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise RequestCancelledError("the request was cancelled (client gone or --timeout)")


@dataclass
class _Value:
    value: Any


class CallJob(Job):
    """A job that runs an app's function with the model instead of one generation."""

    def __init__(self, fn: Callable[[Engine], Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(prompt="", params=SamplingParams(), loop=loop)
        self.fn = fn

    def execute(self, engine: Engine) -> None:
        value = self.fn(CancellableEngine(engine, self.cancelled))  # type: ignore[arg-type]
        if not self.cancelled.is_set():
            self.emit(_Value(value))


async def run_on_model(request: Request, fn: Callable[[Engine], T], *, model: str | None = None) -> T:
    """Run `fn(engine)` on the server's worker for `model`; errors are the same as for a chat request."""
    st = state_of(request)
    worker = st.pool.worker(model)
    job = CallJob(fn, asyncio.get_running_loop())
    try:
        worker.submit(job)
        run = Run(job, request.is_disconnected, st.settings.timeout_s)
        while (item := await run.next()) is not None:
            if isinstance(item, _Value):
                return item.value
    except (QueueFullError, RequestTimeoutError, ClientDisconnected) as exc:
        job.cancel()
        reason = {QueueFullError: "queue_full", RequestTimeoutError: "timeout"}.get(type(exc), "disconnect")
        with st.metrics.lock:
            st.metrics.rejected.inc((worker.name, reason))
        raise
    except BaseException:
        job.cancel()
        raise
    raise RequestCancelledError("the model work ended without a result")
