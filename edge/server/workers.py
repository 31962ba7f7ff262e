"""One worker thread per model, fed by a bounded queue.

The Engine is not thread-safe, so each model's requests run one at a time on the model's own
thread. A request that finds `max_queue` others waiting is refused at once (429) instead of
piling up. Chunks travel back to the event loop through an asyncio queue; a cancelled job (client
gone, timeout) stops at the next token and frees its slot.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..engine import Chunk, Engine, GenerationResult, Prompt
from ..errors import EdgeError, ModelNotFoundError, ProfileError
from ..gguf_probe import probe_gguf
from ..models import DEFAULT_NAME, list_models, resolve
from ..options import RuntimeOptions
from ..sampling import SamplingParams
from .errors import InternalServerError, QueueFullError, RequestTimeoutError

log = logging.getLogger("edgesplit.server")

DONE = object()  # sentinel: the worker is finished with a job
Loader = Callable[[str, str | None, int | None], Engine]


def load_engine(ref: str, profile: str | None, threads: int | None = None,
                speculative: str | None = None) -> Engine:
    """Engine.load with the profile's options, `threads` and `speculative` overriding its own.

    A GGUF other than the packaged default is first loaded once in a child process
    (`edge.gguf_probe`): llama.cpp aborts on some malformed files, which must not end the server.
    """
    model = resolve(ref)
    if model.format == "gguf" and model.name != DEFAULT_NAME:
        probe_gguf(model.weights_file)
    try:
        options = None
        overrides = {k: v for k, v in {"n_threads": threads, "speculative": speculative}.items() if v}
        if overrides:
            if profile is None:
                options = RuntimeOptions(**overrides)
            else:
                from ..profiles import apply_profile

                options = apply_profile(profile, None, None)[1].with_(**overrides)
        return Engine.load(model, profile=profile, options=options)
    except ModuleNotFoundError as exc:
        if exc.name != "edge.profiles":
            raise
        raise ProfileError(f"cannot apply profile {profile!r}: hardware profiles (edge.profiles) are not "
                           "installed in this build; serve without --profile") from None


@dataclass
class Job:
    """One generation request, shared by the event loop (reader) and a worker thread (writer)."""

    prompt: Prompt
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None

    def emit(self, item: Any) -> None:
        """Hand `item` (a Chunk, an EdgeError or DONE) to the event loop."""
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled.set()

    def cancel(self) -> None:
        self.cancelled.set()

    def execute(self, engine: Engine) -> None:
        """Run on the model's worker thread: stream the answer's chunks to the event loop."""
        stream = engine.stream(self.prompt, params=self.params)
        try:
            for chunk in stream:
                if self.cancelled.is_set():
                    break
                self.emit(chunk)
        finally:
            stream.close()  # stops llama.cpp at once when the job was cancelled


class ModelWorker:
    """A model, its Engine (loaded on first use) and the thread that runs its jobs in order."""

    def __init__(self, name: str, ref: str, profile: str | None, max_queue: int, threads: int | None = None,
                 loader: Loader = load_engine, engine: Engine | None = None,
                 before_load: Callable[[ModelWorker], None] | None = None) -> None:
        self.name, self.ref, self.profile, self.threads = name, ref, profile, threads
        self.max_queue = max_queue
        self.engine = engine
        self.last_used = time.monotonic()
        self._before_load = before_load  # the pool makes room (unloads idle models) before a load
        self.info = engine.describe() if engine is not None else None
        self._owns_engine = engine is None  # an Engine handed in belongs to the caller
        self._loader = loader
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._pending = 0  # running + waiting
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"edgesplit-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests running or waiting on this model."""
        return self._pending

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._pending > self.max_queue:  # one running plus max_queue waiting
                raise QueueFullError(
                    f"model {self.name!r} is busy: {self._pending} requests running or queued "
                    f"(--max-queue {self.max_queue}); retry shortly"
                )
            self._pending += 1
            self.last_used = time.monotonic()
        self._queue.put(job)

    def ensure_loaded(self) -> Engine:
        """Load the Engine now (in the caller's thread) unless it is loaded; errors propagate."""
        with self._load_lock:
            if self.engine is None:
                if self._before_load is not None:
                    self._before_load(self)
                engine = self._loader(self.ref, self.profile, self.threads)
                self.info = engine.describe()
                self.engine = engine
            return self.engine

    @contextmanager
    def lease(self) -> Iterator[Engine]:
        """The loaded Engine for use outside a job (e.g. /tokenize); not unloaded meanwhile."""
        with self._lock:
            self._pending += 1
        try:
            yield self.ensure_loaded()
        finally:
            with self._lock:
                self._pending -= 1

    @property
    def evictable(self) -> bool:
        """Loaded by this server, and no request running or waiting."""
        return self.engine is not None and self._owns_engine and self._pending == 0

    def unload(self) -> bool:
        """Free the Engine if the model is idle (a later request loads it again); False if busy."""
        with self._lock:  # holding it keeps submit() from slipping a job in meanwhile
            if not self.evictable:
                return False
            with self._load_lock:
                engine, self.engine = self.engine, None
        engine.close()
        log.info("unloaded model %s (least recently used, --max-loaded reached)", self.name)
        return True

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                if not job.cancelled.is_set():
                    self._run(job)
            finally:
                with self._lock:
                    self._pending -= 1
                job.emit(DONE)

    def _run(self, job: Job) -> None:
        job.started_at = time.perf_counter()
        try:
            engine = self.ensure_loaded()
            with engine.interruptible(job.cancelled):  # a cancelled job stops even mid-prefill
                job.execute(engine)
        except EdgeError as exc:
            job.emit(exc)
        except Exception as exc:
            if job.cancelled.is_set():  # llama.cpp aborted a decode for a cancelled job: nobody waits
                return
            log.exception("generation on %s failed", self.name)  # a bug: keep the worker alive, report a 500
            job.emit(InternalServerError(f"generation failed: {type(exc).__name__}: {exc}"))

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive() and self.engine is not None and self._owns_engine:
            self.engine.close()
            self.engine = None


