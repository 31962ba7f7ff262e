"""The llama.cpp that scripts/setup.sh builds: ggml's GELU kernels run in f32 (scripts/patches/).

Calls ggml's own ops through ctypes on the libraries inside the installed llama_cpp package and
compares with GELU (tanh form) in float64. Stock ggml rounds GELU's input and output to fp16
(errors up to ~4e-3 near |x| = 8); the patched, vectorized kernel stays within 2e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

from edge.backends.llamacpp_build import build_info, gelu_tanh_f64, ggml_gelu_and_geglu, ggml_mul_mat_q4_1  # noqa: E402

ABS_TOL = 2e-6  # f32 evaluation of x / (1 + exp(-2u)) with ggml_v_expf (~1.5 ulp)


GRID = np.concatenate([np.linspace(-12, 12, 24_001, dtype=np.float32),  # odd length: the scalar tail runs too
                       np.array([-1e4, -200, -88.5, -30, 30, 88.5, 200, 1e4, 1e-30, -1e-30, 0.0], np.float32)])


def within_tolerance(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(y - ref) <= ABS_TOL + 1e-6 * np.abs(ref)


def test_ggml_gelu_is_computed_in_f32() -> None:
    g = np.random.default_rng(0).normal(size=len(GRID)).astype(np.float32)
    gelu, geglu = ggml_gelu_and_geglu(GRID, g)
    ref = gelu_tanh_f64(GRID)
    bad = ~within_tolerance(gelu, ref)
    assert not bad.any(), list(zip(GRID[bad][:5], gelu[bad][:5], ref[bad][:5], strict=True))
    assert within_tolerance(geglu, ref * g).all()


def test_ggml_gelu_propagates_nan() -> None:
    gelu, _ = ggml_gelu_and_geglu(np.full(17, np.nan, np.float32), np.ones(17, np.float32))
    assert np.isnan(gelu).all()


def test_the_tolerance_tells_the_stock_fp16_table_apart() -> None:
    """Stock ggml's table (input and output rounded to fp16, |x| >= 10 passed through) misses the bound."""
    x16 = GRID.astype(np.float16).astype(np.float32)
    table = np.where(GRID >= 10, GRID, np.where(GRID <= -10, 0.0, gelu_tanh_f64(x16).astype(np.float16)))
    ref = gelu_tanh_f64(GRID)
    assert (~within_tolerance(table, ref)).mean() > 0.5
    assert np.abs(table - ref).max() > 1000 * ABS_TOL


def test_build_info_reports_the_exact_build() -> None:
    import llama_cpp

    assert build_info() == {"llama_cpp_python": llama_cpp.__version__, "exact_gelu": True}


@pytest.mark.parametrize("rows,n", [(192, 576), (33, 64), (1, 32)])
def test_a_batch_of_q4_1_columns_is_computed_as_one_column_at_a_time(rows: int, n: int) -> None:
    """A speculative verifier pass must give each token the row a one-token pass gives it, bit for bit
    (lossless greedy speculation): batch widths around the kernel's 2 x 4 tiles and 16-wide blocks,
    odd row counts, two threads."""
    rng = np.random.default_rng(rows)
    w = rng.normal(size=(rows, n)).astype(np.float32)
    x = rng.normal(size=(19, n)).astype(np.float32)
    alone = np.stack([ggml_mul_mat_q4_1(w, x[j:j + 1])[0] for j in range(len(x))])
    for cols in (2, 3, 4, 5, 9, 17, 19):
        batch = ggml_mul_mat_q4_1(w, x[:cols])
        assert np.array_equal(batch, alone[:cols]), (cols, float(np.abs(batch - alone[:cols]).max()))
    # and it is the matmul it claims to be: 4-bit weights are ~7 % off f32 (rms), not garbage
    ref = x @ w.T
    assert np.linalg.norm(alone - ref) < 0.15 * np.linalg.norm(ref)
