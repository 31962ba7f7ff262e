"""Tokenizer → GGUF vocab: byte-level BPE or Unigram from tokenizer.json, sentencepiece (BPE or Unigram).

A sentencepiece model file (tokenizer.model / spiece.model) wins over a tokenizer.json that is a
sentencepiece tokenizer itself (Llama 2, TinyLlama, Mistral, Gemma, Phi-3 ship both).

Special tokens, `add_bos`/`add_eos` and the chat template are carried over from
tokenizer_config.json (or chat_template.jinja) so the runtime renders prompts like transformers.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGUFWriter, TokenType

from edge.errors import ExportError

SPECIAL_KEYS = ("bos", "eos", "unk", "pad")


@dataclass
class Vocab:
    model: str  # tokenizer.ggml.model: gpt2 | llama | t5
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    pre: str | None = None
    special: dict[str, int] = field(default_factory=dict)
    add_bos: bool = False
    add_eos: bool = False
    chat_template: str | None = None
    charsmap: bytes | None = None
    # sentencepiece normalizer flags (None: not a sentencepiece vocab, llama.cpp defaults apply)
    space_prefix: bool | None = None
    remove_extra_whitespaces: bool | None = None

    def pad_to(self, n: int) -> None:
        """llama.cpp needs one token per embedding row: fill unused rows with placeholders."""
        if len(self.tokens) > n:
            raise ExportError(f"tokenizer has {len(self.tokens)} tokens but the model only {n} embedding rows: "
                              "the tokenizer does not belong to this checkpoint")
        extra = n - len(self.tokens)
        self.tokens += [f"[PAD{i}]" for i in range(len(self.tokens), n)]
        self.types += [int(TokenType.UNUSED)] * extra
        if self.scores is not None:
            self.scores += [-1000.0] * extra

    def write(self, w: GGUFWriter) -> None:
        w.add_tokenizer_model(self.model)
        if self.pre:
            w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        w.add_token_types(self.types)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        if self.merges:
            w.add_token_merges(self.merges)
        if self.charsmap:
            w.add_precompiled_charsmap(self.charsmap)
        if self.space_prefix is not None:
            w.add_add_space_prefix(self.space_prefix)
        if self.remove_extra_whitespaces is not None:
            w.add_remove_extra_whitespaces(self.remove_extra_whitespaces)
        for key, idx in self.special.items():
            getattr(w, f"add_{key}_token_id")(idx)
        w.add_add_bos_token(self.add_bos)
        w.add_add_eos_token(self.add_eos)
        if self.chat_template:
            w.add_chat_template(self.chat_template)


def _content(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def _tokenizer_config(src: Path) -> dict[str, Any]:
    path = src / "tokenizer_config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _chat_template(src: Path, cfg: dict[str, Any]) -> str | None:
    template = cfg.get("chat_template")
    if template is None and (src / "chat_template.jinja").is_file():
        template = (src / "chat_template.jinja").read_text()
    if isinstance(template, list):  # named templates: keep the default one
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    return template


# tokenizer.json Split regexes (as the model families publish them) -> llama.cpp pre-tokenizer names.
# Export then re-tokenizes probe texts both ways (tokcheck.py), so a wrong entry cannot ship.
_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
SPLIT_REGEXES: dict[str, str] = {
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "llama-bpe",  # Llama 3.x
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",  # Qwen 2 / 2.5 / 3
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+" + _CONTRACTIONS
    + r"?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*" + _CONTRACTIONS
    + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+": "gpt-4o",  # Phi-4-mini
}
PRE_TOKENIZERS = ("gpt-2", "smollm", *sorted(set(SPLIT_REGEXES.values())))


def hf_pre_tokenizer(name: str) -> Any | None:
    """The `tokenizers` pre-tokenizer llama.cpp's pre-tokenizer `name` stands for (None: not in the tables)."""
    from tokenizers import Regex, pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=name in ("gpt-2", "smollm"))
    if name == "gpt-2":
        return byte_level
    if name == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    regex = next((r for r, n in SPLIT_REGEXES.items() if n == name), None)
    if regex is None:
        return None
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(regex), behavior="isolated"), byte_level])


def _pre_tokenizer(tj: dict[str, Any]) -> str:
    """Name llama.cpp's pre-tokenizer that matches tokenizer.json's (see SPLIT_REGEXES)."""
    pre = tj.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    byte_level = parts[-1] if kinds and kinds[-1] == "ByteLevel" else {}
    if byte_level.get("add_prefix_space"):
        raise ExportError("tokenizer.json's ByteLevel pre-tokenizer adds a prefix space, which llama.cpp's "
                          "BPE never does: re-save the tokenizer with add_prefix_space=False")
    if kinds == ["ByteLevel"] and byte_level.get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and byte_level.get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not byte_level.get("use_regex", True):
        split = parts[0]
        regex = (split.get("pattern") or {}).get("Regex")
        if split.get("behavior") == "Isolated" and not split.get("invert") and regex in SPLIT_REGEXES:
            return SPLIT_REGEXES[regex]
    raise ExportError(f"tokenizer.json pre-tokenizer {kinds} has no llama.cpp equivalent this converter knows; "
                      f"known: {', '.join(PRE_TOKENIZERS)} (byte-level BPE, as GPT-2, SmolLM, Llama 3, Qwen 2 "
                      "and Phi-4 ship it)")


