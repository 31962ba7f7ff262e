"""A GGUF's vocabulary as the `tokenizers` tokenizer that splits text like llama.cpp does.

Llama 2, TinyLlama, Mistral and Gemma GGUFs carry pieces and scores but no merges. llama.cpp
tokenizes them by repeatedly merging the adjacent pair whose concatenation is the highest-scoring
piece, then falls back to `<0xNN>` byte pieces for what is left. A BPE model whose merge list is
every (left, right) split of every piece, ranked by the merged piece's score, makes the same
choices; transformers' own GGUF conversion does not (it split "capital" into `c|ap|it|al`).
Control, unknown and user-defined pieces are added tokens, split out before the text is merged,
and the "▁" space prefix is added to every text run, as llama.cpp does after a special token.

Byte-level BPE vocabularies ("gpt2") keep transformers' conversion, but with the pre-tokenizer
that `tokenizer.ggml.pre` names: transformers drops SmolLM's digit splitting ("  0" became
`Ġ|Ġ|0`, llama.cpp: `ĠĠ|0`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import TokenType

from edge.errors import ExportError

SPACE = "\u2581"
_ADDED = {TokenType.CONTROL: True, TokenType.UNKNOWN: True, TokenType.USER_DEFINED: False}  # type -> special


@dataclass(frozen=True)
class SpmVocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    add_space_prefix: bool = True
    special: dict[str, int] | None = None  # bos/eos/unk/pad -> id
    add_bos: bool = True
    add_eos: bool = False


def read_gguf_spm(path: Path) -> SpmVocab | None:
    """The sentencepiece vocabulary of GGUF `path`, or None when it holds another kind (gpt2, t5...)."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields

    def get(key: str, default: Any = None) -> Any:
        field = fields.get(f"tokenizer.ggml.{key}")
        return field.contents() if field is not None else default

    if get("model") != "llama":
        return None
    tokens, scores, types = get("tokens"), get("scores"), get("token_type")
    if tokens is None or scores is None or types is None or not len(tokens) == len(scores) == len(types):
        raise ExportError(f"{path}: a sentencepiece (\"llama\") vocabulary needs tokens, scores and token_type "
                          "arrays of one length; the GGUF is incomplete")
    special = {k: int(v) for k in ("bos", "eos", "unknown", "padding")
               if (v := get(f"{k}_token_id")) is not None and 0 <= int(v) < len(tokens)}
    return SpmVocab(list(tokens), [float(s) for s in scores], [int(t) for t in types],
                    add_space_prefix=bool(get("add_space_prefix", True)), special=special,
                    add_bos=bool(get("add_bos_token", True)), add_eos=bool(get("add_eos_token", False)))


def merges_by_score(vocab: dict[str, int], scores: list[float], mergeable: set[int]) -> list[tuple[str, str]]:
    """Every split of every mergeable piece into two pieces, best-scoring merged piece first."""
    ranked = []
    for piece, idx in vocab.items():
        if idx not in mergeable:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[idx], idx, cut, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def build_tokenizer(v: SpmVocab) -> Any:
    """The `tokenizers.Tokenizer` that splits text like llama.cpp's SPM tokenizer on this vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    vocab: dict[str, int] = {}
    for idx, piece in enumerate(v.tokens):
        vocab[piece] = idx  # a duplicated piece resolves to its last id, as in llama.cpp's token map
    unk = (v.special or {}).get("unknown")
    mergeable = {i for i in vocab.values() if v.types[i] in (TokenType.NORMAL, TokenType.UNUSED)}
    model = models.BPE(vocab=vocab, merges=merges_by_score(vocab, v.scores, mergeable), byte_fallback=True,
                       fuse_unk=False, unk_token=v.tokens[unk] if unk is not None else None)
    tok = Tokenizer(model)
    replace = normalizers.Replace(" ", SPACE)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), replace]) if v.add_space_prefix else replace
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    tok.decoder = decoders.Sequence([*steps, decoders.Strip(" ", 1, 0)] if v.add_space_prefix else steps)
    tok.add_tokens([AddedToken(v.tokens[i], special=_ADDED[TokenType(t)], normalized=False)
                    for i, t in enumerate(v.types) if TokenType(t) in _ADDED and v.tokens[i] in vocab
                    and vocab[v.tokens[i]] == i])
    tok.post_processor = _post_processor(v, processors)
    return tok


def _post_processor(v: SpmVocab, processors: Any) -> Any:
    """BOS/EOS as the GGUF's add_bos/add_eos say (used by `tokenizer(text)`, not by the ONNX runtime)."""
    special = v.special or {}
    pre = [v.tokens[special["bos"]]] if v.add_bos and "bos" in special else []
    post = [v.tokens[special["eos"]]] if v.add_eos and "eos" in special else []
    ids = [(t, special["bos"]) for t in pre] + [(t, special["eos"]) for t in post]
    return processors.TemplateProcessing(single=[*pre, "$A", *post], pair=[*pre, "$A", "$B", *post],
                                         special_tokens=ids)


def transformers_tokenizer(v: SpmVocab) -> Any:
    """`build_tokenizer` wrapped as a transformers fast tokenizer carrying the GGUF's special tokens."""
    from transformers import PreTrainedTokenizerFast

    names = {"bos": "bos_token", "eos": "eos_token", "unknown": "unk_token", "padding": "pad_token"}
    kwargs = {names[k]: v.tokens[i] for k, i in (v.special or {}).items()}
    # control pieces as special tokens, so end-of-turn markers (<end_of_turn>, <|im_end|>) stop generation
    control = [t for t, k in zip(v.tokens, v.types, strict=True) if k == TokenType.CONTROL and t not in kwargs.values()]
    fast = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(v), additional_special_tokens=control, **kwargs)
    fast.add_bos_token, fast.add_eos_token = v.add_bos, v.add_eos
    return fast


def fix_pre_tokenizer(tokenizer: Any, path: Path) -> None:
    """Give a transformers tokenizer of GGUF `path` the pre-tokenizer that its `tokenizer.ggml.pre` names."""
    from gguf import GGUFReader

    from export.gguf.vocab import hf_pre_tokenizer

    field = GGUFReader(path).fields.get("tokenizer.ggml.pre")
    pre = hf_pre_tokenizer(field.contents()) if field is not None else None
    if pre is not None:  # other names: transformers' own guess, which tokparity then checks
        tokenizer.backend_tokenizer.pre_tokenizer = pre
