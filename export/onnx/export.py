"""`export_onnx`: source checkpoint -> ONNX graphs -> quantized -> checked -> bundle (atomically)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.bundle import DecodeParityFacts, Manifest, OnnxQuantFacts, OnnxRuntimeFacts
from edge.errors import ExportError, UnsupportedFeatureError
from export import decode, tokparity
from export.bundle import finish_manifest, staging
from export.parity_result import compare
from export.progress import Progress
from export.quant.nbits import NBitsPlan, plan_for

from . import parity
from .quantize import ACCURACY_LEVEL, DEFAULT_BLOCK_SIZE, QUANTS, quantize_file
from .source import Source, load_source, save_tokenizer, untie_lm_head

log = logging.getLogger(__name__)
END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|end|>", "<|eot_id|>", "</s>")
MOBILE_DIR = "mobile"


STAGES = ("load", "trace", "quantize", "parity", "write")
ATTENTION = ("fused", "traced")  # None (the default): fused where the Arch has a graph writer


def export_onnx(src: Path, out: Path, *, quant: str = "fp32", block_size: int | None = None,
                keep_8bit: tuple[str, ...] = (), ort_mobile: bool = False, overwrite: bool = False,
                progress: Progress | None = None, attention: str | None = None) -> Manifest:
    """Export SRC (HF checkpoint dir or GGUF) to an ONNX bundle at OUT; nothing is left at OUT on error."""
    if quant not in QUANTS:
        raise ExportError(f"unknown quantization {quant!r}; choose one of {', '.join(QUANTS)}")
    if attention is not None and attention not in ATTENTION:
        raise ExportError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTION)}")
    if block_size is not None and (block_size < 16 or block_size & (block_size - 1)):
        raise ExportError(f"--block-size must be a power of two >= 16, got {block_size}")
    progress = progress or Progress.silent()
    with staging(Path(out), overwrite=overwrite) as tmp:
        with progress.stage("load"):
            source = load_source(Path(src))
            save_tokenizer(source.tokenizer, tmp)  # checked first: a wrong tokenizer fails before tracing
            tokens = tokparity.check_tokenizer_json(source.path, tmp / "tokenizer.json").require()
            plan = _plan(source, quant, block_size, keep_8bit)
            block_size = plan.block_size if plan else block_size or DEFAULT_BLOCK_SIZE.get(quant, 32)
            if quant in ("int8", "int4", "ternary"):
                untie_lm_head(source.model)  # a tied head exports as Transpose(embedding) and stays float
            against = f"pytorch fp32 {source.kind} source"
            if quant == "ternary":  # parity against the ternarized model: the packing is then checked exactly
                against = f"pytorch ternarized (absmean) {source.kind} source"
                ternarize_linears(source.model)
            ids = parity.parity_ids(source.tokenizer)
            # the references first: optimum's export patches the model's config while tracing
            reference = parity.torch_logits(source.model, ids, source.arch.encoder_decoder)
            paths = decode.torch_paths(source.model, decode.encode_prompts(_encoder(source)))
        with progress.stage("trace"):
            attention = write_graphs(source, tmp, attention)
        with progress.stage("quantize", len(source.arch.files)) as bar:
            for name in source.arch.files:
                quantize_file(tmp / name, quant, block_size, source.model.config.vocab_size, plan)
                bar.advance()
        with progress.stage("parity", 2) as bar:
            save_tokenizer(source.tokenizer, tmp)
            checked = measure_parity(source, tmp, quant, ids, reference, against)
            bar.advance()
            decoded = measure_decode(source, tmp, quant, paths, against, checked.tolerance)
        with progress.stage("write"):
            if ort_mobile:
                write_ort_mobile(tmp)
            quant_facts = plan.describe() if plan else OnnxQuantFacts(block_size=block_size,
                                                                      accuracy_level=ACCURACY_LEVEL)
            return finish_manifest(
                tmp, format="onnx", architecture=source.arch.name, encoder_decoder=source.arch.encoder_decoder,
                quantization=quant, tokenizer="tokenizer.json", chat_template=source.chat_template,
                source=source.describe(), parity=checked, quant=quant_facts, ort_mobile=ort_mobile,
                decode_parity=decoded, runtime=runtime_facts(source), tokenizer_parity=tokens.to_manifest(),
                attention=attention,
            )


def _plan(source: Source, quant: str, block_size: int | None, keep_8bit: tuple[str, ...]) -> NBitsPlan | None:
    bits = {"int4": 4, "int8": 8}.get(quant)
    if bits is None:
        if keep_8bit:
            raise ExportError("--keep-8bit applies to --quant int4 only")
        return None
    return plan_for(source.arch.name, bits, block_size=block_size, keep_8bit=keep_8bit)


def _encoder(source: Source):
    return lambda text: source.tokenizer(text)["input_ids"]


def ternarize_linears(model: Any) -> int:
    """Weights of every Linear but the lm_head as s·{-1,0,1}, as `--quant ternary` packs them."""
    import torch

    from export.quant.ternary import dequantize_ternary, ternarize_or_keep

    head, n = model.get_output_embeddings(), 0
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module is not head:
                q, s = ternarize_or_keep(module.weight)
                module.weight.copy_(torch.from_numpy(dequantize_ternary(q, s)))
                n += 1
    return n


def write_graphs(source: Source, out: Path, attention: str | None = None) -> str:
    """The graphs the runtime loads, fused or traced as `attention` asks (None: fused where the
    architecture has a writer and the model's features allow it); returns which was written."""
    writer = source.arch.graph_writer() if attention != "traced" else None
    if attention == "fused" and writer is None:
        raise UnsupportedFeatureError(f"{source.arch.name} has no fused-attention graph writer: "
                                      "export with --attention traced")
    if writer is not None:
        try:
            writer(source.model, out)
            return "fused"
        except UnsupportedFeatureError as exc:
            if attention == "fused":
                raise
            log.warning("%s; tracing with optimum instead", exc)  # the manifest records "traced"
    trace_graphs(source, out)
    return "traced"


def trace_graphs(source: Source, out: Path) -> None:
    """Trace the model with optimum into a work dir, then keep only the files the runtime loads."""
    from optimum.exporters.onnx import onnx_export_from_model

    work = out / ".onnx-work"
    config = source.model.config
    with warnings.catch_warnings(), _quiet("optimum", "transformers"):
        warnings.simplefilter("ignore")  # torch.onnx tracer warnings are expected and noisy
        try:
            onnx_export_from_model(source.model, work, task=source.arch.task, do_validation=False,
                                   custom_onnx_configs=source.arch.custom_onnx_configs(config))
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ExportError(f"ONNX export of {source.arch.name} failed: {exc}") from None
    for name in source.arch.files:
        for f in work.glob(name + "*"):  # the graph and its external data, if any
            shutil.move(f, out / f.name)
    for name in ("config.json", "generation_config.json"):
        if (work / name).is_file():
            shutil.move(work / name, out / name)
    shutil.rmtree(work)


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence library loggers that print expected tracing chatter during the export."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _load_staged(source: Source, bundle: Path):
    from edge.backends.onnxruntime import load_model

    return load_model(bundle, encoder_decoder=source.arch.encoder_decoder,
                      decoder_start_token_id=runtime_facts(source).decoder_start_token_id or 0)


def measure_parity(source: Source, bundle: Path, quant: str, ids: list[int], reference: Any, against: str):
    """Compare the staged ONNX files with the torch logits; store the reference for `verify`."""
    report = compare(reference, _load_staged(source, bundle).teacher_forced(ids))
    parity.save_reference(bundle, ids, reference)
    log.info("parity %s: %s", quant, report)
    return parity.check(report, quant, against)


def measure_decode(source: Source, bundle: Path, quant: str, paths: list, against: str,
                   tolerance: float | None) -> DecodeParityFacts:
    """Greedy decode through the runtime's own start/step (its KV cache) along the torch paths, within
    `tolerance`, the bound the teacher-forced check met."""
    report = decode.compare(paths, _load_staged(source, bundle))
    decode.save_paths(bundle, paths)
    return parity.check_decode(report, quant, f"{against}, transformers generate", tolerance)


def runtime_facts(source: Source) -> OnnxRuntimeFacts:
    """What the runtime needs without transformers: special tokens, end-of-generation ids, sizes."""
    tok, cfg = source.tokenizer, source.model.config
    gen = getattr(source.model, "generation_config", None)
    eog: set[int] = set()
    for value in (cfg.eos_token_id, getattr(gen, "eos_token_id", None), tok.eos_token_id):
        eog.update(value if isinstance(value, list) else [value] if value is not None else [])
    vocab = tok.get_vocab()
    eog.update(vocab[t] for t in END_TOKENS if t in vocab and t in tok.all_special_tokens)
    return OnnxRuntimeFacts(
        bos_token=tok.bos_token or "", eos_token=tok.eos_token or "",
        add_bos=bool(getattr(tok, "add_bos_token", False)) and not source.arch.encoder_decoder,
        eog_token_ids=sorted(int(i) for i in eog),
        decoder_start_token_id=getattr(cfg, "decoder_start_token_id", None),
        n_ctx_train=int(getattr(cfg, "max_position_embeddings", 0) or 0) if not source.arch.encoder_decoder else 0,
        n_vocab=int(cfg.vocab_size), n_params=int(sum(p.numel() for p in source.model.parameters())),
    )


def write_ort_mobile(bundle: Path) -> None:
    """ORT-format copies of the graphs plus required_operators.config (for a reduced mobile build)."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    src = bundle / ".ort-src"
    src.mkdir()
    for f in bundle.glob("*.onnx*"):
        (src / f.name).symlink_to(f.resolve())
    try:
        convert_onnx_models_to_ort(src, output_dir=bundle / MOBILE_DIR, optimization_styles=[OptimizationStyle.Fixed])
    except Exception as exc:  # the converter raises bare RuntimeErrors from inside onnxruntime
        raise ExportError(f"ORT-format conversion failed: {exc}") from None
    finally:
        shutil.rmtree(src)
    if not (bundle / MOBILE_DIR / "required_operators.config").is_file():
        raise ExportError("ORT-format conversion wrote no required_operators.config")
