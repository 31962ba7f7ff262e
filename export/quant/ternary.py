"""Ternary (BitNet b1.58-style) weight quantization, pure numpy.

A ternary tensor is ``W ≈ s · T`` with ``T ∈ {-1, 0, 1}`` and one scale ``s`` per tensor.

- ``absmean`` (BitNet b1.58): ``s = mean(|W|)``.
- ``absmedian`` ("BitNet b1.58 Reloaded"): ``s = median(|W|)``, more robust to outliers.

The scale is rounded to fp16 *before* ``T`` is computed, so ``s · T`` is exactly representable
by GGUF's TQ1_0/TQ2_0 (fp16 block scale = max |x| of the block) and by ONNX MatMulNBits: the
round trip is lossless (see FINDINGS, "Ternary").

Checkpoints trained with quantization-aware training are already ternary; ``is_ternary``
detects them so exporters keep their scale instead of re-scaling.

Examples:
    >>> import numpy as np
    >>> q, s = ternarize(np.array([[0.5, -0.1, -0.6, 0.0]], dtype=np.float32))
    >>> q.tolist(), s
    ([[1, 0, -1, 0]], 0.300048828125)
    >>> is_ternary(dequantize_ternary(q, s))
    0.300048828125
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np

Method = Literal["absmean", "absmedian"]
METHODS: tuple[str, ...] = ("absmean", "absmedian")

# Smallest usable scale; an all-zero tensor gets this so T is all zeros and s·T stays 0.
_MIN_SCALE = float(np.float16(2.0**-14))


class TernaryWeight(NamedTuple):
    """``values`` (int8 in {-1, 0, 1}) times ``scale`` (an fp16-representable float)."""

    values: np.ndarray
    scale: float


def _as_numpy(weight: Any) -> np.ndarray:
    """Accept numpy arrays and torch tensors (any float dtype, incl. bf16) without importing torch."""
    if isinstance(weight, np.ndarray):
        return weight.astype(np.float32, copy=False)
    if hasattr(weight, "detach"):  # torch.Tensor: bf16 has no numpy dtype, go through float32
        return weight.detach().to("cpu").float().numpy()
    return np.asarray(weight, dtype=np.float32)


def _fp16(value: float) -> float:
    return float(np.float16(value))


def ternary_scale(weight: Any, method: Method = "absmean") -> float:
    """The per-tensor scale ``s`` for ``method``, rounded to fp16 (never 0, never inf)."""
    if method not in METHODS:
        raise ValueError(f"unknown ternarization method {method!r}; use one of {', '.join(METHODS)}")
    magnitude = np.abs(_as_numpy(weight))
    raw = float(magnitude.mean() if method == "absmean" else np.median(magnitude))
    if not np.isfinite(raw):
        raise ValueError("cannot ternarize a tensor with NaN or infinite values")
    return min(max(_fp16(raw), _MIN_SCALE), float(np.finfo(np.float16).max))


def ternarize(weight: Any, method: Method = "absmean") -> TernaryWeight:
    """Quantize ``weight`` to ``(T, s)`` with ``T = clip(round(W / s), -1, 1)`` as int8.

    ``s`` is the fp16-rounded absmean/absmedian of ``weight``; ``dequantize_ternary(T, s)``
    gives the float weights an exporter should write.
    """
    w = _as_numpy(weight)
    scale = ternary_scale(w, method)
    values = np.clip(np.rint(w / np.float32(scale)), -1, 1).astype(np.int8)
    return TernaryWeight(values, scale)


def dequantize_ternary(values: np.ndarray, scale: float, dtype: Any = np.float32) -> np.ndarray:
    """``s · T`` as a float array (exact: ``s`` is fp16-representable, ``T`` is ternary)."""
    return (np.asarray(values, dtype=np.float32) * np.float32(scale)).astype(dtype)


def is_ternary(weight: Any, rtol: float = 1e-2) -> float | Literal[False]:
    """The scale ``s`` if ``weight`` already is ``s · {-1, 0, 1}``, else ``False``.

    Nonzero magnitudes must all equal one value within ``rtol`` (bf16 storage of a QAT
    checkpoint perturbs them by < 0.4 %). The returned ``s`` is their mean rounded to fp16;
    an all-zero tensor is ternary with the minimal scale.
    """
    magnitude = np.abs(_as_numpy(weight))
    nonzero = magnitude[magnitude > 0]
    if nonzero.size == 0:
        return _MIN_SCALE
    low, high = float(nonzero.min()), float(nonzero.max())
    if not np.isfinite(high) or high - low > rtol * high:
        return False
    return max(_fp16(float(nonzero.mean())), _MIN_SCALE)


def ternarize_or_keep(weight: Any, method: Method = "absmean") -> TernaryWeight:
    """``ternarize`` unless ``weight`` is already ternary (QAT): then keep its own scale."""
    w = _as_numpy(weight)
    scale = is_ternary(w)
    if scale is False:
        return ternarize(w, method)
    return TernaryWeight(np.sign(w).astype(np.int8), scale)
