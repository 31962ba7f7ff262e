"""What the installed llama.cpp computes: ggml's own CPU ops run through ctypes.

scripts/setup.sh builds llama.cpp with GELU in f32 (scripts/patches/ggml-exact-gelu.patch); a
llama-cpp-python built elsewhere reads GELU from an fp16 table, which moves f32 logits of GELU
models (Gemma, T5 v1.1) by ~1e-4. Exports record which build made their parity numbers.
It also builds attention whose one-token rows equal a batch's rows bit for bit
(scripts/patches/ggml-batch-invariant-attention.patch), which lossless speculation relies on.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

GGML_TYPE_F32 = 0


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


@cache
def _ggml() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("llama_cpp")
    lib = Path(spec.origin).parent / "lib"
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
    """(ggml_gelu(x), ggml_geglu_split(x, g)) as the installed ggml CPU backend computes them."""
    base, cpu = _ggml()
    x, g = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(g, np.float32)
    n = len(x)
    ctx = base.ggml_init(_InitParams(16 * x.nbytes + (1 << 20), None, False))
    if not ctx:
        raise MemoryError("ggml_init failed")
    try:
        a, b = base.ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n), base.ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n)
        ctypes.memmove(base.ggml_get_data(a), x.ctypes.data, x.nbytes)
        ctypes.memmove(base.ggml_get_data(b), g.ctypes.data, g.nbytes)
        gelu, geglu = base.ggml_gelu(ctx, a), base.ggml_geglu_split(ctx, a, b)
        graph = base.ggml_new_graph(ctx)
        base.ggml_build_forward_expand(graph, gelu)
        base.ggml_build_forward_expand(graph, geglu)
        if cpu.ggml_graph_compute_with_ctx(ctx, graph, 1) != 0:
            raise RuntimeError("ggml_graph_compute failed")

        def read(t: int) -> np.ndarray:
            return np.ctypeslib.as_array(ctypes.cast(base.ggml_get_data(t), ctypes.POINTER(ctypes.c_float)), (n,)).copy()

        return read(gelu), read(geglu)
    finally:
        base.ggml_free(ctx)


def gelu_tanh_f64(x: np.ndarray) -> np.ndarray:
    """GELU (tanh form) in float64, as x·sigmoid(2u): 1 + tanh(u) would cancel to 0 for x << 0."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):  # exp overflows to inf for x << 0, and x / inf is the right 0
        return x / (1.0 + np.exp(-2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


BATCH_INVARIANT_MARK = "EDGESPLIT_BATCH_INVARIANT_ATTN = 1"  # the patch's entry in ggml-cpu's feature list


@cache
def batch_invariant_attention() -> bool:
    """Whether the installed llama.cpp carries edgesplit's batch-invariant attention patch (a stock
    build splits a single query's KV over the threads from 512 cached positions on: other sums)."""
    import llama_cpp

    return BATCH_INVARIANT_MARK in llama_cpp.llama_print_system_info().decode("utf-8", "replace")


@cache
def build_info() -> dict:
    """llama-cpp-python's version and whether its GELU is exact (f32) or the stock fp16 table."""
    import llama_cpp

    # near |x| = 8 the fp16 table is off by ~4e-3; f32 stays within ~1e-6
    x = np.linspace(7.5, 8.5, 64, dtype=np.float32)
    try:
        gelu, _ = ggml_gelu_and_geglu(x, np.ones_like(x))
        exact: bool | None = bool(np.abs(gelu - gelu_tanh_f64(x)).max() < 1e-4)
    except (OSError, AttributeError, ModuleNotFoundError):  # a build without the separate ggml libraries
        exact = None
    return {"llama_cpp_python": getattr(llama_cpp, "__version__", None), "exact_gelu": exact}
