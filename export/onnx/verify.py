"""Re-check an ONNX bundle's logits: against its stored reference, or against a source checkpoint."""

from __future__ import annotations

from pathlib import Path

from edge.bundle import DecodeParityFacts, OnnxManifest
from edge.errors import ModelFormatError
from export import decode
from export.parity_result import compare

from . import parity


def verify_bundle(path: Path, manifest: OnnxManifest, reference: str | None = None) -> dict:
    """Parity report: `max_abs_logit_diff`, `top1_agreement`, `n_tokens`, `passed` (hashes checked by the caller)."""
    from edge.backends.onnxruntime import load_model

    path = Path(path)
    model = load_model(path, encoder_decoder=manifest.encoder_decoder,
                       decoder_start_token_id=manifest.runtime.decoder_start_token_id or 0)
    if reference is None:
        if not (path / parity.REFERENCE_FILE).is_file():
            raise ModelFormatError(f"{path} has no {parity.REFERENCE_FILE}: pass --reference SRC to re-measure parity")
        report = parity.compare_stored(path, model.teacher_forced)
        against = f"stored reference ({manifest.parity.reference if manifest.parity else 'source'}, top-{parity.TOP_K})"
        paths = decode.load_paths(path) if decode.has_paths(path) else None
    else:
        if not Path(reference).exists():
            raise ModelFormatError(f"--reference {reference} does not exist: pass the source checkpoint directory")
        source = _reference_source(Path(reference), manifest)
        ids = parity.parity_ids(source.tokenizer)
        ref = parity.torch_logits(source.model, ids, source.arch.encoder_decoder)
        report = compare(ref, model.teacher_forced(ids))
        against = f"pytorch {reference}"
        paths = decode.torch_paths(source.model, decode.encode_prompts(lambda t: source.tokenizer(t)["input_ids"]))
    decoded = _decode_check(paths, model, manifest)
    passed = parity.passes(report, manifest.parity) and (decoded is None or decoded.passed)
    return {**report.as_dict(), "reference": against, "passed": passed,
            "decode_parity": None if decoded is None else decode.as_report(decoded)}


def _reference_source(reference: Path, manifest: OnnxManifest):
    """The source as the export compared against it (a ternary bundle: the ternarized model)."""
    from .export import ternarize_linears
    from .source import load_source

    source = load_source(reference)
    if manifest.quantization == "ternary":
        ternarize_linears(source.model)
    return source


def _decode_check(paths, model, manifest: OnnxManifest) -> DecodeParityFacts | None:
    """Greedy decode through the bundle's KV cache along the reference paths (none stored: not checked),
    within the bound the export met (as the teacher-forced re-check, `parity.passes`)."""
    if paths is None:
        return None
    met = manifest.parity.tolerance if manifest.parity else parity.bound(manifest.quantization)
    bounds = parity.decode_bounds(manifest.quantization, met)
    return decode.compare(paths, model).to_manifest("reference greedy paths", *bounds)
