"""Tokenizer parity: a bundle must split text into the same ids as its source's own tokenizer.

Logit parity feeds both sides the same ids, so it cannot see a wrong pre-tokenizer, a lost
normalizer or a vocabulary converted without its merge order; such a bundle passes logit parity
and answers garbage. This is the one home of the probe texts and of the check that every export
path (ONNX from HF or GGUF, GGUF from HF) runs before writing, and `edgesplit verify` re-runs.

The reference is the source's own tokenizer: transformers for a checkpoint directory, llama.cpp
for a GGUF file. Texts are tokenized as the runtime does (special tokens in text are parsed, no
BOS added), so probes include the vocabulary's own control tokens inside text.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bundle import TokenizerParityFacts
from edge.errors import ExportError

Tokenize = Callable[[str], list[int]]

PROBES = (
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "The capital of France is",
    "I'm sure they'll say it's fine, but we'd've DON'T know.",
    "Numbers: 7, 42, 1234567, 3.14159 and 2026-11-23; phone +44 20 7946 0958.",
    "Spaces:  two,   three,\ttab, trailing   ",
    " leading space",
    "   three leading spaces and\u00a0a no-break space",
    "Line one\nline two\n\n\nafter blank lines\r\nwindows\r\n",
    "Punctuation!!! ??? ... --- (nested [brackets {here}]) \"quotes\"",
    'def f(x):\n    return {"a": [1, 2, 3], "b": x ** 2}  # comment',
    "Café naïve façade — résumé… Straße Ærø",
    "Привет мир, 你好世界, こんにちは, مرحبا",
    "emoji 🙂🚀 and symbols © ® ™ € £ ¥",
)
# special-token strings that many vocabularies hold; put into text, each side must agree on them
COMMON_SPECIALS = ("<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>")
_SEPARATORS = (" ", " ", " ", "  ", "\n", "\t", "", ", ", ". ", "\r\n", " - ")
N_RANDOM = 24


def random_texts(n: int = N_RANDOM, seed: int = 0) -> tuple[str, ...]:
    """`n` seeded texts mixing probe words, random casing, separators and odd characters."""
    rng = random.Random(seed)
    words = [w for p in PROBES for w in p.split()] + ["ü", "ß", "₂", "\u200b", "👩‍💻", "ﬁ", "İ"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(3, 12)):
            word = rng.choice(words)
            word = word.upper() if rng.random() < 0.1 else word.capitalize() if rng.random() < 0.2 else word
            parts.append(word + rng.choice(_SEPARATORS))
        out.append("".join(parts))
    return tuple(out)


def probe_texts(specials: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The probes, seeded random texts, and texts with each special-token string inside them."""
    marks = list(dict.fromkeys((*specials[:8], *COMMON_SPECIALS)))
    pairs = zip(marks, marks[1:] + marks[:1], strict=True)
    with_specials = tuple(f"{a}Hello {a} world{b}\n{b}x {a}{b} The end" for a, b in pairs)
    return PROBES + random_texts() + with_specials


@dataclass(frozen=True)
class TokenizerParity:
    reference: str  # what tokenized the source: "transformers:<dir>" | "llama.cpp:<file>"
    candidate: str  # what the bundle's runtime tokenizes with
    n_texts: int
    mismatches: list[dict] = field(default_factory=list)  # {"text", "reference", "bundle"}

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_manifest(self) -> TokenizerParityFacts:
        return TokenizerParityFacts(reference=self.reference, candidate=self.candidate, n_texts=self.n_texts,
                                    mismatches=len(self.mismatches))

    def describe(self, limit: int = 2) -> str:
        """The first `limit` differences, each from the first id where the two sides part."""
        out = []
        for m in self.mismatches[:limit]:
            ref, ours = m["reference"], m["bundle"]
            at = next((i for i, (a, b) in enumerate(zip(ref, ours, strict=False)) if a != b), min(len(ref), len(ours)))
            out.append(f"{m['text'][:60]!r}: from id {at} source {ref[at:at + 8]} vs bundle {ours[at:at + 8]}")
        return "; ".join(out)

    def require(self) -> TokenizerParity:
        """Raise ExportError unless every text tokenized the same (the export then writes nothing)."""
        if not self.passed:
            raise ExportError(f"the bundle's tokenizer ({self.candidate}) splits {len(self.mismatches)} of "
                              f"{self.n_texts} probe texts differently from the source's ({self.reference}): "
                              f"{self.describe()}. The tokenizer conversion is wrong for this vocabulary: "
                              "report it with the source's tokenizer files")
        return self


def compare(reference: Tokenize, candidate: Tokenize, texts: tuple[str, ...], names: tuple[str, str]) -> TokenizerParity:
    """Tokenize every text with both and collect the differences."""
    mismatches = []
    for text in texts:
        ref, ours = reference(text), candidate(text)
        if ref != ours:
            mismatches.append({"text": text, "reference": ref, "bundle": ours})
    return TokenizerParity(names[0], names[1], len(texts), mismatches)


