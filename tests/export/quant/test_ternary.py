"""Ternary quantizer: exact values, fp16 scales, QAT detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from export.quant import dequantize_ternary, is_ternary, ternarize, ternarize_or_keep


@pytest.fixture
def weight() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.02, (64, 256)).astype(np.float32)


@pytest.mark.parametrize("method", ["absmean", "absmedian"])
def test_ternarize_values_and_scale(weight: np.ndarray, method: str) -> None:
    values, scale = ternarize(weight, method)
    assert values.dtype == np.int8 and set(np.unique(values)) <= {-1, 0, 1}
    assert scale == float(np.float16(scale))
    expected = np.mean(np.abs(weight)) if method == "absmean" else np.median(np.abs(weight))
    assert scale == pytest.approx(expected, rel=1e-3)
    np.testing.assert_array_equal(values, np.clip(np.rint(weight / scale), -1, 1))


def test_methods_differ(weight: np.ndarray) -> None:
    assert ternarize(weight, "absmean").scale != ternarize(weight, "absmedian").scale


def test_torch_bf16_input(weight: np.ndarray) -> None:
    values, scale = ternarize(torch.from_numpy(weight).bfloat16())
    ref_values, ref_scale = ternarize(torch.from_numpy(weight).bfloat16().float().numpy())
    np.testing.assert_array_equal(values, ref_values)
    assert scale == ref_scale


def test_is_ternary_detects_qat_and_rejects_dense(weight: np.ndarray) -> None:
    values, scale = ternarize(weight)
    dense = dequantize_ternary(values, scale)
    assert is_ternary(dense) == scale
    assert is_ternary(torch.from_numpy(dense).bfloat16()) == pytest.approx(scale, rel=4e-3)
    assert is_ternary(weight) is False


def test_already_ternary_is_not_rescaled() -> None:
    qat = np.array([[0.75, 0.0, -0.75, 0.75]], dtype=np.float32)  # absmean would give 0.5625
    values, scale = ternarize_or_keep(qat)
    assert scale == 0.75 and values.tolist() == [[1, 0, -1, 1]]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="absmean"):
        ternarize(np.ones(4), "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        ternarize(np.array([np.nan, 1.0]))
    assert ternarize(np.zeros(8)).values.tolist() == [0] * 8
