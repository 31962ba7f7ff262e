"""Speculative decoding on llama.cpp: the `edge.speculate.Verifier` over llama-cpp-python's context.

One `llama_decode` of [last token + draft] with logits for every position, then
`llama_memory_seq_rm` of the rejected tail. The binding's own token bookkeeping (`input_ids`,
`n_tokens`) is kept in step with the KV cache, so its prefix reuse still works on the next call.
Sampling goes through edge.sampling.Sampler; JSON schemas and grammars through the token matcher
of edge.constrain (llama.cpp's grammar sampler cannot judge a whole draft at once). When the
controller stops drafting for good, the rest of the generation goes to the binding's own decode
loop, which costs less per token than a one-token verifier pass through Python.

`auto` drafts here with flash attention on, on a llama.cpp built by scripts/setup.sh: its attention
patch (scripts/patches/ggml-batch-invariant-attention.patch) makes a one-token pass's rows equal a
verifier pass's bit for bit, so greedy output is plain decoding's token for token. A stock build
splits one query's KV cache over the threads from 512 cached positions on, and without flash
attention the batched KQ products sum in another order; their rows part by up to ~1 logit
(`bench/verify_cost.py`, 2 threads), which parted 6 of 12 GUI-agent scripts from plain decoding.
The matmuls must agree too, and whether they do depends on the weights' types: ggml multiplies a
batch of K-quant or Q5_0 rows with other kernels (tinyBLAS, its tiled path, ARM's i8mm) than one
row. So `auto` also checks the loaded model once (`rows_match`), and remembers the verdict.
Where either fails `auto` decodes plainly; `on`, `ngram` and `recycle` still draft, each token the
verifier's argmax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models import edgesplit_home
from ..sampling import Sampler, SamplingParams, constrain_logits
from ..speculate import Controller
from ..speculate.session import Speculation
from ..speculate.session import speculates as _speculates


def lossless(flash_attn: bool) -> bool:
    """Whether this build's attention gives batched rows equal to one-token rows bit for bit
    (bench/verify_cost.py measures it); the model's matmuls are `rows_match`'s part."""
    from .llamacpp_build import batch_invariant_attention

    return flash_attn and batch_invariant_attention()


def speculates(mode: str, flash_attn: bool, rows_equal: Callable[[], bool] = lambda: True) -> bool:
    """Whether `speculative = mode` drafts on a llama.cpp context (session.speculates); `rows_equal`
    (asked only under `auto`, where the build's attention qualifies) checks the model itself."""
    return _speculates(mode, mode != "auto" or (lossless(flash_attn) and rows_equal()))


PROBE_TEXT = b"The quick brown fox jumps over the lazy dog while the old cat sleeps. "
PROBE_PREFIX = 8  # cached tokens before the probed passes
PROBE_SIZES = (2, 5, 9)  # pass widths: tinyBLAS's edge tiles and ggml's tiled K-quant path (>= 8 rows)
_verdicts: dict[str, bool] = {}


def rows_match(llm: Any, key: str) -> bool:
    """Whether batched passes on this loaded model give one-token passes' logits bit for bit.

    Measured once per `key` (model file version, options that change kernels, this build) on the
    context itself: one-token passes over a fixed text, then batches of PROBE_SIZES over the same
    positions. About a dozen passes; the verdict is kept under $EDGESPLIT_HOME/cache/batch-rows.
    The context is left empty, as a freshly loaded one is.
    """
    if key in _verdicts:
        return _verdicts[key]
    for verdict in (True, False):
        if _marker(key, verdict).is_file():
            _verdicts[key] = verdict
            return verdict
    verdict = _verdicts[key] = _probe(llm)
    try:
        _marker(key, verdict).parent.mkdir(parents=True, exist_ok=True)
        _marker(key, verdict).write_text("")
    except OSError:  # a read-only home: measure again next time
        pass
    return verdict


def _marker(key: str, same: bool) -> Path:
    return edgesplit_home() / "cache" / "batch-rows" / f"{key}.{'same' if same else 'differ'}"


def _probe(llm: Any) -> bool:
    from llama_cpp._internals import LlamaBatch

    width = min(max(PROBE_SIZES), llm.n_batch)
    n = PROBE_PREFIX + width
    ids = llm.tokenize(PROBE_TEXT * 4, add_bos=True)
    if len(ids) < n or llm.n_ctx() < n or width < 2:
        return False  # cannot measure: decode plainly
    n_vocab, ctx = llm.n_vocab(), llm._ctx
    batch = LlamaBatch(n_tokens=max(PROBE_PREFIX, width), embd=0, n_seq_max=1, verbose=False)
    try:
        def rows(start: int, toks: list[int]) -> np.ndarray:
            batch.set_batch(toks, n_past=start, logits_all=True)
            ctx.decode(batch)
            return np.ctypeslib.as_array(ctx.get_logits(), shape=(len(toks), n_vocab)).copy()

        ctx.kv_cache_seq_rm(-1, 0, -1)
        rows(0, ids[:PROBE_PREFIX])
        one = np.concatenate([rows(p, [ids[p]]) for p in range(PROBE_PREFIX, n)])
        for k in sorted({min(s, width) for s in PROBE_SIZES}):
            # a memory that cannot drop a tail (recurrent state) cannot roll back a draft either
            if not ctx.kv_cache_seq_rm(-1, PROBE_PREFIX, -1):
                return False
            if not np.array_equal(rows(PROBE_PREFIX, ids[PROBE_PREFIX: PROBE_PREFIX + k]), one[:k]):
                return False
        return True
    except RuntimeError:  # llama_decode refused a pass: not a context to draft on
        return False
    finally:
        ctx.kv_cache_seq_rm(-1, 0, -1)
        llm.n_tokens = 0
        batch.close()


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


class LlamaCppSpeculation(Speculation):
    """Speculation on the binding's context, handing long undraftable stretches to its own loop."""

    handoff = True

    def __init__(self, backend: Any, mode: str, controller: Controller | None = None) -> None:
        super().__init__(backend.info.n_vocab, backend.matchers, mode, controller)
        self._backend = backend

    def first_row(self, prompt_ids: list[int]) -> np.ndarray:
        return self._backend.next_token_logits(prompt_ids)  # prefix reuse + prefill

    def verifier(self) -> LlamaCppVerifier:
        return LlamaCppVerifier(self._backend._llm, self.controller.max_draft + 1)

    def plain(self, history: list[int], params: SamplingParams, sampler: Sampler, matcher,
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
