"""HF checkpoint → GGUF bundle: plan (validate + pre-flight, nothing written), then write.

`plan_export` reads and checks everything first (architecture, config vs tensor shapes,
tokenizer, which tensors cannot take the requested type); `write_bundle` then writes the f32
GGUF with gguf's GGUFWriter, quantizes it with llama.cpp, measures parity against the PyTorch
model and writes the manifest, all inside `export.bundle.staging` so a failure leaves no OUT.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import MODEL_ARCH_NAMES, GGUFWriter

from edge.backends.llamacpp_build import build_info
from edge.bundle import DecodeParityFacts, GgufQuantFacts, GgufRuntimeFacts, Manifest
from edge.errors import ExportError, ParityError
from edge.options import physical_cores
from export import decode
from export.bundle import finish_manifest, staging
from export.parity_result import LogitParity, compare
from export.progress import Progress
from export.quant.ternary import METHODS, is_ternary, ternarize_or_keep

from . import reference as ref
from .checkpoint import open_checkpoint
from .parity import decode_parity, gguf_logits, passed, to_manifest
from .quantize import EMBEDDING_TYPES, Fallback, QuantType, preflight, quant_type, quantize
from .registry import Arch, arch_for
from .tokcheck import tokenizer_parity
from .vocab import Vocab, read_vocab


@dataclass(frozen=True)
class ExportOptions:
    quant: str = "f16"
    ternarize: str | None = None  # absmean | absmedian; None = the architecture's default
    keep_embeddings: str | None = None  # f16 | q8_0: type of token embeddings and output
    strict: bool = False
    overwrite: bool = False
    threads: int = 0


@dataclass
class ExportPlan:
    src: Path
    arch: Arch
    quant: QuantType
    options: ExportOptions
    tensors: dict[str, np.ndarray]
    vocab: Vocab
    model: Any  # the transformers reference, holding the same (possibly ternarized) weights
    fallbacks: list[Fallback] = field(default_factory=list)
    ternary: dict[str, float] = field(default_factory=dict)  # GGUF name -> scale
    method: str | None = None

    @property
    def gguf_name(self) -> str:
        return f"model-{self.quant.name}.gguf"


def _check_options(opts: ExportOptions) -> QuantType:
    quant = quant_type(opts.quant)
    if importlib.util.find_spec("llama_cpp") is None:  # quantizing and the parity check run llama.cpp
        raise ExportError("`export gguf` needs llama-cpp-python: pip install 'edgesplit[export,gguf]'")
    if opts.ternarize is not None and opts.ternarize not in METHODS:
        raise ExportError(f"--ternarize must be one of {', '.join(METHODS)}, got {opts.ternarize!r}")
    if opts.keep_embeddings is not None and opts.keep_embeddings not in EMBEDDING_TYPES:
        raise ExportError(f"--keep-embeddings must be one of {', '.join(EMBEDDING_TYPES)}")
    return quant


def _gguf_shapes(arch: Arch, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    out = {}
    for hf_name, shape in shapes.items():
        name = arch.tensor_name(hf_name)
        if name is not None:
            out[name] = shape
    return out


def _ternarize(plan: ExportPlan) -> None:
    """Replace linear weights by s·{-1,0,1}; already-ternary (QAT) tensors keep their own scale."""
    for hf_name, data in plan.tensors.items():
        name = plan.arch.tensor_name(hf_name)
        if name is None or not plan.arch.is_linear(name, data.shape):
            continue
        if plan.method is None and is_ternary(data) is False:
            raise ExportError(f"--quant {plan.quant.name} needs ternary weights but {hf_name} is not ternary: "
                              "pass --ternarize absmean (or absmedian) to ternarize the linear layers first")
        values, scale = ternarize_or_keep(data, plan.method or "absmean")  # type: ignore[arg-type]
        plan.tensors[hf_name] = values.astype(np.float32) * np.float32(scale)
        plan.ternary[name] = scale


def plan_export(src: Path, opts: ExportOptions) -> ExportPlan:
    """Validate SRC and the options and run the pre-flight; raises ExportError, writes nothing."""
    quant = _check_options(opts)
    ckpt = open_checkpoint(Path(src))
    arch = arch_for(ckpt.config)
    model = ref.build_reference(arch)
    ref.check_against_reference(ckpt, arch, model)
    shapes = _gguf_shapes(arch, ckpt.shapes)
    fallbacks = [] if quant.is_float else preflight(shapes, quant, opts.strict)
    vocab = read_vocab(ckpt.path, "t5" if arch.encoder_decoder else "")
    vocab.pad_to(shapes["token_embd.weight"][0])
    plan = ExportPlan(ckpt.path, arch, quant, opts, ckpt.tensors(), vocab, model, fallbacks,
                      method=opts.ternarize or arch.default_ternarize)
    if plan.method is not None or quant.ternary:
        _ternarize(plan)
    ref.load_weights(model, arch, plan.tensors)
    return plan


# llama.cpp patches token attributes by general.name ("phi3" -> these tokens must exist)
_NAME_HACKS: dict[tuple[str, ...], tuple[str, ...]] = {("phi-3", "phi3"): ("<unk>", "<s>", "</s>", "<|endoftext|>")}


def _name_is_safe(name: str, vocab: Vocab) -> bool:
    lowered, tokens = name.lower(), set(vocab.tokens)
    return not any(any(k in lowered for k in keys) and not set(needed) <= tokens
                   for keys, needed in _NAME_HACKS.items())


def write_f32_gguf(plan: ExportPlan, path: Path) -> None:
    w = GGUFWriter(str(path), arch=MODEL_ARCH_NAMES[plan.arch.gguf_arch])
    if _name_is_safe(plan.src.name, plan.vocab):
        w.add_name(plan.src.name)
    w.add_file_type(0)  # ALL_F32
    plan.arch.write_hparams(w)
    plan.vocab.write(w)
    for hf_name, data in plan.tensors.items():
        name = plan.arch.tensor_name(hf_name)
        if name is not None:
            w.add_tensor(name, np.ascontiguousarray(plan.arch.transform(name, data), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def measure_parity(plan: ExportPlan, gguf: Path) -> LogitParity:
    start = plan.arch.config.get("decoder_start_token_id", 0)
    ids, dec = ref.parity_ids(plan.src, plan.arch, start)
    return compare(ref.reference_logits(plan.model, ids, dec), gguf_logits(gguf, ids, dec))


def reference_paths(plan: ExportPlan) -> list[decode.ReferencePath]:
    """Greedy continuations of the probe prompts by the PyTorch reference (transformers generate)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(plan.src))
    return decode.torch_paths(plan.model, decode.encode_prompts(lambda text: tok(text)["input_ids"]))


