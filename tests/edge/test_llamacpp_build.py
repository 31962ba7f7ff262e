"""The llama.cpp that scripts/setup.sh builds: ggml's GELU kernels run in f32 (scripts/patches/).

Calls ggml's own ops through ctypes on the libraries inside the installed llama_cpp package and
compares with GELU (tanh form) in float64. Stock ggml rounds GELU's input and output to fp16
(errors up to ~4e-3 near |x| = 8); the patched, vectorized kernel stays within 2e-6.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

GGML_TYPE_F32 = 0
ABS_TOL = 2e-6  # f32 evaluation of x / (1 + exp(-2u)) with ggml_v_expf (~1.5 ulp)


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def _ggml() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    lib = Path(importlib.util.find_spec("llama_cpp").origin).parent / "lib"
    base = ctypes.CDLL(str(lib / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(str(lib / "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    vp = ctypes.c_void_p
    for name, res, args in [("ggml_init", vp, [_InitParams]), ("ggml_new_tensor_1d", vp, [vp, ctypes.c_int, ctypes.c_int64]),
                            ("ggml_gelu", vp, [vp, vp]), ("ggml_geglu_split", vp, [vp, vp, vp]),
                            ("ggml_new_graph", vp, [vp]), ("ggml_build_forward_expand", None, [vp, vp]),
                            ("ggml_get_data", vp, [vp]), ("ggml_free", None, [vp])]:
        fn = getattr(base, name)
        fn.restype, fn.argtypes = res, args
    cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int
    cpu.ggml_graph_compute_with_ctx.argtypes = [vp, vp, ctypes.c_int]
    return base, cpu


def ggml_gelu_and_geglu(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ggml_gelu(x), ggml_geglu_split(x, g)) computed by the installed ggml CPU backend."""
    base, cpu = _ggml()
    n = len(x)
    ctx = base.ggml_init(_InitParams(16 * x.nbytes + (1 << 20), None, False))
    try:
        a, b = base.ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n), base.ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n)
        ctypes.memmove(base.ggml_get_data(a), x.ctypes.data, x.nbytes)
        ctypes.memmove(base.ggml_get_data(b), g.ctypes.data, g.nbytes)
        gelu, geglu = base.ggml_gelu(ctx, a), base.ggml_geglu_split(ctx, a, b)
        graph = base.ggml_new_graph(ctx)
        base.ggml_build_forward_expand(graph, gelu)
        base.ggml_build_forward_expand(graph, geglu)
        assert cpu.ggml_graph_compute_with_ctx(ctx, graph, 1) == 0

        def read(t: int) -> np.ndarray:
            return np.ctypeslib.as_array(ctypes.cast(base.ggml_get_data(t), ctypes.POINTER(ctypes.c_float)), (n,)).copy()

        return read(gelu), read(geglu)
    finally:
        base.ggml_free(ctx)


def gelu_tanh_f64(x: np.ndarray) -> np.ndarray:
    # the sigmoid form avoids 1 + tanh(u) cancelling to 0 for negative x
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):  # exp overflows to inf for x << 0, and x / inf is the right 0
        return x / (1.0 + np.exp(-2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


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
