"""Tokenizer → GGUF vocab: byte-level BPE from tokenizer.json, sentencepiece (BPE or Unigram).

Special tokens, `add_bos`/`add_eos` and the chat template are carried over from
tokenizer_config.json (or chat_template.jinja) so the runtime renders prompts like transformers.
"""

from __future__ import annotations

import json
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


def _pre_tokenizer(tj: dict[str, Any]) -> str:
    """Name llama.cpp's pre-tokenizer that matches tokenizer.json's (a small, known set)."""
    pre = tj.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"]:
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    raise ExportError(f"tokenizer.json pre-tokenizer {kinds} has no llama.cpp equivalent this converter "
                      "knows (byte-level BPE, optionally with single digits)")


def _bpe(src: Path, cfg: dict[str, Any]) -> Vocab:
    tj = json.loads((src / "tokenizer.json").read_text())
    model = tj["model"]
    decoder = tj.get("decoder") or {}
    decoders = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    if model.get("type") != "BPE" or "ByteLevel" not in [d.get("type") for d in decoders]:
        raise ExportError(f"{src}/tokenizer.json is a {model.get('type')} tokenizer without a byte-level "
                          "decoder; only byte-level BPE (or a sentencepiece model file) is supported")
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


def _sentencepiece(path: Path) -> Vocab:
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(path.read_bytes())
    unigram = proto.trainer_spec.model_type == pb.TrainerSpec.UNIGRAM
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


def read_vocab(src: Path, arch_model: str) -> Vocab:
    """The vocab of checkpoint `src`; T5 needs a Unigram sentencepiece model (spiece.model)."""
    src = Path(src)
    cfg = _tokenizer_config(src)
    spm = next((src / n for n in ("spiece.model", "tokenizer.model") if (src / n).is_file()), None)
    if arch_model == "t5":
        if spm is None:
            raise ExportError(f"{src}: llama.cpp's T5 needs the sentencepiece model (spiece.model)")
        vocab = _sentencepiece(spm)
        vocab.add_eos = True  # T5 encoders see `text </s>`
    elif (src / "tokenizer.json").is_file():
        vocab = _bpe(src, cfg)
    elif spm is not None:
        vocab = _sentencepiece(spm)
        vocab.add_bos = True
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
