"""Speculative decoding on llama.cpp: the `edge.speculate.Verifier` over llama-cpp-python's context.

One `llama_decode` of [last token + draft] with logits for every position, then
`llama_memory_seq_rm` of the rejected tail. The binding's own token bookkeeping (`input_ids`,
`n_tokens`) is kept in step with the KV cache, so its prefix reuse still works on the next call.
Sampling goes through edge.sampling.Sampler; JSON schemas and grammars through the token matcher
of edge.constrain (llama.cpp's grammar sampler cannot judge a whole draft at once). When the
controller stops drafting for good, the rest of the generation goes to the binding's own decode
loop, which costs less per token than a one-token verifier pass through Python.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

import numpy as np

from ..sampling import Sampler, SamplingParams, constrain_logits
from ..speculate import Controller, RecycleDrafter, SpecStats, make_drafter, speculate
from ..speculate.loop import Step, resume


class LlamaCppVerifier:
    """Feeds tokens at the end of the binding's sequence and rolls rejected ones back."""

    def __init__(self, llm: Any, max_tokens: int) -> None:
        from llama_cpp._internals import LlamaBatch

        self._llm, self._n_vocab = llm, llm.n_vocab()
        self._batch = LlamaBatch(n_tokens=max_tokens, embd=0, n_seq_max=1, verbose=False)
        self._n_ctx = min(llm.n_ctx(), len(llm.input_ids))

    def room(self) -> int:
        return self._n_ctx - self._llm.n_tokens

    def verify(self, tokens: Sequence[int]) -> np.ndarray:
        llm, n_past, n = self._llm, self._llm.n_tokens, len(tokens)
        self._batch.set_batch(list(tokens), n_past=n_past, logits_all=True)
        llm._ctx.decode(self._batch)  # raises like the plain path (also when interrupted)
        llm.input_ids[n_past: n_past + n] = tokens
        llm.n_tokens = n_past + n
        # a view, no copy of n x n_vocab floats per pass: the loop is done with it before the next decode
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n, self._n_vocab))

    def rollback(self, n: int) -> None:
        if n > 0:
            llm = self._llm
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens - n, -1)
            llm.n_tokens -= n

    def close(self) -> None:
        self._batch.close()


class LlamaCppSpeculation:
    """Per-model speculation state: the recycling table, the controller's cost model, matchers."""

    def __init__(self, backend: Any, mode: str, controller: Controller | None = None) -> None:
        self.mode, self._backend = mode, backend
        self.recycle = RecycleDrafter(backend.info.n_vocab)
        self.controller = controller or Controller()
        self.matchers = backend.matchers
        self.stats: SpecStats | None = None
        self.row: np.ndarray | None = None  # logits the last yielded token was drawn from

    def generate(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[int]:
        matcher = self.matchers.matcher(params.json_schema, params.grammar)
        first = self._backend.next_token_logits(prompt_ids)  # prefix reuse + prefill
        self.controller.new_text()
        self.stats = SpecStats(mode=self.mode)
        return self._run(first, list(prompt_ids), params, matcher)

    def _run(self, first: np.ndarray, history: list[int], params: SamplingParams, matcher) -> Iterator[int]:
        sampler, controller = Sampler(params), self.controller
        verifier = LlamaCppVerifier(self._backend._llm, controller.max_draft + 1)
        drafter = make_drafter(self.mode, self.recycle)
        # a seeded draw must not depend on timing, and where the handoff falls does
        handoff = params.greedy or params.seed is None
        try:
            steps = speculate(verifier, first, history, sampler, drafter, controller, self.stats, matcher, handoff)
            stretch = controller.plain_stretch
            while (yield from self._tokens(steps)):
                yield from self._plain(history, params, sampler, matcher, stretch)
                if verifier.room() <= 0:
                    return
                controller.new_stretch()
                steps, stretch = resume(verifier, history, sampler, drafter, controller, self.stats, matcher,
                                        handoff), 2 * stretch
        finally:
            verifier.close()

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

    def _plain(self, history: list[int], params: SamplingParams, sampler: Sampler, matcher,
               n: int) -> Iterator[int]:
        """Up to `n` tokens from the binding's own loop (extending `history`): the KV cache holds
        `history[:-1]`, so its prefix reuse feeds just the last token, and when the stretch ends the
        last token is again not fed. A grammar goes on as the matcher's mask."""
        self.row = None  # last_logits reads the context's own row again
        if not params.greedy:  # a fresh stream, not the seed an earlier request left in the binding
            self._backend._llm.set_seed(int(sampler.rng.integers(2**31)))
        greedy = params.greedy
        hook = None if matcher is None else (lambda _ids, logits: constrain_logits(logits, matcher.constraint(), greedy))
        plain = self._backend.plain_decode(history, params, hook, constrain=False)
        try:
            for i, tok in enumerate(plain, 1):
                self.stats.handed_off += 1
                yield tok
                if matcher is not None:
                    matcher.accept(tok)
                history.append(tok)
                if i >= n:
                    return
        finally:
            plain.close()
