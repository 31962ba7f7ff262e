"""Tokenizer parity: llama.cpp must split text into the same ids as the checkpoint's own tokenizer.

Logit parity feeds both sides the same ids, so it cannot see a wrong pre-tokenizer or a lost
normalizer; a GGUF with one answers well on the parity set and badly on user text. The probes
cover what tokenizers disagree on: digit grouping, contractions, whitespace runs, newlines,
punctuation runs, code, accents and non-Latin scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROBES = (
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, but we'd've DON'T know.",
    "Numbers: 7, 42, 1234567, 3.14159 and 2026-11-23; phone +44 20 7946 0958.",
    "Spaces:  two,   three,\ttab, trailing   ",
    "Line one\nline two\n\n\nafter blank lines\r\nwindows",
    "Punctuation!!! ??? ... --- (nested [brackets {here}]) \"quotes\"",
    'def f(x):\n    return {"a": [1, 2, 3], "b": x ** 2}  # comment',
    "Café naïve façade — résumé… Straße Ærø",
    "Привет мир, 你好世界, こんにちは, مرحبا",
    "emoji 🙂🚀 and symbols © ® ™ € £ ¥",
)


@dataclass(frozen=True)
class TokenizerParity:
    n_texts: int
    mismatches: list[dict] = field(default_factory=list)  # {"text", "reference", "gguf"}

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_manifest(self) -> dict:
        return {"n_texts": self.n_texts, "mismatches": len(self.mismatches)}

    def describe(self, limit: int = 2) -> str:
        return "; ".join(f"{m['text']!r}: checkpoint {m['reference'][:12]} vs GGUF {m['gguf'][:12]}"
                         for m in self.mismatches[:limit])


def tokenizer_parity(src: Path, gguf: Path, texts: tuple[str, ...] = PROBES) -> TokenizerParity:
    """Tokenize `texts` (no special tokens added) with transformers from `src` and with llama.cpp."""
    import llama_cpp
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(src))
    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    try:
        mismatches = []
        for text in texts:
            ref = list(reference.encode(text, add_special_tokens=False))
            ours = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            if ref != ours:
                mismatches.append({"text": text, "reference": ref, "gguf": ours})
        return TokenizerParity(len(texts), mismatches)
    finally:
        llm.close()
