"""Tokenizers → GGUF vocab: every known pre-tokenizer, T5 from tokenizer.json, and the probe check.

Each tokenizer is trained here (no hub) with the pre-tokenizer a model family ships; the export's
tokenizer-parity probe then compares llama.cpp's ids with transformers' on digits, contractions,
whitespace, code and non-Latin text.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edge.errors import ExportError
from export.gguf import vocab as vocab_mod
from export.gguf.convert import ExportOptions, export_gguf
from export.tokparity import PROBES
from tests.export.conftest import CORPUS, SPECIAL
from tests.export.gguf.conftest import TINY, save_checkpoint

# the Split regex each family's published tokenizer.json holds, written out here independently of the
# converter's own table, so a wrong entry there fails these tests instead of being trained in
_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
_UPPER, _LOWER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
REGEX_OF = {
    "llama-bpe": _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                 r"|\s+(?!\S)|\s+",
    "qwen2": _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
             r"|\s+(?!\S)|\s+",
    "gpt-4o": rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTIONS}?"
              rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTIONS}?"
              r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
EXTRA_CORPUS = ["It's 1234567 or 98765, isn't it? We'll see.", "Numbers 2026 11 23 and 3.14159", *PROBES] * 5


def train_tokenizer(out: Path, pre: str) -> Path:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre in ("gpt-2", "smollm"))
    stages = {"gpt-2": [], "smollm": [pre_tokenizers.Digits(individual_digits=True)],
              "whitespace": [pre_tokenizers.Whitespace()]}.get(pre)
    if stages is None:
        stages = [pre_tokenizers.Split(Regex(REGEX_OF[pre]), behavior="isolated")]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([*stages, byte_level]) if stages else byte_level
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS + EXTRA_CORPUS, trainers.BpeTrainer(
        vocab_size=500, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.save_pretrained(out)
    return out


def llama_with(tokenizer: Path, out: Path) -> Path:
    return save_checkpoint(TINY["LlamaForCausalLM"](), out, tokenizer)


def gguf_kv(path: Path, key: str):
    from gguf import GGUFReader

    field = GGUFReader(path).fields.get(key)
    return field.contents() if field is not None else None


@pytest.mark.parametrize("pre", ["gpt-2", "smollm", "llama-bpe", "qwen2", "gpt-4o"])
def test_each_known_pre_tokenizer_exports_with_identical_tokenization(pre: str, tmp_path: Path) -> None:
    src = llama_with(train_tokenizer(tmp_path / "tok", pre), tmp_path / "src")
    manifest = export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))
    assert gguf_kv(tmp_path / "out" / "model-f32.gguf", "tokenizer.ggml.pre") == pre
    assert manifest.tokenizer_parity.mismatches == 0
    assert manifest.tokenizer_parity.n_texts > len(PROBES)  # probes, random texts, special tokens


def test_a_wrong_pre_tokenizer_is_caught_before_anything_is_written(tmp_path: Path, monkeypatch) -> None:
    # Llama 3 groups digits by three, Qwen 2 splits every digit: "1234567" tokenizes differently
    src = llama_with(train_tokenizer(tmp_path / "tok", "llama-bpe"), tmp_path / "src")
    monkeypatch.setitem(vocab_mod.SPLIT_REGEXES, REGEX_OF["llama-bpe"], "qwen2")
    with pytest.raises(ExportError, match=r"tokenizes \d+ of \d+ probe texts differently.*'qwen2'.*1234567"):
        export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "tok"]


def test_unknown_pre_tokenizer_lists_the_known_ones(tmp_path: Path) -> None:
    src = llama_with(train_tokenizer(tmp_path / "tok", "whitespace"), tmp_path / "src")
    with pytest.raises(ExportError, match=r"\['Whitespace', 'ByteLevel'\].*known: gpt-2, smollm, gpt-4o, "
                                          r"llama-bpe, qwen2"):
        export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))
    assert not (tmp_path / "out").exists()


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_byte_level_prefix_space_is_refused(tmp_path: Path) -> None:
    src = llama_with(train_tokenizer(tmp_path / "tok", "gpt-2"), tmp_path / "src")
    edit_json(src / "tokenizer.json", lambda tj: tj["pre_tokenizer"].update(add_prefix_space=True))
    with pytest.raises(ExportError, match="adds a prefix space"):
        export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))


@pytest.fixture(scope="module")
def t5_json_only(tiny_models, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny T5 with its tokenizer as tokenizer.json only, laid out as T5 releases ship it."""
    from transformers import T5TokenizerFast

    out = tmp_path_factory.mktemp("t5-json") / "src"
    shutil.copytree(tiny_models.get("T5ForConditionalGeneration"), out)
    spm = out / "spiece.model"
    T5TokenizerFast(vocab_file=str(spm), extra_ids=0, legacy=False).save_pretrained(out)
    os.remove(spm)
    # released T5 tokenizer.json files prepend "▁" to the text (transformers now writes "never" here)
    edit_json(out / "tokenizer.json", lambda tj: tj["pre_tokenizer"].update(prepend_scheme="always"))
    assert json.loads((out / "tokenizer.json").read_text())["model"]["type"] == "Unigram"
    return out


