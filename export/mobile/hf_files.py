"""The Hugging Face side files ORT GenAI and transformers.js read beside the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .base import KitSource

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def _has_byte_level(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("type") == "ByteLevel" or any(_has_byte_level(v) for v in node.values())
    return isinstance(node, list) and any(_has_byte_level(v) for v in node)


def byte_level_tokenizer(tok: dict[str, Any]) -> dict[str, Any]:
    """A byte-level BPE without the SentencePiece decoders a GGUF-derived tokenizer.json carries.

    transformers' GGUF converter writes ByteFallback/Fuse/Replace("▁") decoders and byte_fallback
    beside the ByteLevel pre-tokenizer. Hugging Face tokenizers never reach them (every byte is in
    a byte-level vocabulary), but onnxruntime-genai's tokenizer then decodes as SentencePiece and
    prints the byte markers (Ġ, Ċ) and encodes differently. Other tokenizers are left as they are.
    """
    if tok.get("model", {}).get("type") != "BPE" or not _has_byte_level(tok.get("pre_tokenizer")):
        return tok
    return {**tok, "decoder": _BYTE_LEVEL, "model": {**tok["model"], "byte_fallback": False}}


def write_tokenizer(source: KitSource, kit: Path) -> None:
    """tokenizer.json (plain byte-level decoding where it is byte-level) and a tokenizer_config.json
    that carries the chat template.

    The bundle keeps the template in its manifest; runtimes read it from tokenizer_config.json
    (transformers.js' apply_chat_template throws without it).
    """
    tok = json.loads((source.ref.path / "tokenizer.json").read_text(encoding="utf-8"))
    (kit / "tokenizer.json").write_text(json.dumps(byte_level_tokenizer(tok), ensure_ascii=False), encoding="utf-8")
    path = source.ref.path / "tokenizer_config.json"
    config: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    config.update({"bos_token": source.bos_token or None, "eos_token": source.eos_token or None,
                   "add_bos_token": source.add_bos})
    if source.chat_template:
        config["chat_template"] = source.chat_template
    (kit / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def model_config(source: KitSource) -> dict[str, Any]:
    """The bundle's config.json (the Hugging Face model config optimum traced)."""
    return json.loads((source.ref.path / "config.json").read_text())


def write_generation_config(source: KitSource, kit: Path, context_length: int) -> None:
    """Greedy by default (the golden file's decoding), stopping at every end-of-generation id."""
    eog = list(source.eog_token_ids)
    config = {"eos_token_id": eog[0] if len(eog) == 1 else eog, "do_sample": False,
              "max_length": context_length}
    bos = model_config(source).get("bos_token_id")
    if bos is not None:
        config["bos_token_id"] = bos
    (kit / "generation_config.json").write_text(json.dumps(config, indent=2) + "\n")
