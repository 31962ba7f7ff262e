"""Load the export source: a Hugging Face checkpoint directory or a GGUF file.

A GGUF is dequantized through transformers (`from_pretrained(dir, gguf_file=...)`). A
sentencepiece ("llama") vocabulary is rebuilt by export.gguf_tokenizer as llama.cpp tokenizes it; other
vocabularies come from transformers, fixed as FINDINGS.md describes (no added BOS, `<|im_end|>`
as EOS, no copied `tokenizer.model`). Either way export checks it against llama.cpp (tokparity).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ExportError

from .archs import Arch, get_arch

log = logging.getLogger(__name__)
WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
CHATML_EOS = "<|im_end|>"


@dataclass
class Source:
    path: Path
    kind: str  # "hf" | "gguf"
    arch: Arch
    model: Any  # a transformers PreTrainedModel in fp32, eval mode
    tokenizer: Any  # a transformers PreTrainedTokenizerFast
    chat_template: str | None
    digest: str

    def describe(self) -> dict[str, str]:
        return {"path": str(self.path.resolve()), "kind": self.kind, "sha256": self.digest}


def load_source(src: Path) -> Source:
    """Load SRC as a float32 torch model plus tokenizer, or raise ExportError saying why not."""
    src = Path(src)
    if src.is_dir():
        return _load_hf_dir(src)
    if src.is_file():
        with open(src, "rb") as f:
            magic = f.read(4)
        if magic == b"GGUF":
            return _load_gguf(src)
        raise ExportError(
            f"{src} is neither a Hugging Face checkpoint directory nor a GGUF file: pass the "
            "directory with config.json and the weights, or a .gguf file"
        )
    raise ExportError(f"source {src} does not exist")


def _read_config(src: Path) -> dict:
    path = src / "config.json"
    if not path.is_file():
        raise ExportError(f"{src} has no config.json: is it a Hugging Face checkpoint directory?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from None


def _load_hf_dir(src: Path) -> Source:
    arch = get_arch(_read_config(src))
    weights = sorted(p for g in WEIGHT_GLOBS for p in src.glob(g))
    if not weights:
        raise ExportError(f"no weights in {src} (expected model.safetensors or pytorch_model.bin)")
    if not (src / "tokenizer.json").is_file():
        raise ExportError(f"{src} has no tokenizer.json: save the tokenizer with the checkpoint (fast tokenizer)")
    try:
        model, info = arch.auto_class().from_pretrained(src, dtype="float32", output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"transformers could not load {src}: {exc}") from None
    if info.get("missing_keys"):
        missing = ", ".join(sorted(info["missing_keys"])[:5])
        raise ExportError(f"{src}: weights are missing for {missing}; the checkpoint is incomplete")
    tokenizer = _load_tokenizer(src)
    return Source(src, "hf", arch, model.eval(), tokenizer, tokenizer.chat_template, _dir_digest(src, weights))


def _load_tokenizer(src: Path, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(src, use_fast=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise ExportError(f"transformers could not load the tokenizer of {src}: {exc}") from None


def _load_gguf(path: Path) -> Source:
    from transformers import AutoConfig

    from edge.gguf_meta import read_gguf_meta

    meta = read_gguf_meta(path)
    try:
        config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"transformers cannot read {path} ({exc}); export from the HF checkpoint instead") from None
    arch = get_arch(config)
    try:
        model = arch.auto_class().from_pretrained(path.parent, gguf_file=path.name, dtype="float32")
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"transformers could not dequantize {path}: {exc}") from None
    tokenizer = _gguf_tokenizer(path)
    template = meta.chat_template or tokenizer.chat_template
    tokenizer.chat_template = template
    return Source(path, "gguf", arch, model.eval(), tokenizer, template, _file_digest(path))


def _gguf_tokenizer(path: Path) -> Any:
    """The GGUF's tokenizer as llama.cpp runs it: rebuilt (sentencepiece) or fixed (byte-level BPE)."""
    from export.gguf_tokenizer import fix_pre_tokenizer, read_gguf_spm, transformers_tokenizer

    spm = read_gguf_spm(path)
    if spm is not None:
        return transformers_tokenizer(spm)
    tokenizer = _load_tokenizer(path.parent, gguf_file=path.name)
    _fix_gguf_tokenizer(tokenizer)
    fix_pre_tokenizer(tokenizer, path)
    return tokenizer


def _fix_gguf_tokenizer(tokenizer: Any) -> None:
    """The GGUF-derived tokenizer adds a BOS (doubling <|im_start|>) and names the wrong EOS."""
    if hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = False
    if CHATML_EOS in tokenizer.get_vocab():
        tokenizer.eos_token = CHATML_EOS


def save_tokenizer(tokenizer: Any, out: Path) -> None:
    """tokenizer.json + tokenizer_config.json in `out`; never the 100 MB tokenizer.model a GGUF gives."""
    tokenizer.save_pretrained(out)
    for name in ("tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja"):
        (out / name).unlink(missing_ok=True)
    if not (out / "tokenizer.json").is_file():
        raise ExportError("the source tokenizer has no fast (tokenizer.json) form; the ONNX runtime needs one")


def untie_lm_head(model: Any) -> bool:
    """Give the lm_head its own weight so a quantizer sees it (a tied one exports as Transpose(embedding))."""
    import torch

    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or head.weight.data_ptr() != emb.weight.data_ptr():
        return False
    head.weight = torch.nn.Parameter(emb.weight.detach().clone())
    model.config.tie_word_embeddings = False
    if hasattr(model, "_tied_weights_keys"):
        model._tied_weights_keys = []
    return True


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _dir_digest(src: Path, weights: list[Path]) -> str:
    """One hash over config.json and the weight files (names and bytes)."""
    h = hashlib.sha256()
    for p in [src / "config.json", *weights]:
        h.update(p.name.encode())
        h.update(_file_digest(p).encode())
    return h.hexdigest()
