"""Speculative decoding on ONNX Runtime: the `edge.speculate.Verifier` over the decoder-only loop.

One session run of [last token + draft] on the cached past (every row of logits back), then the
rejected tail cut from the live K/V state. A one-token verifier pass is the loop's plain step, so
nothing is handed off: where drafting does not pay the controller simply drafts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..speculate import Controller
from ..speculate.session import Speculation
from ..speculate.session import speculates as _speculates

if TYPE_CHECKING:
    from .onnxruntime import CausalLM

# bundles whose MatMuls take float activations: a batched run's rows equal one-token runs' (measured on
# SmolLM2 fp32: every workload identical). MatMulNBits (int8/int4/ternary) quantizes activations to int8
# with other kernels for one row and for several: greedy output parted at near-ties (logit gaps 0.03-0.11)
# on 3 of 4 `bench --speculative` workloads within 96 tokens, so `auto` decodes those plainly
LOSSLESS_QUANTS = frozenset({"fp32", "fp16"})


def speculates(mode: str, quantization: str) -> bool:
    """Whether `speculative = mode` drafts on an ONNX bundle of this quantization (session.speculates)."""
    return _speculates(mode, quantization in LOSSLESS_QUANTS)


class OnnxVerifier:
    """Feeds tokens at the end of the model's live state and rolls rejected ones back."""

    def __init__(self, model: CausalLM, n_ctx: int) -> None:
        self._model, self._n_ctx = model, n_ctx

    def room(self) -> int:
        return self._n_ctx - self._model.n_past

    def verify(self, tokens: Sequence[int]) -> np.ndarray:
        return self._model.feed(list(tokens))

    def rollback(self, n: int) -> None:
        self._model.rollback(n)


class OnnxSpeculation(Speculation):
    """Speculation over a decoder-only ONNX model (prefix reuse from its prefix cache)."""

    def __init__(self, model: CausalLM, n_vocab: int, n_ctx: int, matchers, mode: str,
                 controller: Controller | None = None) -> None:
        super().__init__(n_vocab, matchers, mode, controller)
        self._model, self._n_ctx = model, n_ctx

    def first_row(self, prompt_ids: list[int]) -> np.ndarray:
        return self._model.start(list(prompt_ids))

    def verifier(self) -> OnnxVerifier:
        return OnnxVerifier(self._model, self._n_ctx)
