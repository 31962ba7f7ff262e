"""What the installed llama.cpp computes: ggml's own CPU ops run through ctypes.

scripts/setup.sh builds llama.cpp with GELU in f32 (scripts/patches/ggml-exact-gelu.patch); a
llama-cpp-python built elsewhere reads GELU from an fp16 table, which moves f32 logits of GELU
models (Gemma, T5 v1.1) by ~1e-4. Exports record which build made their parity numbers.
It also builds attention whose one-token rows equal a batch's rows bit for bit
(scripts/patches/ggml-batch-invariant-attention.patch), which lossless speculation relies on, and
a batched Q4_1 matmul with the same sums as one column at a time, which makes a speculative
verifier pass (and prefill) of the default model cheaper (scripts/patches/ggml-q4_1-gemm.patch).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import cache
from pathlib import Path

import numpy as np

GGML_TYPE_F32, GGML_TYPE_Q4_1 = 0, 3


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def lib_dir() -> Path:
    """The folder of the libraries the binding loads (llama_cpp.llama_cpp honours the same variable)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("llama_cpp")
    return Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(spec.origin).parent / "lib")


@cache
def _ggml() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    lib = lib_dir()
    base = ctypes.CDLL(str(lib / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(str(lib / "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    vp = ctypes.c_void_p
    i64 = ctypes.c_int64
    for name, res, args in [("ggml_init", vp, [_InitParams]), ("ggml_new_tensor_1d", vp, [vp, ctypes.c_int, i64]),
                            ("ggml_new_tensor_2d", vp, [vp, ctypes.c_int, i64, i64]),
                            ("ggml_quantize_chunk", ctypes.c_size_t, [ctypes.c_int, vp, vp, i64, i64, i64, vp]),
                            ("ggml_mul_mat", vp, [vp, vp, vp]),
                            ("ggml_gelu", vp, [vp, vp]), ("ggml_geglu_split", vp, [vp, vp, vp]),
                            ("ggml_new_graph", vp, [vp]), ("ggml_build_forward_expand", None, [vp, vp]),
                            ("ggml_get_data", vp, [vp]), ("ggml_free", None, [vp])]:
        fn = getattr(base, name)
        fn.restype, fn.argtypes = res, args
    cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int
    cpu.ggml_graph_compute_with_ctx.argtypes = [vp, vp, ctypes.c_int]
    return base, cpu


def _run_graph(nbytes: int, build, threads: int = 1) -> list[np.ndarray]:
    """Run the ops `build(base, ctx)` returns as [(tensor, shape)] in a ggml context of `nbytes`
    (plus room for the graph's work buffer) on `threads`; their f32 results, copied out."""
    base, cpu = _ggml()
    ctx = base.ggml_init(_InitParams(nbytes + (1 << 20), None, False))
    if not ctx:
        raise MemoryError("ggml_init failed")
    try:
        outs = build(base, ctx)
        graph = base.ggml_new_graph(ctx)
        for t, _ in outs:
            base.ggml_build_forward_expand(graph, t)
        if cpu.ggml_graph_compute_with_ctx(ctx, graph, threads) != 0:
            raise RuntimeError("ggml_graph_compute failed")
        return [np.ctypeslib.as_array(ctypes.cast(base.ggml_get_data(t), ctypes.POINTER(ctypes.c_float)), shape).copy()
                for t, shape in outs]
    finally:
        base.ggml_free(ctx)


def _f32_tensor(base, ctx, x: np.ndarray) -> int:
    t = base.ggml_new_tensor_1d(ctx, GGML_TYPE_F32, x.size) if x.ndim == 1 else \
        base.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, x.shape[1], x.shape[0])
    ctypes.memmove(base.ggml_get_data(t), x.ctypes.data, x.nbytes)
    return t


def ggml_gelu_and_geglu(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ggml_gelu(x), ggml_geglu_split(x, g)) as the installed ggml CPU backend computes them."""
    x, g = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(g, np.float32)

    def build(base, ctx):
        a, b = _f32_tensor(base, ctx, x), _f32_tensor(base, ctx, g)
        return [(base.ggml_gelu(ctx, a), x.shape), (base.ggml_geglu_split(ctx, a, b), x.shape)]

    gelu, geglu = _run_graph(16 * x.nbytes, build)
    return gelu, geglu


def ggml_mul_mat_q4_1(w: np.ndarray, x: np.ndarray, threads: int = 2) -> np.ndarray:
    """x @ w.T with w (rows, n) quantized to Q4_1 and x (cols, n) to Q8_1, as llama.cpp computes a
    Q4_1 layer for `cols` tokens at once: (cols, rows) f32. n must be a multiple of 32."""
    w, x = np.ascontiguousarray(w, np.float32), np.ascontiguousarray(x, np.float32)
    (rows, n), cols = w.shape, x.shape[0]

    def build(base, ctx):
        q = base.ggml_new_tensor_2d(ctx, GGML_TYPE_Q4_1, n, rows)
        base.ggml_quantize_chunk(GGML_TYPE_Q4_1, w.ctypes.data, base.ggml_get_data(q), 0, rows, n, None)
        return [(base.ggml_mul_mat(ctx, q, _f32_tensor(base, ctx, x)), (cols, rows))]

    return _run_graph(w.nbytes + 3 * x.nbytes + 4 * rows * cols, build, threads)[0]


def gelu_tanh_f64(x: np.ndarray) -> np.ndarray:
    """GELU (tanh form) in float64, as x·sigmoid(2u): 1 + tanh(u) would cancel to 0 for x << 0."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):  # exp overflows to inf for x << 0, and x / inf is the right 0
        return x / (1.0 + np.exp(-2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


BATCH_INVARIANT_MARK = "EDGESPLIT_BATCH_INVARIANT_ATTN = 1"  # the patches' entries in ggml-cpu's feature list
Q4_1_GEMM_MARK = "EDGESPLIT_Q4_1_GEMM = 1"


@cache
def _system_info() -> str:
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace")


def batch_invariant_attention() -> bool:
    """Whether the installed llama.cpp carries edgesplit's batch-invariant attention patch (a stock
    build splits a single query's KV over the threads from 512 cached positions on: other sums)."""
    return BATCH_INVARIANT_MARK in _system_info()


@cache
def build_identity() -> tuple:
    """What tells this process's llama.cpp build from another: version, feature list, and its
    libraries' folder, sizes and times (a rebuilt kernel keeps the version and feature list)."""
    import llama_cpp

    libs = lib_dir()
    files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in libs.glob("*.so*") if f.is_file())
    return getattr(llama_cpp, "__version__", ""), _system_info(), str(libs.resolve()), tuple(files)


def q4_1_gemm() -> bool:
    """Whether batched Q4_1 matmuls run edgesplit's kernel (x86 with AVX2). Stock ggml runs them a
    column at a time: an 8-token pass of the default model cost 4.1 one-token passes, 3.0 with it
    (2-core EPYC, bench/verify_cost.py); results are the same bit for bit."""
    return Q4_1_GEMM_MARK in _system_info()


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
