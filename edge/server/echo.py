"""`/v1/completions` with `echo`: the prompt comes back scored, token by token.

With `logprobs: k` every prompt token gets its logprob given the tokens before it and the top-k
there (the first token: null), in the legacy completions layout vLLM and OpenAI use; `max_tokens: 0`
only scores. Collaboration verifies a whole locally drafted run with one such call. The work runs on
the model's worker (queue, --timeout, cancellation between positions) like every generation. A list of
prompts is answered one choice per prompt, in order (a drafted tree's paths in one call).
"""

from __future__ import annotations

import time
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse

from ..engine import Engine, GenerationResult, TokenLogprob
from ..sampling import SamplingParams
from .app_models import run_on_model
from .schemas import CompletionRequest
from .settings import state_of


def _columns(items: list[TokenLogprob | None], start: int = 0, first: str = "") -> tuple[dict, int]:
    """Legacy logprobs columns for `items`, text offsets counted from `start`; `first`: the text of
    an unscored first token."""
    cols: dict[str, list] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    pos = start
    for item in items:
        cols["text_offset"].append(pos)
        if item is None:  # the first prompt token has no context to be scored in
            cols["tokens"].append(first)
            cols["token_logprobs"].append(None)
            cols["top_logprobs"].append(None)
            pos += len(first)
            continue
        cols["tokens"].append(item.text)
        cols["token_logprobs"].append(item.logprob)
        # reversed: when two ids share a text, the likelier one is written last and kept
        cols["top_logprobs"].append({s: lp for _, s, lp in reversed(item.top)})
        pos += len(item.text)
    return cols, pos


def _score(engine: Engine, prompt: str, k: int, generate: bool,
           params: SamplingParams) -> tuple[list[TokenLogprob | None], str, GenerationResult | None]:
    ids = engine.tokenize(prompt)  # once: scoring and the completion take the ids as they are
    scored = engine.prompt_logprobs(ids, top_k=k)
    info = engine.info  # a BOS the tokenizer added is not in the prompt's text: it takes no characters
    added_bos = info.add_bos and not (info.bos_token and prompt.startswith(info.bos_token))
    first = "" if added_bos else engine.token_text(ids[0], special=True)
    return scored, first, engine.generate(ids, params=params) if generate else None


async def echo_completion(request: Request, body: CompletionRequest, params: SamplingParams) -> JSONResponse:
    k, generate = body.n_logprobs(), body.max_tokens != 0
    choices, n_prompt, n_completion, name = [], 0, 0, state_of(request).pool.worker(body.model).name
    for index, prompt in enumerate(body.prompts()):  # one after another on the worker, as separate requests
        scored, first, result = await run_on_model(
            request, lambda e, p=prompt: _score(e, p, k, generate, params), model=body.model)
        choice, completion = _choice(index, prompt, scored, first, result, body.logprobs is not None)
        choices.append(choice)
        n_prompt, n_completion = n_prompt + len(scored), n_completion + completion
    return JSONResponse({
        "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
        "model": name, "choices": choices,
        "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_completion, "total_tokens": n_prompt + n_completion},
    })


def _choice(index: int, prompt: str, scored: list[TokenLogprob | None], first: str, result: GenerationResult | None,
            with_logprobs: bool) -> tuple[dict, int]:
    """One echoed prompt's choice (the prompt, then what was generated after it) and its completion tokens."""
    text, finish, completion = prompt, "length", 0
    logprobs = None
    if with_logprobs:
        logprobs, end = _columns(scored, first=first)
    if result is not None:
        text, finish, completion = prompt + result.text, result.finish_reason, result.completion_tokens
        if logprobs is not None:
            more, _ = _columns(list(result.logprobs or []), end)
            for key in logprobs:
                logprobs[key] += more[key]
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}, completion
