"""The OpenAI-compatible routes: `/v1/models`, `/v1/chat/completions`, `/v1/completions`.

Streaming answers are server-sent events ending with `data: [DONE]`. A request that fails before
its first token gets a plain HTTP error; one that fails mid-stream gets an `{"error": ...}` event.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from .. import __version__
from ..chat import check_messages
from ..engine import GenerationResult, Prompt, TokenLogprob
from ..errors import EdgeError, ModelNotFoundError
from ..sampling import SamplingParams
from .echo import echo_completion
from .errors import QueueFullError, RequestTimeoutError, edge_error_body
from .schemas import ChatCompletionRequest, CompletionRequest, TokenizeRequest
from .settings import ServerState, state_of
from .workers import ClientDisconnected, Job, Run

router = APIRouter(tags=["openai"])
FINGERPRINT = f"edgesplit-{__version__}"


@dataclass(frozen=True)
class Meta:
    id: str
    created: int
    model: str


@dataclass(frozen=True)
class Shape:
    """How one endpoint lays out its answers (chat messages or plain text)."""

    prefix: str
    object: str
    chunk_object: str
    chat: bool

    def choice(self, text: str, finish: str | None, streaming: bool, logprobs: list | None = None) -> dict:
        lp = self.logprobs(logprobs) if logprobs else None
        if not self.chat:
            return {"index": 0, "text": text, "logprobs": lp, "finish_reason": finish}
        key, body = ("delta", {"content": text} if text else {}) if streaming else (
            "message", {"role": "assistant", "content": text})
        return {"index": 0, key: body, "logprobs": lp, "finish_reason": finish}

    def logprobs(self, items: list[TokenLogprob]) -> dict:
        """OpenAI's layout: the chat `content` list, or the legacy completions columns."""
        if self.chat:
            return {"content": [{"token": t.text, "logprob": t.logprob, "bytes": list(t.text.encode()),
                                 "top_logprobs": [{"token": s, "logprob": lp, "bytes": list(s.encode())}
                                                  for _, s, lp in t.top]} for t in items]}
        offsets, pos = [], 0
        for t in items:
            offsets.append(pos)
            pos += len(t.text)
        return {"tokens": [t.text for t in items], "token_logprobs": [t.logprob for t in items],
                # reversed: when two ids share a text, the likelier one is written last and kept
                "top_logprobs": [{s: lp for _, s, lp in reversed(t.top)} for t in items], "text_offset": offsets}

    def envelope(self, meta: Meta, choices: list[dict], streaming: bool) -> dict:
        return {"id": meta.id, "object": self.chunk_object if streaming else self.object, "created": meta.created,
                "model": meta.model, "system_fingerprint": FINGERPRINT, "choices": choices}


CHAT = Shape("chatcmpl", "chat.completion", "chat.completion.chunk", chat=True)
TEXT = Shape("cmpl", "text_completion", "text_completion", chat=False)


def usage(result: GenerationResult) -> dict:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


def timings(result: GenerationResult) -> dict:
    """edgesplit extension (llama.cpp's server reports the same): wall-clock timings."""
    t = result.timings
    return {"ttft_ms": round(t.ttft_ms, 2), "prefill_tok_s": round(t.prefill_tok_s, 2),
            "decode_tok_s": round(t.decode_tok_s, 2), "total_ms": round(t.total_ms, 2)}


def _event(obj: dict | str) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n"


# -- routes ----------------------------------------------------------------------------------
@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    """The models this server can answer with (loaded on first use)."""
    st = state_of(request)
    rows = await run_in_threadpool(st.pool.available)
    return {"object": "list", "data": [_model_card(st, name, row) for name, row in rows.items()]}


@router.get("/v1/models/{model_id}")
async def get_model(model_id: str, request: Request) -> dict:
    st = state_of(request)
    rows = await run_in_threadpool(st.pool.available)
    if model_id not in rows:
        raise ModelNotFoundError(f"model {model_id!r} is not served here; GET /v1/models lists the available ones")
    return _model_card(st, model_id, rows[model_id])


def _model_card(st: ServerState, name: str, row: dict) -> dict:
    return {"id": name, "object": "model", "created": int(st.started), "owned_by": "edgesplit",
            "format": row.get("format"), "quantization": row.get("quantization"), "loaded": row["loaded"],
            "default": name == st.pool.default}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> JSONResponse | StreamingResponse:
    """Answer a conversation (OpenAI chat completions), optionally streamed and JSON-constrained."""
    st = state_of(request)
    messages = check_messages(body.plain_messages())
    params = body.sampling(st.settings.max_tokens_limit, st.settings.max_tokens_limit)
    return await _respond(request, body.model, messages, params, CHAT, body.stream, body.include_usage)


