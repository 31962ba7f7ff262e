"""GGUF types for `export gguf`: the pre-flight check and the quantize call.

Which llama.cpp ftype each `--quant` is, and what a type falls back to, live in the quantization
registry (`edge.runtimes.llamacpp.QUANTS`). K-quants and TQ types pack 256 weights per block, so
a tensor whose rows (ne0, the input dimension) are not a multiple of 256 cannot take them;
llama.cpp then silently falls back to another type. `preflight` reports those tensors, with the
type they will get, before anything is written (`strict=True` refuses instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as Q

from edge.errors import ExportError
from edge.runtimes import llamacpp
from edge.runtimes.llamacpp import QUANTS, QuantType

__all__ = ["EMBEDDING_TYPES", "QUANTS", "Fallback", "QuantType", "fallback_type", "preflight", "quant_type", "quantize"]
EMBEDDING_TYPES = ("f16", "q8_0")  # --keep-embeddings choices


@dataclass(frozen=True)
class Fallback:
    tensor: str
    row: int
    wanted: str
    gets: str

    def __str__(self) -> str:
        return f"{self.tensor}: row length {self.row} is not a multiple of 256, {self.wanted} -> {self.gets}"


def quant_type(name: str) -> QuantType:
    return llamacpp.quant_type(name, ExportError)


def _fits(row: int, qtype: Q) -> bool:
    return row % GGML_QUANT_SIZES[qtype][0] == 0


def fallback_type(row: int, wanted: Q) -> Q:
    if _fits(row, wanted):
        return wanted
    sub = Q[llamacpp.GGML_FALLBACK.get(wanted.name, "F16")]
    return sub if _fits(row, sub) else Q.F16


def preflight(shapes: dict[str, tuple[int, ...]], quant: QuantType, strict: bool) -> list[Fallback]:
    """Linear tensors (GGUF name -> numpy shape) that cannot take `quant`, and what they get."""
    found = []
    for name, shape in sorted(shapes.items()):
        # only block linears take --quant; embeddings/output follow --keep-embeddings or llama.cpp's rules
        in_block = name.startswith(("blk.", "enc.blk.", "dec.blk."))
        if not in_block or len(shape) != 2 or not name.endswith(".weight") or "attn_rel_b" in name:
            continue
        wanted = Q[quant.ggml]
        got = fallback_type(shape[-1], wanted)
        if got != wanted:
            found.append(Fallback(name, shape[-1], wanted.name, got.name))
    if found and strict:
        listing = "; ".join(str(f) for f in found[:5])
        raise ExportError(f"--strict: {len(found)} tensors cannot be stored as {quant.name} ({listing}"
                          f"{' ...' if len(found) > 5 else ''}); choose another type or drop --strict")
    return found


def quantize(src: Path, dst: Path, quant: QuantType, *, keep_embeddings: str | None, threads: int) -> None:
    """Quantize an f32/f16 GGUF with llama.cpp's own quantizer (K-quant mixes, TQ packing)."""
    if keep_embeddings is None and quant.ternary:
        # llama.cpp would give embeddings/output Q4_K; ternary models keep them precise (BitNet b1.58)
        keep_embeddings = "f16"
    llamacpp.quantize(src, dst, quant, threads=threads, embeddings=keep_embeddings, error=ExportError)