class ModelPool:
    """The models a server may load by name, each with its worker, created on first request.

    Names are the configured references (the first is the default) plus what `edgesplit
    models` lists; a request can never make the server open an arbitrary path.
    """

    def __init__(self, models: Sequence[str], profile: str | None, max_queue: int, threads: int | None = None,
                 loader: Loader = load_engine, engines: Mapping[str, Engine] | None = None,
                 max_loaded: int = 0) -> None:
        self.max_loaded = max_loaded  # 0: no limit
        self._engines = dict(engines or {})
        models = [*self._engines, *models]
        if not models:
            raise ModelNotFoundError("no model to serve: pass at least one model reference")
        self.profile, self.max_queue, self.threads, self._loader = profile, max_queue, threads, loader
        self._configured: dict[str, str] = {}
        for text in models:
            name = text if text in self._engines else resolve(text, verify=False).name
            self._configured.setdefault(name, text)
        self.default = next(iter(self._configured))
        self._workers: dict[str, ModelWorker] = {}
        self._lock = threading.Lock()
        for name in self._engines:  # already loaded: show them as such from the start
            self.worker(name)

    def available(self) -> dict[str, dict]:
        """Model id -> a description row (format, path, loaded)."""
        rows = {r["name"]: r for r in list_models() if not r.get("error")}
        out = {}
        for name in [*self._configured, *rows]:
            row = dict(rows.get(name, {"name": name}))
            worker = self._workers.get(name)
            row["loaded"] = bool(worker and worker.engine is not None)
            out[name] = row
        return out

    def worker(self, name: str | None) -> ModelWorker:
        name = name or self.default
        with self._lock:
            if name in self._workers:
                return self._workers[name]
        if name not in self._configured and name not in self.available():
            exc = ModelNotFoundError(
                f"model {name!r} is not served here; GET /v1/models lists the available ones "
                "(bundles go in $EDGESPLIT_HOME/models)"
            )
            exc.param = "model"  # type: ignore[attr-defined]  # shown as the OpenAI error's param
            raise exc
        with self._lock:
            if name not in self._workers:
                ref = self._configured.get(name, name)
                self._workers[name] = ModelWorker(name, ref, self.profile, self.max_queue, self.threads, self._loader,
                                                  self._engines.get(name), before_load=self._make_room)
            return self._workers[name]

    def _make_room(self, loading: ModelWorker) -> None:
        """Unload least-recently-used idle models so `loading` fits under max_loaded.

        Runs before the load, so peak memory never holds more than max_loaded models that we
        loaded; busy models are never unloaded (the limit is exceeded until they finish).
        """
        if self.max_loaded <= 0:
            return
        others = [w for w in self.workers() if w is not loading and w.engine is not None]
        excess = len(others) + 1 - self.max_loaded
        for worker in sorted((w for w in others if w.evictable), key=lambda w: w.last_used):
            if excess <= 0:
                break
            excess -= worker.unload()
        if excess > 0:
            log.warning("loading %s exceeds --max-loaded %d: the other models are busy", loading.name, self.max_loaded)

    def status(self) -> list[dict]:
        """The configured models and any other loaded one: loaded?, queue depth, backend."""
        with self._lock:
            workers = dict(self._workers)
        rows = []
        for name in dict.fromkeys([*self._configured, *workers]):
            w = workers.get(name)
            info = (w.info if w else None) or {}
            rows.append({"id": name, "loaded": bool(w and w.engine is not None), "queue_depth": w.depth if w else 0,
                         "backend": info.get("backend"), "threads": info.get("threads"),
                         "n_ctx": info.get("n_ctx"), "profile": info.get("profile")})
        return rows

    def workers(self) -> list[ModelWorker]:
        with self._lock:
            return list(self._workers.values())

    def close(self) -> None:
        for w in self.workers():
            w.close()


