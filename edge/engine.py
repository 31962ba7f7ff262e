"""The Engine: one API over every backend, and the only surface its consumers use.

    engine = Engine.load("default")
    print(engine.generate("The capital of France is", max_tokens=16).text)
    for chunk in engine.stream([{"role": "user", "content": "Hi"}]):
        print(chunk.text, end="")

Everything the server, the apps and cloud_bridge need is a method here: prompts (`render`,
`tokenize`), raw token ids (`encode`, `decode`, `is_end_of_generation`, `n_vocab`), generation with
a per-step `logits_hook`, logits (`next_token_logits`, `next_token_logprobs`), cancellation
(`interruptible`) and facts (`info`, `capabilities`, `backend_name`, `describe`). The backend object
itself stays private to edge/engine.py and edge/backends/.
"""

from __future__ import annotations

import codecs
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np

from . import chat
from .backends.base import (
    Backend,
    Capabilities,
    LogitsHook,
    ModelInfo,
    backend_for_format,
    load_backend_class,
)
from .errors import ContextOverflowError, InvalidRequestError
from .models import ModelRef, resolve
from .options import RuntimeOptions
from .sampling import SamplingParams, StopMatcher, log_softmax, top_logprobs
from .scoring import ScoreMemo, prefix_keys
from .speculate.stats import SpecStats

Prompt = str | Sequence[dict]  # text as is, or chat messages through the model's template
PromptOrIds = Prompt | list[int]  # ... or token ids the caller made with `tokenize`/`encode`


@dataclass
class Timings:
    ttft_ms: float = 0.0
    prefill_tok_s: float = 0.0
    decode_tok_s: float = 0.0
    total_ms: float = 0.0
    # per generated token, seconds since the previous one (for inter-token latency percentiles)
    itl_s: list[float] = field(default_factory=list, repr=False)


@dataclass
class TokenLogprob:
    """One generated token's log-probability and the top alternatives at that step."""

    token_id: int
    text: str
    logprob: float
    top: list[tuple[int, str, float]]


@dataclass
class GenerationResult:
    text: str
    token_ids: list[int]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"
    timings: Timings
    model: str
    backend: str
    logprobs: list[TokenLogprob] | None = None  # with SamplingParams(logprobs=k)
    speculation: SpecStats | None = None  # what speculative decoding did (None: it did not run)

    def parsed_json(self):
        return json.loads(self.text)

    def flat(self) -> dict:
        """The flat object `edgesplit run --json` prints."""
        t = self.timings
        # speculation's scalars as speculation_* keys (the object stays flat; the per-source counts stay out)
        spec = {} if self.speculation is None else {
            f"speculation_{k}": v for k, v in self.speculation.as_dict().items() if not isinstance(v, dict)}
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "ttft_ms": round(t.ttft_ms, 2),
                "prefill_tok_s": round(t.prefill_tok_s, 2), "decode_tok_s": round(t.decode_tok_s, 2),
                "total_ms": round(t.total_ms, 2), "finish_reason": self.finish_reason,
                "backend": self.backend, "model": self.model, **spec}


@dataclass
class Chunk:
    """A piece of streamed text; the last chunk carries `result` and `finish_reason`."""

    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    result: GenerationResult | None = None
    logprobs: list[TokenLogprob] | None = None


