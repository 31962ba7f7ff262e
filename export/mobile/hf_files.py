"""The Hugging Face side files ORT GenAI and transformers.js read beside the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .base import KitSource, copy_files


def write_tokenizer(source: KitSource, kit: Path) -> None:
    """tokenizer.json as exported, and a tokenizer_config.json that carries the chat template.

    The bundle keeps the template in its manifest; runtimes read it from tokenizer_config.json
    (transformers.js' apply_chat_template throws without it).
    """
    copy_files(source, ["tokenizer.json"], kit)
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
