"""The GGUF export's tokenizer check: llama.cpp on the written GGUF vs the checkpoint's own tokenizer.

The probes and the check live in export.tokparity (one home for every export path and verify).
"""

from __future__ import annotations

from pathlib import Path

from export.tokparity import PROBES, TokenizerParity, check_gguf, probe_texts

__all__ = ["PROBES", "TokenizerParity", "probe_texts", "tokenizer_parity"]


def tokenizer_parity(src: Path, gguf: Path) -> TokenizerParity:
    """Tokenize the probe texts with transformers from `src` and with llama.cpp from `gguf`."""
    return check_gguf(src, gguf)