def measure_decode(plan: ExportPlan, gguf: Path, paths: list[decode.ReferencePath] | None = None) -> DecodeParityFacts:
    """Decode-path parity of `gguf` (llama.cpp, its KV cache) against the PyTorch reference's greedy paths."""
    paths = paths if paths is not None else reference_paths(plan)
    return decode_parity(paths, gguf, plan.arch.encoder_decoder, plan.quant.name, f"pytorch:{plan.src.name} generate")


def write_bundle(plan: ExportPlan, out: Path, progress: Progress | None = None) -> Manifest:
    """Write OUT atomically; ParityError (and no OUT) when the GGUF misses its parity bound."""
    opts, progress = plan.options, progress or Progress.silent()
    with staging(Path(out), overwrite=opts.overwrite) as tmp:
        final = tmp / plan.gguf_name
        f32 = final if plan.quant.name == "f32" else tmp / "intermediate-f32.gguf"
        with progress.stage("convert"):
            write_f32_gguf(plan, f32)
            tokens = tokenizer_parity(plan.src, f32)
        if not tokens.passed:
            raise ExportError(f"llama.cpp tokenizes {len(tokens.mismatches)} of {tokens.n_texts} probe texts "
                              f"differently from the checkpoint's tokenizer (GGUF pre-tokenizer "
                              f"{plan.vocab.pre or plan.vocab.model!r}): {tokens.describe()}")
        with progress.stage("quantize"):
            if f32 != final:
                quantize(f32, final, plan.quant, keep_embeddings=opts.keep_embeddings,
                         threads=opts.threads or physical_cores())
                f32.unlink()
        with progress.stage("parity", 2) as bar:
            result = measure_parity(plan, final)
            if not passed(result, plan.quant.name):
                raise ParityError(f"{plan.gguf_name} misses parity with the PyTorch model ({result}); the "
                                  "conversion is wrong for this checkpoint: report it with the checkpoint's config")
            bar.advance()
            paths = reference_paths(plan)
            decoded = measure_decode(plan, final, paths)
            if not decoded.passed:
                raise ParityError(f"{plan.gguf_name}: greedy decode through llama.cpp's KV cache differs from the "
                                  f"PyTorch model ({decoded}; minimum agreement "
                                  f"{decoded.min_agreement}, tolerance {decoded.tolerance}); nothing was written")
            decode.save_paths(tmp, paths)
        with progress.stage("write"):
            return finish_manifest(
                tmp, format="gguf", architecture=MODEL_ARCH_NAMES[plan.arch.gguf_arch],
                encoder_decoder=plan.arch.encoder_decoder, quantization=plan.quant.name,
                chat_template=plan.vocab.chat_template,
                source={"path": str(plan.src.resolve()), "hf_architecture": plan.arch.name},
                parity=to_manifest(result, f"pytorch:{plan.src.name}", plan.quant.name),
                tokenizer_parity=tokens.to_manifest(), decode_parity=decoded, quant=_quant_facts(plan),
                runtime=GgufRuntimeFacts(**build_info(), kv_type_for_parity="f32"),
            )


def _quant_facts(plan: ExportPlan) -> GgufQuantFacts:
    return GgufQuantFacts(ternarize=plan.method if plan.ternary else None, ternary_tensors=len(plan.ternary),
                          keep_embeddings=plan.options.keep_embeddings or ("f16" if plan.quant.ternary else None),
                          fallbacks=[str(f) for f in plan.fallbacks])


STAGES = ("load", "convert", "quantize", "parity", "write")


def export_gguf(src: Path, out: Path, opts: ExportOptions,
                on_plan: Callable[[ExportPlan], None] | None = None, progress: Progress | None = None) -> Manifest:
    """Plan (report fallbacks via `on_plan` before writing), then write the bundle."""
    progress = progress or Progress.silent()
    with progress.stage("load"):
        plan = plan_export(src, opts)
    if on_plan is not None:
        on_plan(plan)
    return write_bundle(plan, out, progress)
