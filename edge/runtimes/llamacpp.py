"""Every llama.cpp fact edgesplit relies on, and the one place that builds llama.cpp objects.

    with loaded(path, n_ctx=256, threads=2) as llm:
        vocab = Vocab(llm)
    quantize(src, dst, "q4_k_m", threads=4)
    QUANTS["q4_k_m"].bits, kv_ggml_type("q8_0")

The tables (ggml type ids, KV-cache types, quantization types) are plain data, so importing
this module does not import llama_cpp; `library()` does, once, and installs a log callback:
llama.cpp's own log lines (`llama_context: ...`) reach stderr only after `set_verbose(True)`
(the CLI's `--verbose`) or with EDGESPLIT_VERBOSE=1; its error lines go into our error messages.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EdgeError, InvalidRequestError, ModelFormatError

if TYPE_CHECKING:
    import numpy as np

    from ..options import RuntimeOptions

VERBOSE_ENV = "EDGESPLIT_VERBOSE"

# ggml.h `enum ggml_type` for the types named below (gguf-py's GGMLQuantizationType has the same values)
GGML_TYPE_IDS: dict[str, int] = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
    "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ4_NL": 20, "IQ4_XS": 23, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35,
}


# -- KV cache -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KVType:
    name: str  # as RuntimeOptions.kv_type and profiles spell it
    ggml: str  # key of GGML_TYPE_IDS
    bytes_per_value: float  # per cached element, block scales included
    needs_flash_attn: bool  # llama.cpp quantizes V only inside the flash-attention kernel

    @property
    def ggml_id(self) -> int:
        return GGML_TYPE_IDS[self.ggml]


KV_CACHE: dict[str, KVType] = {k.name: k for k in (
    KVType("f32", "F32", 4.0, False),
    KVType("f16", "F16", 2.0, False),
    KVType("q8_0", "Q8_0", 34 / 32, True),
    KVType("q4_0", "Q4_0", 18 / 32, True),
)}


def kv_ggml_type(name: str) -> int:
    """The ggml type id llama.cpp's `type_k`/`type_v` take for a KV-cache type name."""
    try:
        return KV_CACHE[name].ggml_id
    except KeyError:
        raise InvalidRequestError(f"kv_type must be one of {', '.join(KV_CACHE)}, got {name!r}") from None


