"""Speculative decoding on llama.cpp: the `edge.speculate.Verifier` over llama-cpp-python's context.

One `llama_decode` of [last token + draft] with logits for every position, then
`llama_memory_seq_rm` of the rejected tail. The binding's own token bookkeeping (`input_ids`,
`n_tokens`) is kept in step with the KV cache, so its prefix reuse still works on the next call.
Sampling goes through edge.sampling.Sampler; JSON schemas and grammars through the token matcher
of edge.constrain (llama.cpp's grammar sampler cannot judge a whole draft at once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..constrain.matcher import MatcherCache, Vocabulary, utf8_or_none
from ..sampling import Sampler, SamplingParams
from ..speculate import Controller, RecycleDrafter, SpecStats, make_drafter, speculate


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
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n, self._n_vocab)).copy()

    def rollback(self, n: int) -> None:
        if n > 0:
            llm = self._llm
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens - n, -1)
            llm.n_tokens -= n

    def close(self) -> None:
        self._batch.close()


class LlamaCppSpeculation:
    """Per-model speculation state: the recycling table, the controller's cost model, matchers."""

    def __init__(self, backend: Any, mode: str) -> None:
        self.mode, self._backend = mode, backend
        self.recycle = RecycleDrafter(backend.info.n_vocab)
        self.controller = Controller()
        self.matchers = MatcherCache(self._vocabulary)
        self.stats: SpecStats | None = None
        self.row: np.ndarray | None = None  # logits the last yielded token was drawn from

    def generate(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[int]:
        matcher = self.matchers.matcher(params.json_schema, params.grammar)
        first = self._backend.next_token_logits(prompt_ids)  # prefix reuse + prefill
        self.controller.new_text()
        self.stats = SpecStats(mode=self.mode)
        return self._run(first, list(prompt_ids), Sampler(params), matcher)

    def _run(self, first: np.ndarray, history: list[int], sampler: Sampler, matcher) -> Iterator[int]:
        verifier = LlamaCppVerifier(self._backend._llm, self.controller.max_draft + 1)
        try:
            for tok, row in speculate(verifier, first, history, sampler, make_drafter(self.mode, self.recycle),
                                      self.controller, self.stats, matcher):
                self.row = row
                yield tok
        finally:
            verifier.close()

    def _vocabulary(self) -> Vocabulary:
        b = self._backend
        lib, vocab, n = b._lib, b._vocab.handle, b.info.n_vocab
        texts = [None if lib.llama_vocab_is_control(vocab, i) else utf8_or_none(b.detokenize([i]))
                 for i in range(n)]
        return Vocabulary.from_texts(texts, [i for i in range(n) if b.is_end_of_generation(i)])
