"""Architecture registry for the GGUF converter, keyed by Hugging Face `architectures[0]`.

Each family is a small `Arch` subclass in `export/gguf/archs/`: which llama.cpp architecture it
becomes, its hyper-parameters, tensor-name aliases (a data table fed to gguf's `TensorNameMap`),
per-tensor transforms, and config checks that refuse what llama.cpp's graph cannot reproduce.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from gguf import MODEL_ARCH, GGUFWriter, TensorNameMap

from edge.errors import ExportError, UnsupportedArchitectureError

_ARCHS: dict[str, type[Arch]] = {}
# Architectures we know llama.cpp cannot run, with what to do instead.
_REFUSED: dict[str, str] = {}


class Arch:
    """One model family. Subclasses set the class attributes and override the hooks they need."""

    gguf_arch: ClassVar[MODEL_ARCH]
    auto_class: ClassVar[str] = "AutoModelForCausalLM"
    encoder_decoder: ClassVar[bool] = False
    # regex over HF tensor names -> replacement understood by gguf's TensorNameMap
    aliases: ClassVar[dict[str, str]] = {}
    # HF tensors that are not written (buffers, duplicated tied embeddings)
    skip: ClassVar[tuple[str, ...]] = (r"rotary_emb\.inv_freq$",)
    # ternarize linear layers unless the user chose otherwise (BitNet checkpoints are trained for it)
    default_ternarize: ClassVar[str | None] = None

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.check()
        self._names = TensorNameMap(self.gguf_arch, self.n_blocks)

    @property
    def name(self) -> str:
        return str(self.config["architectures"][0])

    @property
    def n_blocks(self) -> int:
        return int(self.config["num_hidden_layers"])

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", True))

    def check(self) -> None:
        """Raise ExportError for configs llama.cpp would run with different maths."""

    def write_hparams(self, w: GGUFWriter) -> None:
        raise NotImplementedError

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        """Rewrite a tensor into llama.cpp's convention (default: unchanged)."""
        return data

    def reference_state_dict(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensors keyed as the transformers reference model expects (default: unchanged)."""
        return tensors

    def reference_config(self) -> dict[str, Any]:
        """config.json contents for building the transformers reference model."""
        return self.config

    def tensor_name(self, hf_name: str) -> str | None:
        """The GGUF name of `hf_name`, None when it is not written; ExportError if unknown."""
        if any(re.search(p, hf_name) for p in self.skip):
            return None
        if self.tied and hf_name == "lm_head.weight":
            return None
        for pattern, repl in self.aliases.items():
            hf_name = re.sub(pattern, repl, hf_name)
        name = self._names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ExportError(f"{self.name}: tensor {hf_name!r} has no GGUF name; this checkpoint "
                              "has layers the converter does not know (a modified architecture?)")
        return name

    def tensor_name_or_none(self, hf_name: str) -> str | None:
        """Like tensor_name, but None for unknown tensors too (for optional-tensor checks)."""
        try:
            return self.tensor_name(hf_name)
        except ExportError:
            return None

    def is_linear(self, gguf_name: str, shape: tuple[int, ...]) -> bool:
        """Linear layers inside the blocks: what --ternarize and the TQ types apply to."""
        in_block = gguf_name.startswith(("blk.", "enc.blk.", "dec.blk."))
        return in_block and len(shape) == 2 and gguf_name.endswith(".weight") and "attn_rel_b" not in gguf_name


def register(*hf_names: str) -> Callable[[type[Arch]], type[Arch]]:
    """Class decorator: `@register("LlamaForCausalLM", "MistralForCausalLM")`."""

    def wrap(cls: type[Arch]) -> type[Arch]:
        for hf_name in hf_names:
            if hf_name in _ARCHS or hf_name in _REFUSED:
                raise ValueError(f"architecture {hf_name!r} is already registered")
            _ARCHS[hf_name] = cls
        return cls

    return wrap


def refuse(hf_name: str, reason: str) -> None:
    """Name an architecture the GGUF path cannot export, with what to do instead."""
    if hf_name in _ARCHS or hf_name in _REFUSED:
        raise ValueError(f"architecture {hf_name!r} is already registered")
    _REFUSED[hf_name] = reason


def supported() -> list[str]:
    _load_families()
    return sorted(_ARCHS)


def arch_for(config: dict[str, Any]) -> Arch:
    """The Arch for a parsed config.json; UnsupportedArchitectureError lists what is supported."""
    _load_families()
    names = config.get("architectures") or []
    if not names:
        raise ExportError("config.json has no `architectures` entry: add the model class name, e.g. "
                          '"architectures": ["LlamaForCausalLM"]')
    if names[0] in _REFUSED:
        raise UnsupportedArchitectureError(_REFUSED[names[0]])
    cls = _ARCHS.get(names[0])
    if cls is None:
        raise UnsupportedArchitectureError(
            f"architecture {names[0]!r} cannot be exported to GGUF; supported: {', '.join(sorted(_ARCHS))}"
        )
    return cls(config)


def _load_families() -> None:
    # importing the family modules runs their @register decorators
    from . import archs  # noqa: F401
