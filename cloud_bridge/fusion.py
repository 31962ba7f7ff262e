"""Logit collaboration: the fusion rule, the CoGenesis schedule and the tokenizer check.

Fusion rule (weighted log-linear over the union of the two top-k lists): for every token t in
U = topk_local ∪ topk_cloud,

    s(t) = (1 - w) * lp_local(t) + w * lp_cloud(t)

where a token missing from one side's top-k gets that side's k-th (smallest listed) logprob, an
upper bound on its true value. `s` is renormalised over U (log-sum-exp); the next token is the
argmax at temperature 0, else a draw from softmax(s / temperature). w = 0 is the local model
alone, w = 1 the cloud alone; the default 0.5 is a product of experts.

Schedule (CoGenesis): fuse the first P steps, then repeat blocks of K local-only steps followed by
T fused steps. Steps that are not fused cost no network call.

Tokenizer check: fusion needs both models to mean the same thing by a token id. The cloud's
`/tokenize` endpoint (llama.cpp server, vLLM) tokenizes fixed public probe strings; the
fingerprint is the sha256 of the JSON list of id lists. It must equal the local one, else
logit mode falls back to sketch mode.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edge import Engine

from .client import CloudClient
from .errors import CloudError, LedgerDamagedError, LedgerError

PROBES = (
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "naïve café, Zürich, 東京, emoji 🙂 and ümlauts",
    "def f(x):\n    return x ** 2  # 0123456789",
    "  leading spaces,\ttabs and CamelCaseWords",
)


@dataclass(frozen=True)
class Schedule:
    """Fuse steps [0, prefix); then in each block of `local + fused` steps, the last `fused`."""

    cloud_weight: ClassVar[float] = 0.5  # CoGenesis' even product of the two distributions
    prefix: int = 8
    local: int = 8
    fused: int = 2

    def __post_init__(self) -> None:
        if min(self.prefix, self.local, self.fused) < 0:
            raise ValueError("schedule values must be >= 0")

    def is_fused(self, step: int) -> bool:
        if step < self.prefix:
            return True
        block = self.local + self.fused
        return block > 0 and (step - self.prefix) % block >= self.local

    def consult(self, step: int, local_logprobs: np.ndarray | None = None) -> bool:
        """The StepPolicy form (see cloud_bridge.policies): the schedule ignores uncertainty."""
        return self.is_fused(step)


def fuse(local: dict[int, float], cloud: dict[int, float], weight: float = 0.5) -> dict[int, float]:
    """Fused, renormalised log-probabilities over the union of both top-k lists."""
    if not cloud:
        return dict(local)
    if not local:
        return dict(cloud)
    floor_l, floor_c = min(local.values()), min(cloud.values())
    scores = {t: (1 - weight) * local.get(t, floor_l) + weight * cloud.get(t, floor_c)
              for t in local.keys() | cloud.keys()}
    top = max(scores.values())
    lse = top + math.log(sum(math.exp(s - top) for s in scores.values()))
    return {t: s - lse for t, s in scores.items()}


def _local_ids(engine: Engine, text: str) -> list[int]:
    return engine.encode(text)


def fingerprint(id_lists: list[list[int]]) -> str:
    return hashlib.sha256(json.dumps(id_lists).encode()).hexdigest()


def local_fingerprint(engine: Engine) -> str:
    return fingerprint([_local_ids(engine, p) for p in PROBES])


def tokenizers_match(engine: Engine, client: CloudClient) -> tuple[bool, str]:
    """(match?, reason). Probe strings are public constants: nothing private is sent."""
    try:  # the endpoint's tokenizer does not change between answers: probe it once per client
        remote = client.tokenizer_fingerprint or fingerprint(
            [client.tokenize(p, "cogenesis logits: tokenizer check (fixed probe string)") for p in PROBES])
    except LedgerDamagedError:
        raise  # a damaged ledger is the user's to see, not a reason to try another mode
    except (CloudError, LedgerError) as exc:
        return False, f"cannot compare tokenizers ({exc})"
    client.tokenizer_fingerprint = remote
    local = local_fingerprint(engine)
    if remote != local:
        return False, f"the cloud tokenizer differs (fingerprint {remote[:12]} vs local {local[:12]})"
    return True, f"tokenizers match (fingerprint {local[:12]})"


class TokenMap:
    """Cloud top-logprob token strings -> local ids (valid only once the tokenizers match)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_text: dict[str, int] | None = None

    def _table(self) -> dict[str, int]:
        if self._by_text is None:
            table: dict[str, int] = {}
            for i in range(self.engine.n_vocab):
                table.setdefault(self.engine.token_text(i), i)
            self._by_text = table
        return self._by_text

    def to_ids(self, top: dict[str, float]) -> dict[int, float]:
        table, out = self._table(), {}
        for text, lp in top.items():
            tid = table.get(text)
            if tid is None:
                ids = _local_ids(self.engine, text)
                tid = ids[0] if len(ids) == 1 else None
            if tid is not None and tid not in out:
                out[tid] = lp
        return out
