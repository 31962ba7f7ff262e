"""The speculative decode loop, over any backend that implements `Verifier`."""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from typing import Protocol

import numpy as np

from ..constrain.matcher import DEAD, GrammarMatcher
from ..sampling import Sampler
from .accept import accept_draft
from .controller import Controller
from .drafters import Draft, Drafter
from .stats import SpecStats

Step = tuple[int, np.ndarray]  # a token and the logits row it was drawn from


class Verifier(Protocol):
    """A model state positioned after the tokens accepted so far (the last one not yet fed)."""

    def room(self) -> int:
        """How many more tokens the context can take."""
        ...

    def verify(self, tokens: Sequence[int]) -> np.ndarray:
        """Feed `tokens` (the last accepted token + a draft) in one pass; logits rows, one per token
        (valid until the next call: a backend may return a view of its own buffer)."""
        ...

    def rollback(self, n: int) -> None:
        """Forget the last `n` fed tokens (rejected draft tokens)."""
        ...


def speculate(verifier: Verifier, first_row: np.ndarray, history: list[int], sampler: Sampler,
              drafter: Drafter, controller: Controller, stats: SpecStats,
              matcher: GrammarMatcher | None = None, handoff: bool = False) -> Generator[Step, None, bool]:
    """Yield (token, the logits row it was drawn from) until the context is full; return False then.

    `first_row` are the logits after the prompt `history` (which this extends in place). With
    `handoff` it returns True as soon as the controller judges drafting not worth it any more: the
    verifier then holds `history[:-1]`; the caller decodes on plainly, and may `resume` later.
    A yielded row is valid until the generator resumes (it may be a view of the backend's buffer).
    """
    tok = sampler(first_row, None if matcher is None else matcher.constraint())
    yield tok, first_row
    _advance(matcher, tok)
    history.append(tok)
    return (yield from resume(verifier, history, sampler, drafter, controller, stats, matcher, handoff))


def resume(verifier: Verifier, history: list[int], sampler: Sampler, drafter: Drafter, controller: Controller,
           stats: SpecStats, matcher: GrammarMatcher | None = None,
           handoff: bool = False) -> Generator[Step, None, bool]:
    """`speculate` from a state that holds `history[:-1]` (its last token not yet fed)."""
    tok = history[-1]
    while verifier.room() > 0:
        if handoff and controller.hand_off():
            return True
        t0 = time.perf_counter()
        draft = _draft(drafter, controller, history, min(controller.max_draft, verifier.room() - 1), stats)
        tokens, states = _grammar_cut(matcher, draft.tokens if draft else [], stats)
        rows = verifier.verify([tok, *tokens])
        allowed = None if matcher is None else (lambda i, states=states: matcher.constraint(states[i]))
        out = accept_draft(rows, tokens, sampler, allowed)
        n_acc = len(out) - 1
        verifier.rollback(len(tokens) - n_acc)
        drafter.observe([tok, *tokens[:n_acc]], out)  # only the rows on the kept path
        controller.record(draft.source if draft and tokens else None, len(tokens), n_acc, time.perf_counter() - t0)
        stats.record(draft.source if draft else None, len(tokens), n_acc)
        for i, t in enumerate(out):
            yield t, rows[i]
            _advance(matcher, t)
            history.append(t)
        tok = out[-1]
    return False


def _draft(drafter: Drafter, controller: Controller, history: list[int], limit: int,
           stats: SpecStats) -> Draft | None:
    """The first candidate whose source the controller finds worth drafting now, cut to its budget."""
    if limit <= 0:
        return None
    for draft in drafter.candidates(history, limit):
        k, probe = controller.budget(draft.source)
        if k:
            stats.probes += probe
            return Draft(draft.tokens[:k], draft.source)
    return None


def _grammar_cut(matcher: GrammarMatcher | None, draft: list[int], stats: SpecStats) -> tuple[list[int], list[int]]:
    """The draft up to its first token the grammar forbids, and the grammar state before each row."""
    if matcher is None:
        return draft, []
    g, state, states = matcher.compiled, matcher.state, [matcher.state]
    eog = g.vocab.eog_ids
    for n, tok in enumerate(draft):
        text = g.vocab.texts[tok]
        nxt = DEAD if tok in eog or not text else g.advance_text(state, text)
        if nxt == DEAD:  # an end token ends the draft too: nothing may follow it
            stats.cut_by_grammar += len(draft) - n
            return draft[:n], states
        state = nxt
        states.append(state)
    return draft, states


def _advance(matcher: GrammarMatcher | None, tok: int) -> None:
    if matcher is not None:
        matcher.accept(tok)

