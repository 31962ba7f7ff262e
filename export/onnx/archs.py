"""Architecture registry for the ONNX exporter.

Each supported family registers under its Hugging Face `architectures[0]` names and its
`model_type` (``@register("LlamaForCausalLM", model_type="llama")``). Per-family hooks live on
the class; lookups never branch on names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from edge.errors import UnsupportedArchitectureError

# (torch model, output dir) -> None; raises UnsupportedFeatureError before writing anything
GraphWriter = Callable[[Any, Path], None]
_BY_NAME: dict[str, type[Arch]] = {}
_BY_MODEL_TYPE: dict[str, type[Arch]] = {}


class Arch:
    """One model family: how to load it and which optimum ONNX config exports it."""

    name: ClassVar[str]  # registry key, the HF model_type
    architectures: ClassVar[tuple[str, ...]] = ()
    encoder_decoder: ClassVar[bool] = False

    @property
    def task(self) -> str:
        return "text2text-generation-with-past" if self.encoder_decoder else "text-generation-with-past"

    @property
    def files(self) -> tuple[str, ...]:
        """The ONNX files the export keeps (optimum also writes unmerged decoders we drop)."""
        return ("encoder_model.onnx", "decoder_model_merged.onnx") if self.encoder_decoder else ("model.onnx",)

    def auto_class(self) -> Any:
        import transformers

        return transformers.AutoModelForSeq2SeqLM if self.encoder_decoder else transformers.AutoModelForCausalLM

    def custom_onnx_configs(self, config: Any) -> dict[str, Any] | None:
        """optimum configs for families optimum does not know (None: optimum's own)."""
        return None

    def graph_writer(self) -> GraphWriter | None:
        """Writes this family's fused-attention model.onnx from the torch model (None: traced only)."""
        return None


def register(*architectures: str, model_type: str) -> Callable[[type[Arch]], type[Arch]]:
    def deco(cls: type[Arch]) -> type[Arch]:
        if model_type in _BY_MODEL_TYPE:
            raise ValueError(f"architecture {model_type!r} is already registered")
        cls.name, cls.architectures = model_type, architectures
        _BY_MODEL_TYPE[model_type] = cls
        for arch in architectures:
            if arch in _BY_NAME:
                raise ValueError(f"{arch!r} is already registered")
            _BY_NAME[arch] = cls
        return cls

    return deco


def registered_archs() -> list[str]:
    """Registry keys (HF model_type) of every supported family."""
    return sorted(_BY_MODEL_TYPE)


def get_arch(config: Any) -> Arch:
    """The Arch for a transformers config (or config dict), or UnsupportedArchitectureError."""
    cfg = config if isinstance(config, dict) else config.to_dict()
    names = cfg.get("architectures") or []
    cls = _BY_NAME.get(names[0]) if names else None
    cls = cls or _BY_MODEL_TYPE.get(cfg.get("model_type", ""))
    if cls is None:
        what = names[0] if names else cfg.get("model_type") or "an unnamed architecture"
        supported = ", ".join(sorted(_BY_NAME))
        raise UnsupportedArchitectureError(
            f"cannot export {what} to ONNX; supported architectures: {supported}"
        )
    return cls()


@register("LlamaForCausalLM", model_type="llama")
class Llama(Arch):
    def graph_writer(self) -> GraphWriter:
        from .fused_llama import write_fused

        return write_fused


@register("Qwen2ForCausalLM", model_type="qwen2")
class Qwen2(Arch):
    pass


@register("Qwen3ForCausalLM", model_type="qwen3")
class Qwen3(Arch):
    pass


@register("Phi3ForCausalLM", model_type="phi3")
class Phi3(Arch):
    pass


@register("GemmaForCausalLM", model_type="gemma")
class Gemma(Arch):
    pass


@register("Gemma2ForCausalLM", model_type="gemma2")
class Gemma2(Arch):
    pass


@register("Gemma3ForCausalLM", model_type="gemma3_text")
class Gemma3Text(Arch):
    pass


@register("BitNetForCausalLM", model_type="bitnet")
class BitNet(Arch):
    """BitNet b1.58 exported as a float model (weights as stored; `--quant ternary` packs them)."""

    def custom_onnx_configs(self, config: Any) -> dict[str, Any]:
        from optimum.exporters.onnx.model_configs import LlamaOnnxConfig

        # same inputs/outputs as Llama (GQA past_key_values); the graph is traced from BitNet itself
        return {"model": LlamaOnnxConfig(config, task="text-generation", use_past=True, use_past_in_inputs=True)}


@register("T5ForConditionalGeneration", model_type="t5")
class T5(Arch):
    encoder_decoder = True


@register("BartForConditionalGeneration", model_type="bart")
class Bart(Arch):
    encoder_decoder = True
