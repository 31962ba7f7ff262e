"""Batched verification's runs: the tokens one cloud call judges, drafted by either side.

- `local`: the local model drafts up to n tokens greedily; one `/v1/completions` echo call scores
  the drafted text at every token boundary. Pays where the fused pick mostly is the local model's
  own (sparse consults: a schedule, a gate).
- `cloud`: the cloud continues the text greedily for up to n tokens and returns its top-k at each
  (one plain completion call, no echo needed); the local model scores those tokens itself. Pays
  where the fused pick mostly is the cloud's (dense consults, a cloud-heavy weight).
- `tree`: the local model's likeliest continuations, each consulted node's prompt listed in one
  call (`cloud_bridge.tree`). Pays where the fused pick is often the local model's second or third
  choice (a weak local model fused at every step); costs more bytes per call.
- `auto` (default): counts tokens kept per call for local and cloud runs and drafts with the
  better one, trying the other now and then.

A run position is used only where the per-token path would have sent exactly the same text and the
cloud saw exactly the same tokens; the run is cut at the first position where that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edge.errors import InvalidRequestError
from edge.sampling import log_softmax

if TYPE_CHECKING:
    from .logit_mode import LogitSession
    from .pseudonym import Pseudonymizer

PURPOSE_CLOUD_RUN = "cogenesis logits: the cloud continues a context-free prompt, with its top-k per token"
DRAFTS = ("auto", "local", "cloud", "tree")


def check_draft(name: str) -> None:
    if name not in DRAFTS:
        raise InvalidRequestError(f"unknown draft source {name!r}; known: {', '.join(DRAFTS)}")


@dataclass
class Run:
    source: str  # "local" | "cloud"
    tokens: list[int | None]  # the drafted tokens (None: a last position with no usable candidate)
    row: Callable[[int], np.ndarray]  # the local logprobs at position i
    clouds: dict[int, dict[int, float] | None]  # the cloud's top-k where known (None: not to be sent)
    ended: bool = False  # the local draft stopped at an end of generation

    @property
    def local(self) -> bool:
        """True when each drafted token is the local model's own greedy choice."""
        return self.source == "local"


def local_run(s: LogitSession, out: list[int]) -> Run:
    """Draft locally, then score the run's consulted steps with one echo call."""
    rows: list[np.ndarray] = []

    def record(generated: list[int], logits: np.ndarray) -> np.ndarray:
        rows.append(log_softmax(logits))
        return logits

    n = min(s.opts.batch, s.opts.max_tokens - len(out))
    run = s.engine.generate(s.local_prompt + out, max_tokens=n, temperature=0.0, top_k=s.opts.top_k, top_p=1.0,
                            logits_hook=record)
    eog = run.finish_reason == "stop"
    # at an end-of-generation step the drafted token is the local argmax, an EOG id
    chosen = run.token_ids + ([int(np.argmax(rows[-1]))] if eog and len(rows) > len(run.token_ids) else [])
    steps = [i for i in range(len(chosen)) if s.consult(len(out) + i, rows[i])]
    return Run("local", list(chosen), rows.__getitem__, s.score_run(out, chosen, steps), ended=eog)


def cloud_run(s: LogitSession, out: list[int]) -> Run | None:
    """The cloud's own continuation as the run; None where it cannot be had (then draft locally)."""
    from .logit_mode import FAILED

    trial = s.cg.pseud.fork()  # the run's future steps must not teach the conversation's mapping
    base = s.outbound(out, trial)
    n = min(s.opts.batch, s.opts.max_tokens - len(out))
    if base is None or s.res.cloud_error is not None or n <= 0:
        return None
    got = s.ask(base, lambda c, p: c.continuation(p, n, s.opts.top_k, PURPOSE_CLOUD_RUN))
    if got is FAILED:
        return None
    tokens, clouds = _aligned(s, out, base, got, trial)  # type: ignore[arg-type]
    if not tokens:
        return None
    cache: dict[int, np.ndarray] = {}

    def row(i: int) -> np.ndarray:  # scored lazily: the walk often stops early
        if i not in cache:
            cache[i] = log_softmax(s.engine.next_token_logits(s.local_prompt + out + tokens[:i]))  # type: ignore[operator]
        return cache[i]

    return Run("cloud", tokens, row, clouds)


def _aligned(s: LogitSession, out: list[int], base: str, got: list[tuple[str, dict[str, float]]],
             trial: Pseudonymizer) -> tuple[list[int | None], dict[int, dict[int, float] | None]]:
    """The run's local ids and the cloud's top-k per position, up to the first position the
    per-token path would have asked about differently (other text or other tokens)."""
    head = s.engine.tokenize(base)
    ids: list[int] = []
    clouds: dict[int, dict[int, float] | None] = {}
    text = ""
    for i, (piece, top) in enumerate(got):
        sent = s.outbound(out + ids, trial) if i else base  # None: a step per-token fusion would not send
        if (sent is not None and (sent != base + text or s.refused(sent))) or \
                (i and s.engine.tokenize(base + text) != head + ids):
            break  # a refused text: per-token fusion's call there fails, so the run may not judge it
        clouds[i] = None if sent is None else s.tokens.to_ids(top)
        tok = s.tokens.to_ids({piece: 0.0})
        if not tok:
            return [*ids, None], clouds
        ids.append(next(iter(tok)))
        text += piece
    return list(ids[:len(clouds)]), clouds


@dataclass
class DraftChooser:
    """Which side drafts the next run: fixed, or (auto) the one that kept more tokens per call."""

    mode: str = "auto"
    batch: int = 8
    probe_every: int = 8  # rounds between tries of the side not chosen
    _tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRAFTS[1:], 0))
    _calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRAFTS[1:], 0))
    _rounds: int = 0

    def pick(self) -> str:
        if self.mode != "auto":
            return self.mode
        self._rounds += 1
        if not self._calls["local"]:
            return "local"  # local runs without a consulted step cost no call: start there
        if self.rate("local") >= self.batch:
            return "local"  # a cloud run keeps at most `batch` tokens per call: it cannot do better
        if not self._calls["cloud"]:
            return "cloud"
        best = max(("local", "cloud"), key=self.rate)
        other = "cloud" if best == "local" else "local"
        return other if self._rounds % self.probe_every == 0 else best

    def rate(self, source: str) -> float:
        return self._tokens[source] / self._calls[source] if self._calls[source] else float("inf")

    def record(self, source: str, tokens: int, calls: int) -> None:
        self._tokens[source] += tokens
        self._calls[source] += calls
