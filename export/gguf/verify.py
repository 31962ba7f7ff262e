"""`edgesplit verify` for GGUF bundles: re-measure logit and tokenizer parity against the source checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.bundle import DecodeParityFacts, GgufManifest
from edge.errors import ExportError
from edge.gguf_probe import probe_gguf
from edge.runtimes import llamacpp
from export import decode
from export.parity_result import LogitParity, compare

from .parity import MIN_TOP1, TOLERANCE, CausalStepper, causal_logits, decode_parity, passed
from .reference import PARITY_TEXT
from .tokcheck import tokenizer_parity


def _gguf_file(bundle: Path, manifest: GgufManifest) -> Path:
    ggufs = [n for n in manifest.files if n.endswith(".gguf")]
    if len(ggufs) != 1:
        raise ExportError(f"bundle {bundle} should hold exactly one .gguf file, it lists {len(ggufs)}")
    return Path(bundle) / ggufs[0]


def _against_checkpoint(gguf: Path, src: Path, manifest: GgufManifest) -> tuple[LogitParity, DecodeParityFacts]:
    from .convert import ExportOptions, measure_decode, measure_parity, plan_export

    opts = ExportOptions(quant=manifest.quantization, ternarize=manifest.quant.ternarize)
    plan = plan_export(src, opts)
    return measure_parity(plan, gguf), measure_decode(plan, gguf)


def _against_gguf(gguf: Path, reference: Path, manifest: GgufManifest) -> tuple[LogitParity, DecodeParityFacts]:
    """Teacher-forced and greedy-decode parity against another GGUF, both sides on llama.cpp."""
    if manifest.encoder_decoder:
        raise ExportError("verify --reference FILE.gguf supports decoder-only models; pass the checkpoint dir")
    with llamacpp.vocab_only(reference) as vocab:
        ids = vocab.tokenize(PARITY_TEXT.encode(), add_bos=True)
        prompts = decode.encode_prompts(lambda text: vocab.tokenize(text.encode(), add_bos=True))
    ref_step = CausalStepper(reference)
    try:
        paths = [decode.greedy_path(ref_step, p) for p in prompts]
    finally:
        ref_step.close()
    decoded = decode_parity(paths, gguf, False, manifest.quantization, f"llama.cpp greedy on {reference.name}")
    return compare(causal_logits(reference, ids), causal_logits(gguf, ids)), decoded


def _stored_decode(bundle: Path, gguf: Path, manifest: GgufManifest) -> DecodeParityFacts | None:
    """Decode-path parity against the greedy paths stored at export (None: an older bundle without them)."""
    if not decode.has_paths(bundle):
        return None
    reference = manifest.decode_parity.reference if manifest.decode_parity else "stored greedy paths"
    return decode_parity(decode.load_paths(bundle), gguf, manifest.encoder_decoder, manifest.quantization, reference)


def verify_bundle(path: Path, manifest: GgufManifest, reference: str | None) -> dict[str, Any]:
    """Parity of the bundle's GGUF vs `reference` (a checkpoint dir or a GGUF; default: the source).

    Without a reachable reference the manifest's recorded parity is reported (`remeasured` False).
    """
    gguf = _gguf_file(Path(path), manifest)
    source = manifest.source.get("path") or None
    if reference is None and source is None:  # Path("") would be the current directory
        raise ExportError(f"bundle {path} records no source checkpoint: pass --reference CHECKPOINT_DIR "
                          "(or --reference FILE.gguf)")
    ref = Path(reference or source)
    quant = manifest.quantization
    if reference is None and not ref.is_dir():
        recorded = manifest.parity
        if recorded is None:
            raise ExportError(f"bundle {path} records no parity and its source is gone: pass --reference")
        result = LogitParity.from_manifest(recorded)
        return {**_report(result, quant, _stored_decode(Path(path), gguf, manifest)), "remeasured": False}
    if ref.is_file() and ref.suffix == ".gguf":
        for file in (gguf, ref):  # llama.cpp aborts on some malformed files: check, then load in a child first
            probe_gguf(file)
        result, decoded = _against_gguf(gguf, ref, manifest)
    elif ref.is_dir():
        probe_gguf(gguf)
        result, decoded = _against_checkpoint(gguf, ref, manifest)
        tokens = tokenizer_parity(ref, gguf)
        report = _report(result, quant, decoded)
        return {**report, "passed": report["passed"] and tokens.passed, "reference": str(ref), "remeasured": True,
                "tokenizer_parity": {**tokens.to_manifest().model_dump(), "examples": tokens.describe() or None}}
    else:
        raise ExportError(f"reference {ref} is neither a checkpoint directory nor a .gguf file")
    return {**_report(result, quant, decoded), "reference": str(ref), "remeasured": True}


def _report(result: LogitParity, quant: str, decoded: DecodeParityFacts | None) -> dict[str, Any]:
    ok = passed(result, quant) and (decoded is None or decoded.passed)
    return {**result.as_dict(), "passed": ok, "tolerance": TOLERANCE.get(quant), "min_top1": MIN_TOP1.get(quant),
            "decode_parity": None if decoded is None else decode.as_report(decoded)}
