"""`edgesplit verify` for GGUF bundles: re-measure logit and tokenizer parity against the source checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.bundle import Manifest
from edge.errors import ExportError
from edge.gguf_probe import probe_gguf

from .parity import MIN_TOP1, TOLERANCE, ParityResult, causal_logits, compare
from .reference import PARITY_TEXT
from .tokcheck import tokenizer_parity


def _gguf_file(bundle: Path, manifest: Manifest) -> Path:
    ggufs = [n for n in manifest.files if n.endswith(".gguf")]
    if len(ggufs) != 1:
        raise ExportError(f"bundle {bundle} should hold exactly one .gguf file, it lists {len(ggufs)}")
    return Path(bundle) / ggufs[0]


def _against_checkpoint(gguf: Path, src: Path, manifest: Manifest) -> ParityResult:
    from .convert import ExportOptions, measure_parity, plan_export

    opts = ExportOptions(quant=manifest.quantization, ternarize=manifest.extra.get("ternarize"))
    return measure_parity(plan_export(src, opts), gguf)


def _against_gguf(gguf: Path, reference: Path, manifest: Manifest) -> ParityResult:
    if manifest.encoder_decoder:
        raise ExportError("verify --reference FILE.gguf supports decoder-only models; pass the checkpoint dir")
    import llama_cpp

    vocab_only = llama_cpp.Llama(model_path=str(reference), vocab_only=True, verbose=False)
    ids = vocab_only.tokenize(PARITY_TEXT.encode(), add_bos=True)
    vocab_only.close()
    return compare(causal_logits(gguf, ids), causal_logits(reference, ids))


def verify_bundle(path: Path, manifest: Manifest, reference: str | None) -> dict[str, Any]:
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
        result = ParityResult(recorded.max_abs_logit_diff, recorded.top1_agreement, recorded.n_tokens)
        return {**_report(result, quant), "remeasured": False}
    if ref.is_file() and ref.suffix == ".gguf":
        for file in (gguf, ref):  # llama.cpp aborts on some malformed files: check, then load in a child first
            probe_gguf(file)
        result = _against_gguf(gguf, ref, manifest)
    elif ref.is_dir():
        probe_gguf(gguf)
        result = _against_checkpoint(gguf, ref, manifest)
        tokens = tokenizer_parity(ref, gguf)
        report = _report(result, quant)
        return {**report, "passed": report["passed"] and tokens.passed, "reference": str(ref), "remeasured": True,
                "tokenizer_parity": {**tokens.to_manifest(), "examples": tokens.describe() or None}}
    else:
        raise ExportError(f"reference {ref} is neither a checkpoint directory nor a .gguf file")
    return {**_report(result, quant), "reference": str(ref), "remeasured": True}


def _report(result: ParityResult, quant: str) -> dict[str, Any]:
    return {"max_abs_logit_diff": result.max_abs_logit_diff, "top1_agreement": result.top1_agreement,
            "n_tokens": result.n_tokens, "passed": result.passed(quant), "tolerance": TOLERANCE.get(quant),
            "min_top1": MIN_TOP1.get(quant)}
