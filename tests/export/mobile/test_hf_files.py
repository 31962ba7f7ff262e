"""The kit's tokenizer.json: plain byte-level decoding for a GGUF-derived byte-level BPE, same ids and text."""

from __future__ import annotations

import json

from export.mobile.hf_files import byte_level_tokenizer

GGUF_DECODER = {"type": "Sequence", "decoders": [
    {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
TEXTS = ["Paris is the capital of France.\n\n", "  two  spaces, tabs\tand ünïcödé ✓ 12345", "<|im_start|>user\nHi"]


def test_a_gguf_style_byte_level_bpe_gets_a_plain_byte_level_decoder_and_keeps_its_ids(tiny_tokenizer_dir):
    from tokenizers import Tokenizer

    tok = json.loads((tiny_tokenizer_dir / "tokenizer.json").read_text())
    gguf_style = {**tok, "decoder": GGUF_DECODER, "model": {**tok["model"], "byte_fallback": True}}
    fixed = byte_level_tokenizer(gguf_style)
    assert fixed["decoder"]["type"] == "ByteLevel" and fixed["model"]["byte_fallback"] is False
    before, after = (Tokenizer.from_str(json.dumps(t)) for t in (gguf_style, fixed))
    for text in TEXTS:
        ids = before.encode(text).ids
        assert after.encode(text).ids == ids
        assert after.decode(ids, skip_special_tokens=False) == before.decode(ids, skip_special_tokens=False)


def test_a_tokenizer_that_is_not_byte_level_is_left_alone():
    spm = {"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "Metaspace"},
           "decoder": {"type": "Metaspace"}}
    assert byte_level_tokenizer(spm) is spm