def test_t5_exports_from_a_unigram_tokenizer_json(t5_json_only: Path, tiny_models, tmp_path: Path) -> None:
    from gguf import GGUFReader

    manifest = export_gguf(t5_json_only, tmp_path / "json", ExportOptions(quant="f32"))
    assert manifest.encoder_decoder and manifest.parity.top1_agreement == 1.0
    assert manifest.tokenizer_parity.mismatches == 0
    assert manifest.tokenizer_parity.n_texts > len(PROBES)  # probes, random texts, special tokens
    export_gguf(tiny_models.get("T5ForConditionalGeneration"), tmp_path / "spm", ExportOptions(quant="f32"))

    def vocab_fields(bundle: Path) -> dict:
        reader = GGUFReader(bundle / "model-f32.gguf")
        keys = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores",
                "tokenizer.ggml.precompiled_charsmap", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id")
        return {k: reader.fields[k].contents() for k in keys}

    # the same vocab whichever file it came from (the space prefix follows each tokenizer's own rule)
    from_json, from_spm = vocab_fields(tmp_path / "json"), vocab_fields(tmp_path / "spm")
    assert from_json.keys() == from_spm.keys()
    for key in from_json:
        assert from_json[key] == pytest.approx(from_spm[key]) if key.endswith("scores") else from_json[key] == from_spm[key], key


def test_t5_tokenizer_json_llama_cpp_cannot_mirror(t5_json_only: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(t5_json_only, src)
    edit_json(src / "tokenizer.json", lambda tj: tj["pre_tokenizer"].update(prepend_scheme="never"))
    with pytest.raises(ExportError, match="never prepends .* collapses whitespace"):
        export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))
    assert not (tmp_path / "out").exists()


def test_verify_rechecks_tokenization_against_the_checkpoint(tmp_path: Path) -> None:
    from export.gguf.verify import verify_bundle

    src = llama_with(train_tokenizer(tmp_path / "tok", "llama-bpe"), tmp_path / "src")
    manifest = export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))
    assert verify_bundle(tmp_path / "out", manifest, None)["tokenizer_parity"]["mismatches"] == 0
    # the checkpoint's tokenizer drifts (its split becomes Qwen 2's): logits still agree, tokens do not
    edit_json(src / "tokenizer.json", lambda tj: tj["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(
        Regex=REGEX_OF["qwen2"]))
    report = verify_bundle(tmp_path / "out", manifest, None)
    assert report["max_abs_logit_diff"] <= 1e-4 and not report["passed"]
    assert report["tokenizer_parity"]["mismatches"] >= 1 and "1234567" in report["tokenizer_parity"]["examples"]
