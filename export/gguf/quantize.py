"""GGUF types: which llama.cpp ftype each `--quant` is, the pre-flight check, and the quantize call.

K-quants and TQ types pack 256 weights per block, so a tensor whose rows (ne0, the input
dimension) are not a multiple of 256 cannot take them; llama.cpp then silently falls back to
another type. `preflight` reports those tensors, with the type they will get, before anything
is written (`strict=True` refuses instead).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as Q

from edge.errors import ExportError


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype: str  # llama_cpp.LLAMA_FTYPE_* attribute
    base: Q  # what linear layers get
    ternary: bool = False

    @property
    def is_float(self) -> bool:
        """Every row fits a float type: no pre-flight needed."""
        return self.base in (Q.F32, Q.F16, Q.BF16)


# the llama-quantize names users know; IQ types below 4 bits need an importance matrix and are left out
QUANTS: dict[str, QuantType] = {q.name: q for q in (
    QuantType("f32", "LLAMA_FTYPE_ALL_F32", Q.F32),
    QuantType("f16", "LLAMA_FTYPE_MOSTLY_F16", Q.F16),
    QuantType("bf16", "LLAMA_FTYPE_MOSTLY_BF16", Q.BF16),
    QuantType("q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0", Q.Q8_0),
    QuantType("q6_k", "LLAMA_FTYPE_MOSTLY_Q6_K", Q.Q6_K),
    QuantType("q5_k_m", "LLAMA_FTYPE_MOSTLY_Q5_K_M", Q.Q5_K),
    QuantType("q5_k_s", "LLAMA_FTYPE_MOSTLY_Q5_K_S", Q.Q5_K),
    QuantType("q5_1", "LLAMA_FTYPE_MOSTLY_Q5_1", Q.Q5_1),
    QuantType("q5_0", "LLAMA_FTYPE_MOSTLY_Q5_0", Q.Q5_0),
    QuantType("q4_k_m", "LLAMA_FTYPE_MOSTLY_Q4_K_M", Q.Q4_K),
    QuantType("q4_k_s", "LLAMA_FTYPE_MOSTLY_Q4_K_S", Q.Q4_K),
    QuantType("q4_1", "LLAMA_FTYPE_MOSTLY_Q4_1", Q.Q4_1),
    QuantType("q4_0", "LLAMA_FTYPE_MOSTLY_Q4_0", Q.Q4_0),
    QuantType("iq4_nl", "LLAMA_FTYPE_MOSTLY_IQ4_NL", Q.IQ4_NL),
    QuantType("iq4_xs", "LLAMA_FTYPE_MOSTLY_IQ4_XS", Q.IQ4_XS),
    QuantType("q3_k_m", "LLAMA_FTYPE_MOSTLY_Q3_K_M", Q.Q3_K),
    QuantType("q2_k", "LLAMA_FTYPE_MOSTLY_Q2_K", Q.Q2_K),
    QuantType("tq2_0", "LLAMA_FTYPE_MOSTLY_TQ2_0", Q.TQ2_0, ternary=True),
    QuantType("tq1_0", "LLAMA_FTYPE_MOSTLY_TQ1_0", Q.TQ1_0, ternary=True),
)}
EMBEDDING_TYPES: dict[str, Q] = {"f16": Q.F16, "q8_0": Q.Q8_0}

# llama.cpp's substitutes for a type whose block does not divide the row (llama-quant.cpp)
FALLBACK: dict[Q, Q] = {Q.TQ1_0: Q.Q4_0, Q.TQ2_0: Q.Q4_0, Q.Q2_K: Q.Q4_0, Q.Q3_K: Q.Q4_0, Q.Q4_K: Q.Q5_0,
                        Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0, Q.IQ4_XS: Q.IQ4_NL}


@dataclass(frozen=True)
class Fallback:
    tensor: str
    row: int
    wanted: str
    gets: str

    def __str__(self) -> str:
        return f"{self.tensor}: row length {self.row} is not a multiple of 256, {self.wanted} -> {self.gets}"


def quant_type(name: str) -> QuantType:
    try:
        return QUANTS[name]
    except KeyError:
        raise ExportError(f"unknown GGUF type {name!r}; choose one of {', '.join(QUANTS)}") from None


def _fits(row: int, qtype: Q) -> bool:
    return row % GGML_QUANT_SIZES[qtype][0] == 0


def fallback_type(row: int, wanted: Q) -> Q:
    if _fits(row, wanted):
        return wanted
    sub = FALLBACK.get(wanted, Q.F16)
    return sub if _fits(row, sub) else Q.F16


def preflight(shapes: dict[str, tuple[int, ...]], quant: QuantType, strict: bool) -> list[Fallback]:
    """Linear tensors (GGUF name -> numpy shape) that cannot take `quant`, and what they get."""
    found = []
    for name, shape in sorted(shapes.items()):
        # only block linears take --quant; embeddings/output follow --keep-embeddings or llama.cpp's rules
        in_block = name.startswith(("blk.", "enc.blk.", "dec.blk."))
        if not in_block or len(shape) != 2 or not name.endswith(".weight") or "attn_rel_b" in name:
            continue
        got = fallback_type(shape[-1], quant.base)
        if got != quant.base:
            found.append(Fallback(name, shape[-1], quant.base.name, got.name))
    if found and strict:
        listing = "; ".join(str(f) for f in found[:5])
        raise ExportError(f"--strict: {len(found)} tensors cannot be stored as {quant.name} ({listing}"
                          f"{' ...' if len(found) > 5 else ''}); choose another type or drop --strict")
    return found


def quantize(src: Path, dst: Path, quant: QuantType, *, keep_embeddings: str | None, threads: int) -> None:
    """Quantize an f32/f16 GGUF with llama.cpp's own quantizer (K-quant mixes, TQ packing)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, quant.ftype)
    params.nthread = threads
    if keep_embeddings is None and quant.ternary:
        # llama.cpp would give embeddings/output Q4_K; ternary models keep them precise (BitNet b1.58)
        keep_embeddings = "f16"
    if keep_embeddings is not None:
        params.token_embedding_type = int(EMBEDDING_TYPES[keep_embeddings])
        params.output_tensor_type = int(EMBEDDING_TYPES[keep_embeddings])
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise ExportError(f"llama.cpp could not quantize {src.name} to {quant.name} (code {rc})")
