"""Re-check an ONNX bundle's logits: against its stored reference, or against a source checkpoint."""

from __future__ import annotations

from pathlib import Path

from edge.bundle import Manifest
from edge.errors import ModelFormatError

from . import parity


def verify_bundle(path: Path, manifest: Manifest, reference: str | None = None) -> dict:
    """Parity report: `max_abs_logit_diff`, `top1_agreement`, `n_tokens`, `passed` (hashes checked by the caller)."""
    from edge.backends.onnxruntime import load_model

    path = Path(path)
    rt = manifest.extra.get("runtime", {})
    model = load_model(path, encoder_decoder=manifest.encoder_decoder,
                       decoder_start_token_id=int(rt.get("decoder_start_token_id") or 0))
    if reference is None:
        if not (path / parity.REFERENCE_FILE).is_file():
            raise ModelFormatError(f"{path} has no {parity.REFERENCE_FILE}: pass --reference SRC to re-measure parity")
        report = parity.compare_stored(path, model.teacher_forced)
        against = f"stored reference ({manifest.parity.reference if manifest.parity else 'source'}, top-{parity.TOP_K})"
    else:
        from .source import load_source

        if not Path(reference).exists():
            raise ModelFormatError(f"--reference {reference} does not exist: pass the source checkpoint directory")
        source = load_source(Path(reference))
        ids = parity.parity_ids(source.tokenizer)
        ref = parity.torch_logits(source.model, ids, source.arch.encoder_decoder)
        report = parity.compare(ref, model.teacher_forced(ids))
        against = f"pytorch fp32 {reference}"
    return {**report.as_dict(), "reference": against, "passed": parity.passes(report, manifest.parity)}