@router.post("/v1/completions", response_model=None)
async def completions(body: CompletionRequest, request: Request) -> JSONResponse | StreamingResponse:
    """Continue a raw prompt (OpenAI legacy completions), without the chat template."""
    st = state_of(request)
    params = body.sampling(st.settings.max_tokens_limit, st.settings.completion_default_tokens)
    if body.echo:
        return await echo_completion(request, body, params)
    if len(prompts := body.prompts()) > 1:
        return await _respond_many(request, body.model, prompts, params)
    return await _respond(request, body.model, body.prompt_text(), params, TEXT, body.stream, body.include_usage)


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> dict:
    """Token ids of `content` (llama.cpp server's route; cloud_bridge's logit mode compares tokenizers)."""
    worker = state_of(request).pool.worker(body.model)

    def ids() -> list[int]:
        with worker.lease() as engine:
            return engine.encode(body.content, add_bos=body.add_special)

    return {"tokens": await run_in_threadpool(ids), "model": worker.name}


# -- one generation ----------------------------------------------------------------------------
async def _start(request: Request, model: str | None, prompt: Prompt, params: SamplingParams) -> tuple[Job, Run, str]:
    """Queue one generation on the model's worker; (job, its run, the worker's name)."""
    st = state_of(request)
    worker = st.pool.worker(model)
    job = Job(prompt, params, asyncio.get_running_loop())
    try:
        worker.submit(job)
    except QueueFullError as exc:
        _reject(st, worker.name, exc)
        raise
    return job, Run(job, request.is_disconnected, st.settings.timeout_s), worker.name


async def _respond(request: Request, model: str | None, prompt: Prompt, params: SamplingParams, shape: Shape,
                   stream: bool, include_usage: bool) -> JSONResponse | StreamingResponse:
    st = state_of(request)
    job, run, name = await _start(request, model, prompt, params)
    meta = Meta(f"{shape.prefix}-{uuid.uuid4().hex}", int(time.time()), name)
    try:
        first = await run.next()  # errors before the first token become a plain HTTP error
        if stream:
            sse = _sse(st, run, first, meta, shape, include_usage)
            return StreamingResponse(sse, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        result = first.result if first is not None and first.result else await run.collect()
    except (EdgeError, ClientDisconnected) as exc:
        job.cancel()
        _reject(st, name, exc)
        raise
    _record(st, name, result, run)
    body = shape.envelope(meta, [shape.choice(result.text, result.finish_reason, False, result.logprobs)], False)
    return JSONResponse({**body, "usage": usage(result), "timings": timings(result)})


async def _respond_many(request: Request, model: str | None, prompts: list[str], params: SamplingParams) -> JSONResponse:
    """One choice per prompt, each generated as its own request would be (one after another, same queue)."""
    st, choices, results = state_of(request), [], []
    for index, prompt in enumerate(prompts):
        job, run, name = await _start(request, model, prompt, params)
        try:
            result = await run.collect()
        except (EdgeError, ClientDisconnected) as exc:
            job.cancel()
            _reject(st, name, exc)
            raise
        _record(st, name, result, run)
        results.append(result)
        choices.append({**TEXT.choice(result.text, result.finish_reason, False, result.logprobs), "index": index})
    meta = Meta(f"{TEXT.prefix}-{uuid.uuid4().hex}", int(time.time()), name)
    total = {k: sum(usage(r)[k] for r in results) for k in usage(results[0])}
    return JSONResponse({**TEXT.envelope(meta, choices, False), "usage": total})


async def _sse(st: ServerState, run: Run, first, meta: Meta, shape: Shape, include_usage: bool) -> AsyncIterator[str]:
    completed = False
    try:
        if shape.chat:
            yield _event(shape.envelope(meta, [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                "logprobs": None, "finish_reason": None}], True))
        result, chunk = None, first
        try:
            while chunk is not None:
                if chunk.text or chunk.logprobs:
                    yield _event(shape.envelope(meta, [shape.choice(chunk.text, None, True, chunk.logprobs)], True))
                result = chunk.result or result
                chunk = await run.next()
        except EdgeError as exc:
            _reject(st, meta.model, exc)
            yield _event(edge_error_body(exc))
        else:
            if result is not None:
                _record(st, meta.model, result, run)
                final = shape.envelope(meta, [shape.choice("", result.finish_reason, True)], True)
                yield _event({**final, "timings": timings(result)})
                if include_usage:
                    yield _event({**shape.envelope(meta, [], True), "usage": usage(result)})
        completed = True
        yield _event("[DONE]")
    except ClientDisconnected:
        pass
    finally:
        run.job.cancel()  # a no-op once finished; otherwise stops the worker at the next token
        if not completed:  # the client left (seen by us, or by Starlette cancelling this generator)
            _reject(st, meta.model, ClientDisconnected())


def _record(st: ServerState, model: str, result: GenerationResult, run: Run) -> None:
    m = st.metrics
    with m.lock:
        m.tokens.inc((model, "prompt"), result.prompt_tokens)
        m.tokens.inc((model, "completion"), result.completion_tokens)
        m.generations.inc((model, result.finish_reason))
        m.completion_tokens.observe((model,), result.completion_tokens)
        if run.ttft_s is not None:
            m.ttft.observe((model,), run.ttft_s)


def _reject(st: ServerState, model: str, exc: BaseException) -> None:
    reason = {QueueFullError: "queue_full", RequestTimeoutError: "timeout",
              ClientDisconnected: "disconnect"}.get(type(exc))
    if reason is not None:
        with st.metrics.lock:
            st.metrics.rejected.inc((model, reason))
