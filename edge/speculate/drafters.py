"""Draft-free drafters: guesses of the next tokens that cost no model pass.

- `NgramDrafter` (prompt lookup): find the latest earlier occurrence of the last n tokens in the
  prompt + text so far and propose what followed it. Grounded text (rewrites, JSON field names,
  element names in scripts) repeats the prompt, so these drafts are often right.
- `RecycleDrafter` (Token Recycling): a table token -> the model's own recent top candidates
  after that token (the token the verifier chose after it, newest first, up to k distinct ones),
  filled for free from every verifier pass; the draft follows the newest candidates from the
  last token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InvalidRequestError

RECYCLE_BYTES = 2 * 1024 * 1024  # the recycling table stays under this


@dataclass(frozen=True)
class Draft:
    tokens: list[int]
    source: str  # which drafter (and n-gram length): the controller keeps acceptance per source


class Drafter(Protocol):
    def candidates(self, history: Sequence[int], k: int) -> list[Draft]:
        """Drafts of up to k tokens that may follow `history` (prompt + generated), best first."""
        ...

    def observe(self, inputs: Sequence[int], nexts: Sequence[int]) -> None:
        """The verifier chose `nexts[i]` after `inputs[i]` (free training signal, no logits needed)."""
        ...


class NgramDrafter:
    """Prompt lookup over the whole history, longest n-gram first."""

    def __init__(self, max_n: int = 4, min_n: int = 2) -> None:
        self.ns = tuple(range(max_n, min_n - 1, -1))
        self._last: dict[tuple[int, ...], int] = {}  # n-gram -> latest end position (indexed ones)
        self._indexed = 0  # positions [0, _indexed) are in the index
        self._history: list[int] = []

    def candidates(self, history: Sequence[int], k: int) -> list[Draft]:
        return _listed(self.propose(history, k))

    def propose(self, history: Sequence[int], k: int) -> Draft | None:
        """What followed the latest earlier occurrence of the longest matching tail, or None."""
        self._sync(history)
        h, end = self._history, len(self._history)
        for n in self.ns:
            if end <= n:
                continue
            pos = self._last.get(tuple(h[end - n:]))
            if pos is not None:
                cont = h[pos + 1: pos + 1 + k]
                if cont:
                    return Draft(list(cont), f"ngram{n}")
        return None

    def _sync(self, history: Sequence[int]) -> None:
        """Index every position but the last (whose n-grams are the lookup keys)."""
        if len(history) < len(self._history) or history[: len(self._history)] != self._history:
            self._last.clear()
            self._indexed = 0
            self._history = list(history)
        else:
            self._history.extend(history[len(self._history):])
        h = self._history
        for p in range(self._indexed, len(h) - 1):
            for n in self.ns:
                if p + 1 >= n:
                    self._last[tuple(h[p + 1 - n: p + 1])] = p
        self._indexed = max(self._indexed, len(h) - 1)

    def observe(self, inputs: Sequence[int], nexts: Sequence[int]) -> None:
        return None


class RecycleDrafter:
    """Token Recycling's adjacency table (a chain of each token's recorded top candidate)."""

    def __init__(self, n_vocab: int, top_k: int = 4) -> None:
        self.top_k = max(1, min(top_k, RECYCLE_BYTES // (4 * n_vocab)))
        self.table = np.full((n_vocab, self.top_k), -1, dtype=np.int32)

    def candidates(self, history: Sequence[int], k: int) -> list[Draft]:
        return _listed(self.propose(history, k))

    def propose(self, history: Sequence[int], k: int) -> Draft | None:
        """The chain of newest candidates from the last token, or None where the table has none."""
        out, tok = [], history[-1]
        for _ in range(k):
            nxt = int(self.table[tok, 0])
            if nxt < 0:
                break
            out.append(nxt)
            tok = nxt
        return Draft(out, "recycle") if out else None

    def observe(self, inputs: Sequence[int], nexts: Sequence[int]) -> None:
        # the newest choice goes first, older distinct ones shift right; the choices are the tokens
        # the acceptance rule drew anyway: a top-k of each logits row would cost a pass over n_vocab
        for tok, cand in zip(inputs, nexts, strict=True):
            line = self.table[tok]
            if line[0] != cand:
                hit = np.flatnonzero(line == cand)
                end = int(hit[0]) if hit.size else self.top_k - 1
                line[1: end + 1] = line[:end].copy()
                line[0] = cand

def _listed(draft: Draft | None) -> list[Draft]:
    return [] if draft is None else [draft]


class AutoDrafter:
    """Prompt lookup where the history repeats itself, the recycling table elsewhere.

    Both are offered, the n-gram first: the controller sends the first whose source pays, so a
    poor n-gram match (a short one in free text) no longer leaves a step without a draft.
    """

    def __init__(self, recycle: RecycleDrafter) -> None:
        self.ngram, self.recycle = NgramDrafter(), recycle

    def candidates(self, history: Sequence[int], k: int) -> list[Draft]:
        return self.ngram.candidates(history, k) + self.recycle.candidates(history, k)

    def observe(self, inputs: Sequence[int], nexts: Sequence[int]) -> None:
        self.recycle.observe(inputs, nexts)


_DRAFTERS: dict[str, Callable[[RecycleDrafter], Drafter]] = {
    "auto": AutoDrafter,
    "on": AutoDrafter,  # auto's drafters, asked for by name
    "ngram": lambda recycle: NgramDrafter(),
    "recycle": lambda recycle: recycle,
}


def make_drafter(mode: str, recycle: RecycleDrafter) -> Drafter:
    """A drafter for one generation ("auto"/"on", "ngram" or "recycle").

    The recycling table is the caller's (one per loaded model): it keeps learning across requests.
    """
    try:
        return _DRAFTERS[mode](recycle)
    except KeyError:
        raise InvalidRequestError(f"no drafter {mode!r}; known: {', '.join(_DRAFTERS)}") from None