def _bpe(src: Path, cfg: dict[str, Any]) -> Vocab:
    tj = json.loads((src / "tokenizer.json").read_text())
    model = tj["model"]
    decoder = tj.get("decoder") or {}
    decoders = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    if model.get("type") != "BPE" or "ByteLevel" not in [d.get("type") for d in decoders]:
        raise ExportError(f"{src}/tokenizer.json is a {model.get('type')} tokenizer without a byte-level "
                          "decoder (a sentencepiece tokenizer): copy its sentencepiece model (tokenizer.model) "
                          "into the checkpoint; tokenizer.json alone is only supported for byte-level BPE")
    ids = dict(model["vocab"])
    added = {t["content"]: t for t in tj.get("added_tokens", [])}
    ids.update({c: t["id"] for c, t in added.items()})
    tokens = [""] * (max(ids.values()) + 1)
    for tok, idx in ids.items():
        tokens[idx] = tok
    types = [int(TokenType.CONTROL if added[t]["special"] else TokenType.USER_DEFINED) if t in added
             else int(TokenType.NORMAL) for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return Vocab("gpt2", tokens, types, merges=merges, pre=_pre_tokenizer(tj))


def _flatten(component: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    component = component or {}
    return component.get(key, [component]) if component.get("type") == "Sequence" else [component]


def _unigram(src: Path) -> Vocab:
    """A Unigram tokenizer.json (what T5 checkpoints ship without spiece.model) as llama.cpp's "t5" vocab."""
    tj = json.loads((src / "tokenizer.json").read_text())
    model = tj["model"]
    if model.get("type") != "Unigram":
        raise ExportError(f"{src}/tokenizer.json is a {model.get('type')} tokenizer; llama.cpp's T5 needs a "
                          "Unigram one (or the sentencepiece model, spiece.model)")
    added = {t["id"]: t for t in tj.get("added_tokens", [])}
    byte_piece = re.compile(r"<0x[0-9A-Fa-f]{2}>")

    def kind(i: int, piece: str) -> TokenType:
        if i == model.get("unk_id"):
            return TokenType.UNKNOWN
        if i in added:
            return TokenType.CONTROL if added[i]["special"] else TokenType.USER_DEFINED
        return TokenType.BYTE if model.get("byte_fallback") and byte_piece.fullmatch(piece) else TokenType.NORMAL

    pieces = model["vocab"]
    vocab = Vocab("t5", [p for p, _ in pieces], [int(kind(i, p)) for i, (p, _) in enumerate(pieces)],
                  scores=[float(score) for _, score in pieces])
    norms = _flatten(tj.get("normalizer"), "normalizers")
    charsmap = next((n.get("precompiled_charsmap") for n in norms if n.get("type") == "Precompiled"), None)
    vocab.charsmap = base64.b64decode(charsmap) if charsmap else None
    # sentencepiece's remove_extra_whitespaces is written out as Strip + Replace(" {2,}") by transformers
    vocab.remove_extra_whitespaces = any(n.get("type") == "Strip" for n in norms)
    meta = next((p for p in _flatten(tj.get("pre_tokenizer"), "pretokenizers") if p.get("type") == "Metaspace"), None)
    if meta is None:
        raise ExportError(f"{src}/tokenizer.json: a Unigram tokenizer without a Metaspace pre-tokenizer has no "
                          "llama.cpp equivalent")
    scheme = meta.get("prepend_scheme", "always" if meta.get("add_prefix_space", True) else "never")
    vocab.space_prefix = scheme != "never"
    if vocab.remove_extra_whitespaces and not vocab.space_prefix:
        # llama.cpp's UGM puts a "▁" before every word when it collapses whitespace, the first included
        raise ExportError(f"{src}/tokenizer.json never prepends '▁' but collapses whitespace, which llama.cpp's "
                          "T5 tokenizer cannot mirror: add spiece.model to the checkpoint, or set the Metaspace "
                          "prepend_scheme to \"always\" as released T5 tokenizers have it")
    if model.get("unk_id") is not None:
        vocab.special["unk"] = int(model["unk_id"])
    return vocab


def _sentencepiece(path: Path) -> Vocab:
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(path.read_bytes())
    unigram = proto.trainer_spec.model_type == pb.TrainerSpec.UNIGRAM
    if unigram and proto.trainer_spec.byte_fallback:
        # llama.cpp's Unigram (UGM) tokenizer maps unknown characters to <unk>, never to <0xNN> pieces
        raise ExportError(f"{path} is a Unigram sentencepiece model with byte fallback, which llama.cpp's "
                          "Unigram tokenizer does not do: export it to ONNX instead (`edgesplit export onnx`)")
    # sentencepiece piece types map 1:1 onto GGUF token types (NORMAL=1 ... BYTE=6)
    vocab = Vocab("t5" if unigram else "llama", [p.piece for p in proto.pieces], [int(p.type) for p in proto.pieces],
                  scores=[float(p.score) for p in proto.pieces])
    norm = proto.normalizer_spec
    vocab.charsmap = bytes(norm.precompiled_charsmap) or None
    vocab.space_prefix, vocab.remove_extra_whitespaces = norm.add_dummy_prefix, norm.remove_extra_whitespaces
    ts = proto.trainer_spec
    vocab.special = {k: i for k, i in (("bos", ts.bos_id), ("eos", ts.eos_id), ("unk", ts.unk_id),
                                       ("pad", ts.pad_id)) if i >= 0}
    return vocab


def _is_sentencepiece(src: Path) -> bool:
    """tokenizer.json is a sentencepiece tokenizer (Unigram, or BPE with "▁" pieces, not byte-level)."""
    tj = json.loads((src / "tokenizer.json").read_text())
    model = tj.get("model") or {}
    decoders = [d.get("type") for d in _flatten(tj.get("decoder"), "decoders")]
    return model.get("type") == "Unigram" or (model.get("type") == "BPE" and "ByteLevel" not in decoders)


def _add_json_tokens(vocab: Vocab, src: Path) -> None:
    """tokenizer.json's added tokens: typed CONTROL (special) or USER_DEFINED, appended past the pieces."""
    tj = json.loads((src / "tokenizer.json").read_text())
    for added in sorted(tj.get("added_tokens", []), key=lambda t: t["id"]):
        idx, kind = added["id"], int(TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED)
        if idx > len(vocab.tokens):
            raise ExportError(f"{src}/tokenizer.json adds token {added['content']!r} at id {idx}, past the "
                              f"{len(vocab.tokens)} pieces of the sentencepiece model: the files do not belong together")
        if idx == len(vocab.tokens):
            vocab.tokens.append(added["content"])
            vocab.types.append(kind)
            if vocab.scores is not None:
                vocab.scores.append(0.0)
        elif vocab.tokens[idx] != added["content"]:
            raise ExportError(f"{src}: tokenizer.json's token {idx} is {added['content']!r} but the sentencepiece "
                              f"model's is {vocab.tokens[idx]!r}: the files do not belong together")
        elif vocab.types[idx] == TokenType.NORMAL:
            vocab.types[idx] = kind  # llama.cpp splits these out of text, as transformers does added tokens


def read_vocab(src: Path, arch_model: str) -> Vocab:
    """The vocab of checkpoint `src`; T5 needs a Unigram tokenizer (spiece.model or tokenizer.json)."""
    src = Path(src)
    cfg = _tokenizer_config(src)
    spm = next((src / n for n in ("spiece.model", "tokenizer.model") if (src / n).is_file()), None)
    if arch_model == "t5":
        if spm is None and not (src / "tokenizer.json").is_file():
            raise ExportError(f"no tokenizer in {src}: T5 needs spiece.model or a Unigram tokenizer.json")
        vocab = _sentencepiece(spm) if spm is not None else _unigram(src)
        vocab.add_eos = True  # T5 encoders see `text </s>`
    elif spm is not None and (not (src / "tokenizer.json").is_file() or _is_sentencepiece(src)):
        # Llama 2, TinyLlama, Mistral, Gemma, Phi-3: the sentencepiece model is the vocab; the
        # tokenizer.json beside it adds the tokens transformers appended (Phi-3's chat markers)
        vocab = _sentencepiece(spm)
        vocab.add_bos = True
        _add_json_tokens(vocab, src)
    elif (src / "tokenizer.json").is_file():
        vocab = _bpe(src, cfg)
    else:
        raise ExportError(f"no tokenizer in {src}: copy tokenizer.json or tokenizer.model into it")
    _apply_config(vocab, cfg)
    vocab.chat_template = _chat_template(src, cfg)
    return vocab


def _apply_config(vocab: Vocab, cfg: dict[str, Any]) -> None:
    index = {t: i for i, t in enumerate(vocab.tokens)}
    for key in SPECIAL_KEYS:
        token = _content(cfg.get(f"{key}_token"))
        if token is not None and token in index:
            vocab.special[key] = index[token]
    if "add_bos_token" in cfg:
        vocab.add_bos = bool(cfg["add_bos_token"])
    if "add_eos_token" in cfg:
        vocab.add_eos = bool(cfg["add_eos_token"])
