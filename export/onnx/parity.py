"""Logit parity between an exported bundle and its PyTorch source.

Teacher-forced over >= 64 positions of a fixed text: max |Δlogit| and top-1 agreement. The
reference's top-8 logits per position are kept in the bundle (parity/reference.npz) so that
`edgesplit verify` can re-check the ONNX files later without the source checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import DecodeParityFacts, Parity
from edge.errors import ExportError, ParityError
from export.parity_result import LogitParity

FIXED_TEXT = (
    "Small language models run on laptops, phones and single-board computers. They answer "
    "questions, summarise notes and fill in forms without sending private context to a server. "
    "Paris is the capital of France, Berlin is the capital of Germany and Madrid is the capital "
    "of Spain. The quick brown fox jumps over the lazy dog while 0 1 2 3 4 5 6 7 8 9 count on. "
)
N_POSITIONS = 72
TOP_K = 8
REFERENCE_FILE = "parity/reference.npz"
# (max |Δlogit|, min top-1 agreement) an export must meet; None = reported only
TOLERANCES: dict[str, tuple[float | None, float | None]] = {
    "fp32": (2e-3, 0.99), "fp16": (None, 0.9), "int8": (None, 0.9), "int4": (None, 0.6),
    # against the ternarized PyTorch model: only the 8-bit lm_head and int8 activations differ
    "ternary": (None, 0.85),
}
# fp32 rounding grows with the logits' scale (SmolLM2's reach 37: one fused export of it measured 6.2e-3 on an
# AVX-512 CPU, others 9e-5): the bound is max(absolute above, relative x the reference's max |logit|)
RELATIVE: dict[str, float] = {"fp32": 5e-4}
# fp32 greedy decode must equal the source's (ties within decode.MARGIN aside); others as teacher-forced
DECODE_MIN_AGREEMENT = {"fp32": 1.0}
# what to try, per type, when an export misses its bound (smaller blocks are more precise, not larger)
ADVICE = {
    "int4": "try --quant int8, keep more tensors at 8 bits (--keep-8bit q_proj --keep-8bit up_proj ...), "
            "or a smaller --block-size (16; not for a source already in 4-bit blocks of 32, a Q4_0/Q4_1 GGUF)",
    "int8": "try --quant fp16 (or fp32): int8 is the narrowest type that keeps every tensor at 8 bits",
    "ternary": "the 2-bit packing disagrees with the ternarized model: report it with the checkpoint's config",
    "fp16": "this model overflows fp16: use --quant fp32 or int8",
    "fp32": "the ONNX graph disagrees with the source: report it with the checkpoint's config",
}


def parity_ids(tokenizer: Any, n: int = N_POSITIONS) -> list[int]:
    """`n` token ids of FIXED_TEXT (repeated as needed), without special tokens."""
    ids = tokenizer(FIXED_TEXT, add_special_tokens=False)["input_ids"]
    return (ids * (n // max(len(ids), 1) + 1))[:n]


def torch_logits(model: Any, ids: list[int], encoder_decoder: bool) -> np.ndarray:
    """Reference logits [T, V] from the source model, teacher-forced like the runtime's."""
    import torch

    if len(ids) < 2:
        raise ExportError("the tokenizer turns the parity text into fewer than 2 tokens")
    x = torch.tensor([ids])
    with torch.no_grad():
        if encoder_decoder:
            start = model.config.decoder_start_token_id or 0
            dec = torch.tensor([[start, *ids[:-1]]])
            return model(input_ids=x, decoder_input_ids=dec, use_cache=False).logits[0].float().numpy()
        return model(input_ids=x, use_cache=False).logits[0].float().numpy()


def save_reference(bundle: Path, ids: list[int], reference: np.ndarray) -> None:
    top = np.argsort(-reference, axis=-1)[:, :TOP_K]
    path = bundle / REFERENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.asarray(ids, dtype=np.int64), top_ids=top,
             top_logits=np.take_along_axis(reference, top, axis=-1))


def compare_stored(bundle: Path, logits_fn: Any) -> LogitParity:
    """Parity of the bundle's ONNX logits against the stored top-k reference logits."""
    data = np.load(bundle / REFERENCE_FILE)
    got = logits_fn(data["ids"].tolist())
    gathered = np.take_along_axis(got, data["top_ids"], axis=-1)
    diff = float(np.abs(gathered - data["top_logits"]).max())
    top1 = float((got.argmax(-1) == data["top_ids"][:, 0]).mean())
    return LogitParity(diff, top1, len(got), float(np.abs(data["top_logits"]).max()))


def bound(quant: str, scale: float = 1.0) -> float | None:
    """The max |Δlogit| an export of type `quant` may show, for reference logits reaching `scale`."""
    tol = TOLERANCES[quant][0]
    return None if tol is None else max(tol, RELATIVE.get(quant, 0.0) * scale)


def check(report: LogitParity, quant: str, reference: str) -> Parity:
    """The manifest's parity entry (with the bound it met); ParityError when the export misses it."""
    tol, min_top1 = bound(quant, report.max_abs_reference_logit), TOLERANCES[quant][1]
    if not report.within(tol, min_top1):
        raise ParityError(
            f"{quant} ONNX logits differ from {reference}: max |Δlogit| {report.max_abs_logit_diff:.3g} "
            f"(tolerance {tol}), top-1 agreement {report.top1_agreement:.3f} (minimum {min_top1}); "
            f"nothing was written. {ADVICE[quant]}"
        )
    return report.to_manifest(reference, tol, min_top1)


def decode_bounds(quant: str, tolerance: float | None) -> tuple[float | None, float | None]:
    """(min greedy agreement, max |Δlogit|) on the KV-cache decode path; `tolerance`: the bound the
    teacher-forced check met (`check`), which the decode path shares."""
    return DECODE_MIN_AGREEMENT.get(quant, TOLERANCES[quant][1]), tolerance


def check_decode(report: Any, quant: str, reference: str, tolerance: float | None) -> DecodeParityFacts:
    """The manifest's decode-path entry; ParityError when the cached decode misses its bound."""
    facts = report.to_manifest(reference, *decode_bounds(quant, tolerance))
    if not facts.passed:
        raise ParityError(f"{quant} ONNX greedy decode through the KV cache differs from {reference}: {facts} "
                          f"(minimum agreement {facts.min_agreement}, tolerance {facts.tolerance}); nothing was "
                          f"written. {ADVICE[quant]}")
    return facts


def passes(report: LogitParity, parity: Parity | None) -> bool:
    """Within the bounds recorded at export (none recorded: nothing to fail)."""
    return parity is None or report.within(parity.tolerance, parity.min_top1)
