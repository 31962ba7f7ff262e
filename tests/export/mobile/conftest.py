"""A tiny decoder (ONNX fp32/int4 bundles, GGUF f32/q4_0) and the companion kits made from it.

The random Llama is first fitted to the tokenizer's corpus for a few dozen steps: untrained, its
greedy continuation repeats one token (which would hide a broken KV cache), and weights drawn wider
to avoid that quantize too badly for the int4 export's parity check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.export.conftest import CORPUS
from tests.export.onnx.tiny_configs import TINY

ALL_TARGETS = ["ort-genai", "transformers-js", "ort-mobile", "llama-cpp"]
GGUF_QUANT = {"fp32": "f32", "int4": "q4_0"}


@pytest.fixture(scope="session")
def kit_checkpoint(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    import torch
    import transformers
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("kit-ckpt")
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**TINY["llama"][1]))
    ids = torch.tensor([tokenizer("\n".join(sorted(set(CORPUS))))["input_ids"]])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        model(ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def kit_models(tmp_path_factory, kit_checkpoint) -> Callable[[str], tuple[Path, Path]]:
    """quant -> (ONNX bundle, GGUF bundle) of the same tiny weights."""
    from export.gguf.convert import ExportOptions, export_gguf
    from export.onnx.export import export_onnx

    made: dict[str, tuple[Path, Path]] = {}

    def make(quant: str) -> tuple[Path, Path]:
        if quant not in made:
            root = tmp_path_factory.mktemp(f"kit-models-{quant}")
            export_onnx(kit_checkpoint, root / "onnx", quant=quant, block_size=16)
            export_gguf(kit_checkpoint, root / "gguf", ExportOptions(quant=GGUF_QUANT[quant]))
            made[quant] = (root / "onnx", root / "gguf")
        return made[quant]

    return make


@pytest.fixture(scope="session")
def tiny_kits(tmp_path_factory, kit_models) -> Callable[[str], Path]:
    """quant -> OUT of `export mobile` with all four kits."""
    from export.mobile.kit import export_kits

    made: dict[str, Path] = {}

    def make(quant: str) -> Path:
        if quant not in made:
            onnx, gguf = kit_models(quant)
            out = tmp_path_factory.mktemp(f"kits-{quant}") / "kits"
            export_kits(str(onnx), out, ALL_TARGETS, gguf=str(gguf))
            made[quant] = out
        return made[quant]

    return make