# -- quantization types -------------------------------------------------------------------------
# llama.cpp's substitute for a type whose block does not divide a row (llama-quant.cpp); others get F16
GGML_FALLBACK: dict[str, str] = {"TQ1_0": "Q4_0", "TQ2_0": "Q4_0", "Q2_K": "Q4_0", "Q3_K": "Q4_0",
                                 "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "IQ4_XS": "IQ4_NL"}
_FLOATS = ("F32", "F16", "BF16")


@dataclass(frozen=True)
class QuantType:
    name: str  # the llama-quantize name users know
    ftype: int  # llama.h `enum llama_ftype`, what llama_model_quantize takes and general.file_type records
    ggml: str  # the ggml type linear layers get (key of GGML_TYPE_IDS)
    bits: float  # bits per weight of those layers, for footprint estimates
    ternary: bool = False  # useful only for weights trained ternary (FINDINGS.md)

    @property
    def is_float(self) -> bool:
        """Every row fits a float type: nothing falls back."""
        return self.ggml in _FLOATS

    @property
    def fallback(self) -> str:
        """The ggml type a row gets when its length is not a multiple of this type's block."""
        return GGML_FALLBACK.get(self.ggml, "F16")


QUANTS: dict[str, QuantType] = {}


def register_quant(q: QuantType) -> QuantType:
    """Add a type to QUANTS; a name or ftype registered twice is a bug."""
    if q.name in QUANTS or any(o.ftype == q.ftype for o in QUANTS.values()):
        raise ValueError(f"quantization {q.name!r} (ftype {q.ftype}) is already registered")
    if q.ggml not in GGML_TYPE_IDS:
        raise ValueError(f"quantization {q.name!r}: unknown ggml type {q.ggml!r}")
    QUANTS[q.name] = q
    return q


# IQ types below 4 bits need an importance matrix and are left out. Bits: block layout; K-quant mixes
# and iq4_xs as measured on bench/quant_types.py's model (linear layers)
for _q in (
    QuantType("f32", 0, "F32", 32.0), QuantType("f16", 1, "F16", 16.0), QuantType("bf16", 32, "BF16", 16.0),
    QuantType("q8_0", 7, "Q8_0", 8.5), QuantType("q6_k", 18, "Q6_K", 6.5625),
    QuantType("q5_k_m", 17, "Q5_K", 5.69), QuantType("q5_k_s", 16, "Q5_K", 5.5),
    QuantType("q5_1", 9, "Q5_1", 6.0), QuantType("q5_0", 8, "Q5_0", 5.5),
    QuantType("q4_k_m", 15, "Q4_K", 4.85), QuantType("q4_k_s", 14, "Q4_K", 4.56),
    QuantType("q4_1", 3, "Q4_1", 5.0), QuantType("q4_0", 2, "Q4_0", 4.5),
    QuantType("iq4_nl", 25, "IQ4_NL", 4.5), QuantType("iq4_xs", 30, "IQ4_XS", 4.28),
    QuantType("q3_k_m", 12, "Q3_K", 3.87), QuantType("q2_k", 10, "Q2_K", 2.94),
    QuantType("tq2_0", 37, "TQ2_0", 2.0625, ternary=True), QuantType("tq1_0", 36, "TQ1_0", 1.6875, ternary=True),
):
    register_quant(_q)


def quant_type(name: str, error: type[EdgeError] = InvalidRequestError) -> QuantType:
    try:
        return QUANTS[name]
    except KeyError:
        raise error(f"unknown GGUF type {name!r}; choose one of {', '.join(QUANTS)}") from None


def quant_for_ftype(ftype: int) -> QuantType | None:
    return next((q for q in QUANTS.values() if q.ftype == ftype), None)


# -- the library and its log --------------------------------------------------------------------
_verbose: bool | None = None
_errors: deque[str] = deque(maxlen=8)  # llama.cpp's error lines since the last load or quantize began
_LOG_ERROR, _LOG_CONT = 4, 5  # ggml.h enum ggml_log_level
_last_level = 0
_keep: list[Any] = []  # the installed callback: the C side holds only a pointer


def set_verbose(on: bool | None) -> bool | None:
    """Let llama.cpp's log lines through to stderr (True) or drop them (False; None: as EDGESPLIT_VERBOSE
    says, default off). Returns the previous setting, to restore."""
    global _verbose
    previous, _verbose = _verbose, on
    return previous


def verbose() -> bool:
    return _verbose if _verbose is not None else os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _log(level: int, text: bytes | None, _user: Any) -> None:
    global _last_level
    _last_level = _last_level if level == _LOG_CONT else level
    line = (text or b"").decode("utf-8", "replace")
    if _last_level == _LOG_ERROR and line.strip():
        _errors.append(line.strip())
    if verbose():
        sys.stderr.write(line)
        sys.stderr.flush()


@cache
def library() -> Any:
    """The llama_cpp module, with edgesplit's log callback installed (llama-cpp-python's prints all
    until a `Llama(verbose=False)` turns it down, so low-level calls and the quantizer would chatter)."""
    import llama_cpp

    callback = llama_cpp.llama_log_callback(_log)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    _keep.append(callback)
    return llama_cpp


def _load_error(what: str, path: Path, exc: Exception | None = None) -> ModelFormatError:
    why = f": {exc}" if exc is not None else ""
    log = f" (llama.cpp: {_errors[0]})" if _errors else ""  # the first says why; the rest say "failed"
    return ModelFormatError(f"llama.cpp could not {what} {path}{why}{log}")


# -- opening a model ----------------------------------------------------------------------------
def open_model(path: Path | str, *, n_ctx: int = 512, n_batch: int | None = None, threads: int = 1,
               kv_type: str = "f16", flash_attn: bool = False, use_mmap: bool = True, use_mlock: bool = False,
               logits_all: bool = False, vocab_only: bool = False) -> Any:
    """A `llama_cpp.Llama` (caller closes it); a file llama.cpp refuses raises ModelFormatError."""
    lib, kv = library(), kv_ggml_type(kv_type)
    _errors.clear()
    try:
        return lib.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch or n_ctx, n_threads=threads,
                         n_threads_batch=threads, type_k=kv, type_v=kv, flash_attn=flash_attn, use_mmap=use_mmap,
                         use_mlock=use_mlock, logits_all=logits_all, vocab_only=vocab_only, verbose=verbose())
    except (ValueError, RuntimeError) as exc:
        raise _load_error("load", Path(path), exc) from None


