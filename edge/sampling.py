"""Sampling parameters, a numpy sampler with llama.cpp's semantics, and stop-string matching.

Every backend shares these so that `temperature`, `top_k`, `top_p`, `seed` and `stop` mean the
same thing on llama.cpp and ONNX Runtime: top-k, then top-p, then temperature, then a draw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import InvalidRequestError, SchemaError

if TYPE_CHECKING:
    from .constrain.grammar import Grammar


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict | None = field(default=None, hash=False)
    logprobs: int = 0  # > 0: report that many top alternatives (with log-probabilities) per token
    ignore_eos: bool = False  # keep going past end-of-generation tokens (benchmarks: exactly max_tokens)
    # a grammar in the constrain IR, for output that is not JSON (e.g. a script language)
    grammar: Grammar | None = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise InvalidRequestError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not 0.0 <= self.temperature <= 5.0:
            raise InvalidRequestError(f"temperature must be in [0, 5], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise InvalidRequestError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0 <= self.logprobs <= 20:
            raise InvalidRequestError(f"logprobs must be between 0 and 20, got {self.logprobs}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        stop = tuple(self.stop or ())
        if any(not isinstance(s, str) or not s for s in stop):
            raise InvalidRequestError("stop sequences must be non-empty strings")
        object.__setattr__(self, "stop", stop)
        if self.json_schema is not None:  # compiled (and cached) now, so a bad schema never reaches a worker
            from .constrain.schema import compile_schema

            compile_schema(self.json_schema)
        if self.grammar is not None:
            _check_grammar(self.grammar, self.json_schema)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def _check_grammar(grammar: object, json_schema: dict | None) -> None:
    from .constrain.check import check_grammar
    from .constrain.grammar import Grammar

    if not isinstance(grammar, Grammar):
        raise InvalidRequestError(f"grammar must be an edge.constrain.Grammar, got {type(grammar).__name__}")
    if json_schema is not None:
        raise InvalidRequestError("give either json_schema or grammar, not both")
    check_grammar(grammar)  # the same safety bounds as compiled schemas, before llama.cpp sees it


def check_json_schema(schema: object) -> None:
    """Raise SchemaError unless `schema` is a valid JSON Schema object."""
    import jsonschema

    if not isinstance(schema, dict):
        raise SchemaError(f"a JSON schema must be an object, got {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"invalid JSON schema: {exc.message}") from None


def load_json_schema(text: str, origin: str = "schema") -> dict:
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{origin} is not valid JSON: {exc}") from None
    check_json_schema(schema)
    return schema


class TokenConstraint(Protocol):
    """Which tokens may come next (a grammar state): one token's verdict, or the whole mask."""

    def allows(self, token_id: int) -> bool: ...

    def mask(self) -> np.ndarray: ...


Allowed = np.ndarray | TokenConstraint | None  # a boolean mask over the logits, a constraint, or free


def as_mask(allowed: Allowed) -> np.ndarray | None:
    return allowed if allowed is None or isinstance(allowed, np.ndarray) else allowed.mask()


def constrain_logits(logits: np.ndarray, allowed: Allowed, greedy: bool) -> np.ndarray:
    """Logits with the refused tokens at -inf; greedy and an allowed argmax: the logits as they are
    (the pick is the same, and no mask is built)."""
    if allowed is None:
        return logits
    if greedy and not isinstance(allowed, np.ndarray) and allowed.allows(int(np.argmax(logits))):
        return logits
    return np.where(as_mask(allowed), logits, -np.inf)


class Sampler:
    """Picks the next token from logits: top-k -> top-p -> temperature -> draw (llama.cpp order)."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    def __call__(self, logits: np.ndarray, allowed: Allowed = None) -> int:
        if self.params.greedy:
            return int(np.argmax(constrain_logits(np.asarray(logits, dtype=np.float32), allowed, True)))
        ids, probs = self.distribution(logits, allowed)
        return int(ids[self.rng.choice(len(ids), p=probs)])

    def distribution(self, logits: np.ndarray, allowed: Allowed = None) -> tuple[np.ndarray, np.ndarray]:
        """The (token ids, probabilities) a non-greedy draw picks from (speculative sampling needs them)."""
        logits = np.asarray(logits, dtype=np.float32)
        allowed = as_mask(allowed)  # top-k/top-p come after the constraint: the whole mask is needed
        if allowed is not None:  # a token-level constraint masks everything else
            logits = np.where(allowed, logits, -np.inf)
        ids = np.flatnonzero(np.isfinite(logits))
        vals = logits[ids]
        k = self.params.top_k
        if 0 < k < len(ids):
            keep = np.argpartition(-vals, k - 1)[:k]
            ids, vals = ids[keep], vals[keep]
        order = np.argsort(-vals, kind="stable")
        ids, vals = ids[order], vals[order]
        probs = _softmax(vals)
        if self.params.top_p < 1.0:
            cut = int(np.searchsorted(np.cumsum(probs), self.params.top_p)) + 1
            ids, vals = ids[:cut], vals[:cut]
        return ids, _softmax(vals / self.params.temperature)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def top_logprobs(logprobs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k most likely (token id, logprob), most likely first (lowest id first on ties)."""
    top = np.argpartition(-logprobs, min(k, len(logprobs) - 1))[:k]
    top = top[np.lexsort((top, -logprobs[top]))]
    return [(int(i), float(logprobs[i])) for i in top]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


class StopMatcher:
    """Streams text while holding back any tail that could still become a stop sequence."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.pending = ""
        self.hold = max((len(s) for s in self.stops), default=1) - 1

    def push(self, text: str) -> tuple[str, bool]:
        """Add text; return (text safe to emit, whether a stop sequence was hit)."""
        if not self.stops:
            return text, False
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        cut = max(0, len(self.pending) - self.hold)
        # only hold back a tail that is a real prefix of some stop string
        while cut < len(self.pending) and not any(s.startswith(self.pending[cut:]) for s in self.stops):
            cut += 1
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
