"""Tiny random checkpoints of every registered architecture, and their fp32 ONNX bundles.

Both are built lazily, once per session, by factories: `tiny_checkpoint("gemma2")`,
`tiny_bundle("t5")`. Real-model bundles (SmolLM2 from the default GGUF) are exported once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .tiny_configs import TINY, VARIANTS


def build_checkpoint(name: str, out: Path, tokenizer_dir: Path, ternary: bool = False) -> Path:
    """Save a seeded random model of family `name` with the locally trained tokenizer."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    cls, kwargs = (TINY | VARIANTS)[name]
    config = getattr(transformers, cls)(**kwargs)
    torch.manual_seed(0)
    auto = transformers.AutoModelForSeq2SeqLM if config.is_encoder_decoder else transformers.AutoModelForCausalLM
    model = auto.from_config(config).eval()
    if ternary:  # already-ternary weights, as a quantization-aware-trained BitNet checkpoint has
        from export.quant.ternary import dequantize_ternary, ternarize

        with torch.no_grad():
            for mod in model.model.layers.modules():
                if isinstance(mod, torch.nn.Linear):
                    q, s = ternarize(mod.weight)
                    mod.weight.copy_(torch.from_numpy(dequantize_ternary(q, s)))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_tokenizer_dir) -> Callable[[str], Path]:
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            made[name] = build_checkpoint(name, tmp_path_factory.mktemp(f"ckpt-{name}"), tiny_tokenizer_dir)
        return made[name]

    return make


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_checkpoint) -> Callable[..., Path]:
    from export.onnx.export import export_onnx

    made: dict[tuple[str, str, str | None], Path] = {}

    def make(name: str, quant: str = "fp32", attention: str | None = None) -> Path:
        """`attention` None: the export's default (fused for llama, traced elsewhere)."""
        key = (name, quant, attention)
        if key not in made:
            out = tmp_path_factory.mktemp(f"bundle-{name}-{quant}-{attention or 'default'}") / "bundle"
            export_onnx(tiny_checkpoint(name), out, quant=quant, block_size=16, attention=attention)
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def smollm2_bundles(tmp_path_factory, default_gguf) -> Callable[[str], Path]:
    """SmolLM2 exported from the default GGUF, once per quantization per session."""
    from export.onnx.export import export_onnx

    made: dict[str, Path] = {}

    def make(quant: str) -> Path:
        if quant not in made:
            out = tmp_path_factory.mktemp(f"smollm2-{quant}") / "bundle"
            export_onnx(default_gguf, out, quant=quant)
            made[quant] = out
        return made[quant]

    return make