def open_with_options(path: Path | str, options: RuntimeOptions, n_ctx: int | None = None) -> Any:
    """The model as the Engine's llama.cpp backend opens it under `options` (bench's reference too)."""
    n_ctx = n_ctx or options.n_ctx
    return open_model(path, n_ctx=n_ctx, n_batch=min(options.n_batch, n_ctx), threads=options.threads,
                      kv_type=options.kv_type, flash_attn=options.flash_attn, use_mmap=options.use_mmap,
                      use_mlock=options.use_mlock)


@contextmanager
def loaded(path: Path | str, **kwargs: Any) -> Iterator[Any]:
    """`open_model(path, **kwargs)`, closed on exit."""
    llm = open_model(path, **kwargs)
    try:
        yield llm
    finally:
        llm.close()


@contextmanager
def vocab_only(path: Path | str) -> Iterator[Any]:
    """The GGUF's tokenizer and metadata only (no weights read), closed on exit."""
    with loaded(path, vocab_only=True) as llm:
        yield llm


def file_quant(path: Path | str) -> str | None:
    """The registered type a GGUF records as its `general.file_type`, or None."""
    with vocab_only(path) as llm:
        file_type = llm.metadata.get("general.file_type", "")
    q = quant_for_ftype(int(file_type)) if file_type.isdigit() else None
    return q.name if q is not None else None


# -- vocabulary and logits ----------------------------------------------------------------------
class Vocab:
    """A loaded model's vocabulary: end-of-generation test, size and token pieces."""

    def __init__(self, llm: Any) -> None:
        self._lib, self._llm = library(), llm
        self.handle = llm._model.vocab  # the llama_vocab pointer, for llama.cpp calls not wrapped here
        self.size: int = llm.n_vocab()

    def is_eog(self, token_id: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self.handle, token_id))

    def piece(self, token_id: int, special: bool = False) -> bytes:
        return self._llm.detokenize([token_id], special=special)


def last_logits(llm: Any) -> np.ndarray:
    """A copy of the context's logits for the last evaluated position."""
    import numpy as np

    return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).copy()


# -- quantizing ---------------------------------------------------------------------------------
def quantize(src: Path, dst: Path, quant: str | QuantType, *, threads: int, allow_requantize: bool = False,
             embeddings: str | None = None, error: type[EdgeError] = EdgeError) -> None:
    """Write `src` quantized to `quant` at `dst` with llama.cpp's own quantizer (K-quant mixes, TQ
    packing). `embeddings` (a KV_CACHE-style name: "f16", "q8_0"): the token embeddings' and output
    layer's type instead of llama.cpp's choice. A failure raises `error`."""
    q = quant if isinstance(quant, QuantType) else quant_type(quant, error)
    lib = library()
    params = lib.llama_model_quantize_default_params()
    params.ftype, params.nthread, params.allow_requantize = q.ftype, threads, allow_requantize
    if embeddings is not None:
        params.token_embedding_type = params.output_tensor_type = GGML_TYPE_IDS[embeddings.upper()]
    _errors.clear()
    rc = lib.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not Path(dst).is_file():
        log = f": {_errors[0]}" if _errors else ""
        raise error(f"llama.cpp could not quantize {Path(src).name} to {q.name} (code {rc}){log}")
