"""One model's speculation state and generation, over any backend's `Verifier`.

A backend subclasses `Speculation` with three hooks: the logits after a prompt (its prefix reuse
and prefill), a verifier positioned after them, and, where its plain decoder costs less per token
than a one-token verifier pass (llama.cpp's own loop), `plain` for the stretches the controller
hands off. The recycling table and the controller's cost model live as long as the model.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from ..sampling import Sampler, SamplingParams
from .controller import Controller
from .drafters import RecycleDrafter, make_drafter
from .loop import Step, Verifier, resume, speculate
from .stats import SpecStats


def speculates(mode: str, lossless: bool) -> bool:
    """Whether `speculative = mode` drafts on a model whose batched passes are `lossless` (their rows
    equal one-token passes' bit for bit): `auto` only there, `on`/`ngram`/`recycle` (asked for by
    name) everywhere, accepting that greedy output may part from plain decoding at near-ties."""
    return mode != "off" and (mode != "auto" or lossless)


class Speculation:
    """Per-model speculation: the recycling table, the controller, the backend's grammar matchers."""

    handoff = False  # whether `plain` takes over where drafting stops paying

    def __init__(self, n_vocab: int, matchers: Any, mode: str, controller: Controller | None = None) -> None:
        self.mode, self.matchers = mode, matchers
        self.recycle = RecycleDrafter(n_vocab)
        self.controller = controller or Controller()
        self.stats: SpecStats | None = None
        self.row: np.ndarray | None = None  # logits the last yielded token was drawn from

    # -- the backend's part ----------------------------------------------------------------------
    def first_row(self, prompt_ids: list[int]) -> np.ndarray:
        """Logits after the prompt, the model's state left after it (the backend's prefix reuse)."""
        raise NotImplementedError

    def verifier(self) -> Verifier:
        """A verifier over the state `first_row` left; closed (if it has `close`) when the text ends."""
        raise NotImplementedError

    def plain(self, history: list[int], params: SamplingParams, sampler: Sampler, matcher, n: int) -> Iterator[int]:
        """Up to `n` tokens from the backend's plain decoder, extending `history` (only with `handoff`)."""
        raise NotImplementedError

    # -- generation --------------------------------------------------------------------------------
    @staticmethod
    def serves(params: SamplingParams, hook: object | None) -> bool:
        """Whether a generation may speculate: not with a logits hook (it edits each step's logits,
        which drafts cannot anticipate), nor with a seeded draw (speculative sampling would draw other
        numbers from the seed than the plain loop)."""
        return hook is None and (params.greedy or params.seed is None)

    def reset(self) -> None:
        self.row = self.stats = None

    def generate(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[int]:
        matcher = self.matchers.matcher(params.json_schema, params.grammar)
        first = self.first_row(prompt_ids)
        self.controller.new_text()
        self.stats = SpecStats(mode=self.mode)
        return self._run(first, list(prompt_ids), params, matcher)

    def _run(self, first: np.ndarray, history: list[int], params: SamplingParams, matcher) -> Iterator[int]:
        sampler, controller = Sampler(params), self.controller
        verifier = self.verifier()
        drafter = make_drafter(self.mode, self.recycle)
        # a seeded draw must not depend on timing, and where the handoff falls does
        handoff = self.handoff and (params.greedy or params.seed is None)
        try:
            steps = speculate(verifier, first, history, sampler, drafter, controller, self.stats, matcher, handoff)
            stretch = controller.plain_stretch
            while (yield from self._tokens(steps)):
                yield from self.plain(history, params, sampler, matcher, stretch)
                if verifier.room() <= 0:
                    return
                controller.new_stretch()
                steps, stretch = resume(verifier, history, sampler, drafter, controller, self.stats, matcher,
                                        handoff), 2 * stretch
        finally:
            close = getattr(verifier, "close", None)
            if close is not None:
                close()

    def _tokens(self, steps: Generator[Step, None, bool]) -> Generator[int, None, bool]:
        """The tokens of `steps`, keeping each one's row for `last_logits`; returns what `steps` does."""
        try:
            while True:
                try:
                    tok, self.row = next(steps)
                except StopIteration as done:
                    return done.value
                yield tok
        finally:
            steps.close()