class ClientDisconnected(Exception):
    """The client went away; its job is cancelled and nothing more is sent."""


class Run:
    """The event-loop side of a submitted job: chunks with a deadline, cancelled when the client goes."""

    POLL_S = 0.25

    def __init__(self, job: Job, is_disconnected: Callable[[], Awaitable[bool]], timeout: float) -> None:
        self.job, self.timeout = job, timeout
        self._is_disconnected = is_disconnected
        self.deadline = time.monotonic() + timeout
        self.first_chunk_at: float | None = None

    async def next(self) -> Chunk | None:
        """The next chunk, or None when the job is done; raises the job's EdgeError."""
        try:
            return await self._next()
        except BaseException:  # a timeout, the client gone, or this task cancelled: stop the worker too
            self.job.cancel()
            raise

    async def _next(self) -> Chunk | None:
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.job.cancel()
                raise RequestTimeoutError(
                    f"the request took longer than {self.timeout:g} s (--timeout): ask for fewer "
                    "tokens, or retry when the server is less busy"
                )
            try:
                item = await asyncio.wait_for(self.job.out.get(), min(self.POLL_S, remaining))
            except TimeoutError:
                await self._check_client()
                continue
            if item is DONE:
                return None
            if isinstance(item, BaseException):
                raise item
            if self.first_chunk_at is None:
                self.first_chunk_at = time.perf_counter()
            await self._check_client()
            return item

    async def _check_client(self) -> None:
        if await self._is_disconnected():
            self.job.cancel()
            raise ClientDisconnected()

    async def collect(self) -> GenerationResult:
        """Wait for the whole answer."""
        result = None
        while (chunk := await self.next()) is not None:
            result = chunk.result or result
        if result is None:  # the worker stopped without a final chunk: only after a cancel
            raise InternalServerError("generation ended without a result")
        return result

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_chunk_at is None else self.first_chunk_at - self.job.queued_at