class Engine:
    def __init__(self, ref: ModelRef, backend: Backend, options: RuntimeOptions, profile=None) -> None:
        self.ref = ref
        self._backend = backend
        self.options = options
        self.profile = profile
        self._scores: ScoreMemo[TokenLogprob] = ScoreMemo()  # prompt_logprobs' scored positions

    @classmethod
    def load(cls, model: str | ModelRef = "default", profile=None, backend: str | None = None,
             options: RuntimeOptions | None = None) -> Engine:
        """Load `model` (`default`, a .gguf path or a bundle) on `backend` (chosen from the format).

        `profile` is a hardware profile name or object; its options apply unless `options` is given.
        """
        ref = model if isinstance(model, ModelRef) else resolve(model)
        prof = None
        if profile is not None:
            from .profiles import apply_profile

            prof, options = apply_profile(profile, ref, options)
        options = options or RuntimeOptions()
        name = backend or (prof.backend_for(ref.format) if prof else None) or backend_for_format(ref.format)
        impl = load_backend_class(name, ref.kind)
        return cls(ref, impl(ref, options), options, prof)

    # -- facts -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def backend_name(self) -> str:
        """The backend running the model: "llamacpp" or "onnxruntime"."""
        return self._backend.name

    @property
    def info(self) -> ModelInfo:
        """Architecture, context (loaded and trained), vocabulary size, special tokens."""
        return self._backend.info

    @property
    def capabilities(self) -> Capabilities:
        return self._backend.capabilities

    @property
    def n_vocab(self) -> int:
        return self._backend.info.n_vocab

    # -- token ids -------------------------------------------------------------------------
    def encode(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        """Token ids of `text` as is (no chat template); `special` parses special-token text."""
        return self._backend.tokenize(text, add_bos=add_bos, special=special)

    def decode(self, ids: Sequence[int], *, special: bool = False) -> str:
        """The text of `ids` (special tokens render as nothing unless `special`; broken UTF-8 as U+FFFD)."""
        return self.decode_bytes(ids, special=special).decode("utf-8", "replace")

    def decode_bytes(self, ids: Sequence[int], *, special: bool = False) -> bytes:
        """The raw bytes of `ids`: a token may hold part of a UTF-8 character."""
        return self._backend.detokenize(list(ids), special=special)

    def is_end_of_generation(self, token_id: int) -> bool:
        """True for the model's end-of-generation tokens (EOS, end-of-turn)."""
        return self._backend.is_end_of_generation(token_id)

    # -- prompts ---------------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees: a string as is, messages through the chat template."""
        if isinstance(prompt, str):
            if not prompt.strip():
                raise InvalidRequestError("the prompt is empty: give the model something to answer")
            return prompt
        info = self._backend.info
        return chat.render(prompt, info.chat_template, bos_token=info.bos_token, eos_token=info.eos_token)

    def tokenize(self, prompt: PromptOrIds) -> list[int]:
        """The prompt's token ids as the model gets them (template, BOS, special tokens); ids as is."""
        if _is_ids(prompt):
            return self._checked_ids(prompt)  # type: ignore[arg-type]
        text = self.render(prompt)  # type: ignore[arg-type]
        info = self._backend.info
        # a template that writes the BOS itself must not get a second one
        add_bos = info.add_bos and not (info.bos_token and text.startswith(info.bos_token))
        return self._backend.tokenize(text, add_bos=add_bos, special=True)

    def _checked_ids(self, ids: list[int]) -> list[int]:
        n = self.n_vocab
        if not ids:
            raise InvalidRequestError("the prompt is empty: give the model something to answer")
        bad = next((t for t in ids if not isinstance(t, int) or not 0 <= t < n), None)
        if bad is not None:
            raise InvalidRequestError(f"token id {bad!r} is outside the vocabulary (0..{n - 1})")
        return list(ids)

    def _check_context(self, n_prompt: int) -> None:
        n_ctx = self._backend.info.n_ctx
        if n_prompt >= n_ctx:
            raise ContextOverflowError(
                f"the prompt is {n_prompt} tokens but the context holds {n_ctx}: shorten it or load "
                f"with a larger context (--ctx, up to {self._backend.info.n_ctx_train or n_ctx})"
            )

    def _require(self, capability: str, what: str) -> None:
        if not getattr(self._backend.capabilities, capability):
            raise InvalidRequestError(f"backend {self._backend.name} {what}")

    # -- generation ------------------------------------------------------------------------
    def stream(self, prompt: PromptOrIds, *, logits_hook: LogitsHook | None = None, **kwargs) -> Iterator[Chunk]:
        """Yield text chunks as they are generated; the last one has the full result.

        `logits_hook(generated_ids, logits) -> logits` runs at every step before grammar masks and
        sampling (logit fusion, collaboration); keyword arguments are SamplingParams' (or `params=`).
        """
        params = kwargs.pop("params", None) or SamplingParams(**kwargs)
        if params.json_schema is not None:
            self._require("json_schema", "cannot constrain output to a JSON schema")
        if params.grammar is not None:
            self._require("json_schema", "cannot constrain output to a grammar")
        if params.logprobs:
            self._require("logprobs", "does not report per-token logprobs")
        if logits_hook is not None:
            self._require("logits_hook", "cannot run a per-step logits hook")
        ids = self.tokenize(prompt)
        self._check_context(len(ids))
        budget = min(params.max_tokens, self._backend.info.n_ctx - len(ids))
        return self._run(ids, params, budget, logits_hook)

    def _run(self, ids: list[int], params: SamplingParams, budget: int,
             hook: LogitsHook | None) -> Iterator[Chunk]:
        backend, decoder = self._backend, codecs.getincrementaldecoder("utf-8")("replace")
        stopper, out, pieces, itl = StopMatcher(params.stop), [], [], []
        quiet: list[int] = []  # tokens without text yet (part of a character, held by the stop matcher)
        all_lp: list[TokenLogprob] | None = [] if params.logprobs else None
        finish, hit_stop, t0 = "length", False, time.perf_counter()
        t_first = t_prev = t0
        gen = backend.generate(ids, params, hook)
        try:
            for tok in gen:
                now = time.perf_counter()
                if not itl:
                    t_first = now
                itl.append(now - t_prev)
                t_prev = now
                if backend.is_end_of_generation(tok) and not params.ignore_eos:
                    finish = "stop"
                    break
                out.append(tok)
                lp = None if all_lp is None else [self._token_logprob(tok, params.logprobs)]
                if lp:
                    all_lp.extend(lp)
                text, hit_stop = stopper.push(decoder.decode(backend.detokenize([tok])))
                quiet.append(tok)
                if text or lp:
                    pieces.append(text)
                    yield Chunk(text, quiet, logprobs=lp)
                    quiet = []
                if hit_stop:
                    finish = "stop"
                    break
                if len(out) >= budget:
                    break
        finally:
            gen.close()
        tail = ""
        if not hit_stop:  # after a stop sequence everything pending is past the stop: drop it
            held, _ = stopper.push(decoder.decode(b"", final=True))
            tail = held + stopper.flush()
        if tail:
            pieces.append(tail)
        timings = _timings(len(ids), t0, t_first, t_prev, itl)
        result = GenerationResult("".join(pieces), out, len(ids), len(out), finish, timings,
                                  self.ref.name, backend.name, all_lp, backend.speculation)
        yield Chunk(tail, quiet, finish, result)  # every generated id is in exactly one chunk

    def _token_logprob(self, token: int, k: int) -> TokenLogprob:
        lp = log_softmax(self._backend.last_logits)
        return TokenLogprob(token, self.token_text(token), float(lp[token]),
                            [(i, self.token_text(i), v) for i, v in top_logprobs(lp, k)])

    def generate(self, prompt: PromptOrIds, *, logits_hook: LogitsHook | None = None, **kwargs) -> GenerationResult:
        """Generate a whole answer; see `stream` and SamplingParams for the keyword arguments."""
        result = None
        for chunk in self.stream(prompt, logits_hook=logits_hook, **kwargs):
            result = chunk.result or result
        assert result is not None  # the last chunk always carries the result
        return result

    # -- logits for collaboration ----------------------------------------------------------
    def next_token_logits(self, prompt: PromptOrIds) -> np.ndarray:
        """Raw next-token logits (n_vocab floats) after `prompt`; the cached prefix is reused."""
        self._require("logits", "does not expose logits")
        ids = self.tokenize(prompt)
        self._check_context(len(ids))
        return self._backend.next_token_logits(ids)

    def next_token_logprobs(self, prompt: PromptOrIds, top_k: int = 20) -> list[tuple[int, float]]:
        """Top-k (token id, log-probability) of the next token after `prompt`."""
        return top_logprobs(log_softmax(self.next_token_logits(prompt)), top_k)

    def prompt_logprobs(self, prompt: PromptOrIds, top_k: int = 5,
                        check: Callable[[], None] | None = None) -> list[TokenLogprob | None]:
        """Score a prompt: each token's logprob given the tokens before it, with the top-k there
        (token texts render special tokens, so they add up to the prompt text).

        The first token has no context (None). Each position is what `next_token_logprobs` gives at
        that prefix; positions scored before (a prompt that extends an earlier one) are remembered,
        the others computed one at a time on the cached prefix. `check` runs before each position
        (a cancelled request raises there).
        """
        ids = self.tokenize(prompt)
        self._check_context(len(ids))
        out: list[TokenLogprob | None] = [None]
        keys = list(prefix_keys(ids, top_k))
        for j in range(1, len(ids)):
            if (hit := self._scores.get(keys[j])) is not None:
                out.append(hit)
                continue
            if check is not None:
                check()
            lp = log_softmax(self._backend.next_token_logits(ids[:j]))
            item = TokenLogprob(ids[j], self.token_text(ids[j], special=True), float(lp[ids[j]]),
                                [(i, self.token_text(i), v) for i, v in top_logprobs(lp, top_k)])
            self._scores.put(keys[j], item)
            out.append(item)
        return out

    def logprobs(self, prompt: PromptOrIds, top_k: int = 20) -> list[tuple[int, float]]:
        return self.next_token_logprobs(prompt, top_k)

    def token_text(self, token_id: int, *, special: bool = False) -> str:
        return self.decode([token_id], special=special)

    def interruptible(self, cancelled: threading.Event) -> AbstractContextManager[None]:
        """A block in which setting `cancelled` stops even a running forward pass (a long prefill).

        Between tokens callers check their own flag; backends without the capability stop there.
        """
        if not self._backend.capabilities.interruptible:
            return nullcontext()
        return self._backend.interruptible(cancelled)

    def describe(self) -> dict:
        info = self._backend.info
        return {"model": self.ref.name, "path": str(self.ref.path), "format": self.ref.format,
                "backend": self._backend.name, **{k: v for k, v in asdict(info).items() if k != "chat_template"},
                "threads": self.options.threads, "profile": getattr(self.profile, "name", None)}

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_ids(prompt) -> bool:
    return isinstance(prompt, list) and (not prompt or isinstance(prompt[0], int))


def _timings(n_prompt: int, t0: float, t_first: float, t_last: float, itl: list[float]) -> Timings:
    """Wall-clock timings: TTFT covers prefill and the first token; decode spans first to last token."""
    ttft = t_first - t0
    decode_s = t_last - t_first
    return Timings(
        ttft_ms=ttft * 1000,
        prefill_tok_s=n_prompt / ttft if ttft > 0 else 0.0,
        decode_tok_s=(len(itl) - 1) / decode_s if len(itl) > 1 and decode_s > 0 else 0.0,
        total_ms=(t_last - t0) * 1000,
        itl_s=itl[1:],
    )
