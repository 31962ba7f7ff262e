"""The source model in PyTorch (float32, eager attention): shape checks and reference logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ExportError

from .checkpoint import Checkpoint, check_shapes
from .registry import Arch

PARITY_TEXT = ("The quick brown fox jumps over the lazy dog. Paris is the capital of France; "
               "small language models run on laptops and phones.")
DECODER_TEXT = "Berlin is the capital of Germany. Privacy matters."


def build_reference(arch: Arch) -> Any:
    """An uninitialised transformers model of `arch`'s config (weights come from the checkpoint)."""
    import torch
    import transformers
    from transformers.modeling_utils import no_init_weights
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cfg = dict(arch.reference_config())
    model_type = cfg.pop("model_type", None)
    if model_type not in CONFIG_MAPPING:
        raise ExportError(f"config.json model_type {model_type!r} is unknown to transformers "
                          f"{transformers.__version__}; cannot build the parity reference")
    config = CONFIG_MAPPING[model_type].from_dict(cfg)
    config._attn_implementation = "eager"
    with no_init_weights():
        model = getattr(transformers, arch.auto_class).from_config(config, dtype=torch.float32)
    return model.eval()


def check_against_reference(ckpt: Checkpoint, arch: Arch, model: Any) -> None:
    """Config and tensor shapes must agree, before any tensor data is read."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # checkpoint names as the reference model spells them (old BitNet naming -> new)
    renamed = {old: new for new, old in arch.reference_state_dict({k: k for k in ckpt.shapes}).items()}
    shapes = {renamed[k]: s for k, s in ckpt.shapes.items()}
    optional = {k for k in expected if arch.tensor_name_or_none(k) is None}
    check_shapes(ckpt.path, shapes, expected, optional)


def load_weights(model: Any, arch: Arch, tensors: dict[str, np.ndarray]) -> None:
    import torch

    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arch.reference_state_dict(tensors).items()}
    model.load_state_dict(state, strict=False)
    model.tie_weights()


def reference_logits(model: Any, input_ids: list[int], decoder_ids: list[int] | None = None) -> np.ndarray:
    """Teacher-forced logits [n_tokens, vocab] (decoder positions for encoder-decoders)."""
    import torch

    with torch.no_grad():
        ids = torch.tensor([input_ids])
        if decoder_ids is None:
            return model(input_ids=ids).logits[0].float().numpy()
        out = model(input_ids=ids, decoder_input_ids=torch.tensor([decoder_ids]))
        return out.logits[0].float().numpy()


def parity_ids(src: Path, arch: Arch, start_token: int | None) -> tuple[list[int], list[int] | None]:
    """Token ids of the parity texts, from the checkpoint's own tokenizer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src))
    ids = tok(PARITY_TEXT)["input_ids"]
    if not arch.encoder_decoder:
        return ids, None
    labels = tok(DECODER_TEXT)["input_ids"]
    return ids, [int(start_token or 0), *labels[:-1]]