# --- tokenizers, each a context manager yielding (tokenize, special-token strings) ---

@contextlib.contextmanager
def transformers_side(src: Path) -> Iterator[tuple[Tokenize, tuple[str, ...]]]:
    """The checkpoint's own tokenizer as transformers loads it (added tokens parsed, no BOS)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src))
    specials = tuple(t for t in tok.all_special_tokens if t)
    yield (lambda text: list(tok.encode(text, add_special_tokens=False))), specials


@contextlib.contextmanager
def llama_cpp_side(gguf: Path) -> Iterator[tuple[Tokenize, tuple[str, ...]]]:
    """llama.cpp's tokenization of a GGUF's vocabulary (special tokens parsed, as the runtime does)."""
    from edge.runtimes import llamacpp

    with llamacpp.vocab_only(gguf) as llm:
        yield (lambda text: llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)), _gguf_specials(gguf)


@contextlib.contextmanager
def tokenizer_json_side(path: Path) -> Iterator[tuple[Tokenize, tuple[str, ...]]]:
    """A bundle's tokenizer.json through `tokenizers`, exactly as the ONNX runtime encodes prompts."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    specials = tuple(t.content for t in tok.get_added_tokens_decoder().values() if t.special)
    yield (lambda text: tok.encode(text, add_special_tokens=False).ids), specials


def _gguf_specials(gguf: Path) -> tuple[str, ...]:
    from gguf import GGUFReader, TokenType

    fields = GGUFReader(gguf).fields
    tokens, types = fields["tokenizer.ggml.tokens"].contents(), fields["tokenizer.ggml.token_type"].contents()
    return tuple(t for t, k in zip(tokens, types, strict=True) if k == TokenType.CONTROL)


def source_side(src: Path) -> contextlib.AbstractContextManager[tuple[Tokenize, tuple[str, ...]]]:
    """The source's own tokenizer: transformers for a checkpoint dir, llama.cpp for a GGUF file."""
    src = Path(src)
    if src.is_dir():
        return transformers_side(src)
    if src.is_file() and src.suffix == ".gguf":
        return llama_cpp_side(src)
    raise ExportError(f"tokenizer parity needs the source: {src} is neither a checkpoint directory nor a .gguf file")


def _label(src: Path) -> str:
    return f"{'transformers' if Path(src).is_dir() else 'llama.cpp'}:{Path(src).name}"


def check(src: Path, bundle_side: contextlib.AbstractContextManager[tuple[Tokenize, tuple[str, ...]]],
          candidate: str) -> TokenizerParity:
    """Tokenizer parity of `bundle_side` against the source `src` on the probe texts."""
    with source_side(src) as (reference, specials), bundle_side as (ours, _):
        return compare(reference, ours, probe_texts(specials), (_label(src), candidate))


def check_gguf(src: Path, gguf: Path) -> TokenizerParity:
    """A GGUF bundle: llama.cpp on its file vs the source."""
    return check(src, llama_cpp_side(gguf), f"llama.cpp:{gguf.name}")


def check_tokenizer_json(src: Path, tokenizer_json: Path) -> TokenizerParity:
    """An ONNX bundle: its tokenizer.json through `tokenizers` vs the source."""
    return check(src, tokenizer_json_side(tokenizer_json), f"tokenizers:{tokenizer_json.name}")


# bundle format -> (the file its runtime tokenizes with, how that runtime tokenizes it)
BUNDLE_SIDES: dict[str, tuple[Callable[[Path, Any], Path], Callable[[Path], Any], str]] = {
    "onnx": (lambda bundle, manifest: bundle / (manifest.tokenizer or "tokenizer.json"), tokenizer_json_side,
             "tokenizers"),
    "gguf": (lambda bundle, manifest: bundle / next(n for n in manifest.files if n.endswith(".gguf")),
             llama_cpp_side, "llama.cpp"),
}


def verify_bundle(bundle: Path, manifest: Any, reference: str | None) -> dict[str, Any]:
    """`edgesplit verify`'s tokenizer part: re-run the check against `reference` or the recorded source."""
    src = Path(reference) if reference else Path(manifest.source.get("path", ""))
    recorded = manifest.tokenizer_parity.model_dump() if manifest.tokenizer_parity else {}
    if not (src.is_dir() or (src.is_file() and src.suffix == ".gguf")):
        return {"tokenizer_parity": {**recorded, "remeasured": False}}
    locate, side, runtime = BUNDLE_SIDES[manifest.format]
    path = locate(Path(bundle), manifest)
    result = check(src, side(path), f"{runtime}:{path.name}")
    return {"tokenizer_parity": {**result.to_manifest().model_dump(), "examples": result.describe() or None, "remeasured": True,
                                 "passed": result.passed}}
