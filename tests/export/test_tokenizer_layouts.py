"""Every common tokenizer layout on every export path tokenizes like its source.

Each layout is trained here with the `sentencepiece` trainer (byte fallback, control and
user-defined pieces) and wrapped by transformers' own converters, as the model families ship it:
Llama 2 / TinyLlama / Mistral (sentencepiece BPE, "▁" prefix), Gemma (no prefix), Phi-3 (Llama 2
pieces plus chat tokens that only tokenizer.json adds) and a Unigram model. The paths: GGUF from
the HF checkpoint, ONNX from the HF checkpoint and ONNX from that GGUF (llama.cpp is the reference).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.bundle import read_manifest, sha256_file, write_manifest
from edge.errors import ExportError
from export import gguf_tokenizer, tokparity
from export.gguf.convert import ExportOptions, export_gguf
from export.onnx.export import export_onnx
from tests.conftest import run_cli
from tests.export.conftest import CORPUS
from tests.export.gguf.conftest import TINY, save_checkpoint

TRAINING_TEXT = CORPUS + ["The capital of France is Paris.", "Numbers 1234567 and 3.14159; it's fine."] * 10
PROMPT = "The capital of France is"


def _llama_fast(model: Path, layout: Layout) -> Any:
    from transformers import LlamaTokenizerFast

    # legacy + add_prefix_space: the tokenizer.json that Llama 2 / TinyLlama / Mistral v0.1 publish
    return LlamaTokenizerFast(vocab_file=str(model), legacy=True, add_prefix_space=True)


def _gemma_fast(model: Path, layout: Layout) -> Any:
    from transformers import GemmaTokenizerFast

    return GemmaTokenizerFast(vocab_file=str(model))


def _phi3_fast(model: Path, layout: Layout) -> Any:
    tok = _llama_fast(model, layout)
    tok.add_special_tokens({"additional_special_tokens": ["<|assistant|>", "<|end|>"]})
    tok.add_tokens(["<|placeholder1|>"])  # a user-defined (non-special) added token
    return tok


@dataclass(frozen=True)
class Layout:
    arch: str  # HF architecture of the tiny model
    model_type: str  # sentencepiece trainer: bpe | unigram
    dummy_prefix: bool
    wrap: Callable[[Path, Layout], Any]
    gguf_model: str  # tokenizer.ggml.model the GGUF export writes
    names: tuple[str, str, str, str] = ("<unk>", "<s>", "</s>", "<pad>")  # unk, bos, eos, pad pieces
    ids: tuple[int, int, int, int] = (0, 1, 2, 3)  # their ids
    byte_fallback: bool = True


LAYOUTS = {
    "llama2": Layout("LlamaForCausalLM", "bpe", True, _llama_fast, "llama"),
    "mistral": Layout("MistralForCausalLM", "bpe", True, _llama_fast, "llama"),
    "gemma": Layout("Gemma3ForCausalLM", "bpe", False, _gemma_fast, "llama", ("<unk>", "<bos>", "<eos>", "<pad>"),
                    (3, 2, 1, 0)),  # Gemma's order: pad, eos, bos, unk
    "phi3": Layout("Phi3ForCausalLM", "bpe", True, _phi3_fast, "llama"),
    # Unigram as T5 / ALBERT-style models ship it: no byte fallback (llama.cpp's Unigram has none)
    "unigram": Layout("LlamaForCausalLM", "unigram", True, _llama_fast, "t5", byte_fallback=False),
    "unigram-bytes": Layout("LlamaForCausalLM", "unigram", True, _llama_fast, "t5"),
}
# GGUF -> ONNX needs transformers to read the GGUF's architecture; mistral's GGUF is a "llama" one
FROM_GGUF = ("llama2", "gemma", "phi3")


def train_layout(name: str, out: Path) -> Path:
    """A tokenizer.model trained with sentencepiece, plus the tokenizer.json transformers derives from it."""
    import sentencepiece as spm

    layout = LAYOUTS[name]
    unk, bos, eos, pad = layout.names
    unk_id, bos_id, eos_id, pad_id = layout.ids
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_TEXT), model_writer=buf, vocab_size=400, model_type=layout.model_type,
        byte_fallback=layout.byte_fallback, normalization_rule_name="identity", add_dummy_prefix=layout.dummy_prefix,
        remove_extra_whitespaces=False, split_digits=True, allow_whitespace_only_pieces=True,
        control_symbols=["<|im_start|>", "<|im_end|>"], user_defined_symbols=["<|user|>"],
        unk_id=unk_id, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, unk_piece=unk, bos_piece=bos, eos_piece=eos, pad_piece=pad,
        hard_vocab_limit=False, minloglevel=2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.model").write_bytes(buf.getvalue())
    layout.wrap(out / "tokenizer.model", layout).save_pretrained(out)
    return out


class Layouts:
    """Tokenizers, checkpoints and bundles per layout, built on first use for the session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[tuple[str, str], Path] = {}

    def _once(self, kind: str, name: str, make: Callable[[Path], Path]) -> Path:
        if (kind, name) not in self._cache:
            self._cache[kind, name] = make(self.root / kind / name)
        return self._cache[kind, name]

    def checkpoint(self, name: str) -> Path:
        def make(out: Path) -> Path:
            tok = train_layout(name, self.root / "tokenizer" / name)
            return save_checkpoint(TINY[LAYOUTS[name].arch](), out, tok)
        return self._once("ckpt", name, make)

    def gguf_bundle(self, name: str) -> Path:
        return self._once("gguf", name, lambda out: _export(export_gguf, self.checkpoint(name), out,
                                                             ExportOptions(quant="f32")))

    def gguf_file(self, name: str) -> Path:
        return self.gguf_bundle(name) / "model-f32.gguf"

    def onnx_from_gguf(self, name: str) -> Path:
        return self._once("onnx-gguf", name, lambda out: _export(export_onnx, self.gguf_file(name), out))

    def onnx_from_hf(self, name: str) -> Path:
        return self._once("onnx-hf", name, lambda out: _export(export_onnx, self.checkpoint(name), out))


def _export(fn: Callable[..., Any], src: Path, out: Path, *args: Any) -> Path:
    fn(src, out, *args)
    return out


@pytest.fixture(scope="session")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Layouts:
    return Layouts(tmp_path_factory.mktemp("tokenizer-layouts"))


def assert_same_on_random_text(reference: Any, candidate: Any, n: int = 150) -> None:
    with reference as (ref, _), candidate as (ours, _):
        result = tokparity.compare(ref, ours, tokparity.random_texts(n, seed=7), ("source", "bundle"))
    assert result.passed, result.describe()


def gguf_kv(path: Path, key: str) -> Any:
    from gguf import GGUFReader

    field = GGUFReader(path).fields.get(key)
    return field.contents() if field is not None else None


@pytest.mark.parametrize("name", sorted(set(LAYOUTS) - {"unigram-bytes"}))
def test_gguf_from_hf_tokenizes_like_the_checkpoint(name: str, layouts: Layouts) -> None:
    manifest = read_manifest(layouts.gguf_bundle(name))
    record = manifest.tokenizer_parity
    assert record.mismatches == 0 and record.n_texts > len(tokparity.PROBES)
    assert record.reference.startswith("transformers:") and record.candidate.startswith("llama.cpp:")
    assert gguf_kv(layouts.gguf_file(name), "tokenizer.ggml.model") == LAYOUTS[name].gguf_model
    assert_same_on_random_text(tokparity.transformers_side(layouts.checkpoint(name)),
                               tokparity.llama_cpp_side(layouts.gguf_file(name)))


def test_unigram_with_byte_fallback_is_refused_for_gguf(layouts: Layouts, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="Unigram sentencepiece model with byte fallback.*export onnx"):
        export_gguf(layouts.checkpoint("unigram-bytes"), tmp_path / "out", ExportOptions(quant="f32"))
    assert not (tmp_path / "out").exists()


def test_sentencepiece_tokenizer_json_without_its_model_says_what_to_copy(layouts: Layouts, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(layouts.checkpoint("llama2"), src)
    (src / "tokenizer.model").unlink()
    with pytest.raises(ExportError, match=r"sentencepiece tokenizer\): copy its sentencepiece model \(tokenizer.model\)"):
        export_gguf(src, tmp_path / "out", ExportOptions(quant="f32"))


def test_phi3_chat_tokens_from_tokenizer_json_reach_the_gguf(layouts: Layouts) -> None:
    from gguf import TokenType

    tokens = gguf_kv(layouts.gguf_file("phi3"), "tokenizer.ggml.tokens")
    types = gguf_kv(layouts.gguf_file("phi3"), "tokenizer.ggml.token_type")
    kinds = {t: types[tokens.index(t)] for t in ("<|assistant|>", "<|end|>", "<|placeholder1|>", "<|user|>")}
    assert kinds == {"<|assistant|>": TokenType.CONTROL, "<|end|>": TokenType.CONTROL,
                     "<|placeholder1|>": TokenType.USER_DEFINED, "<|user|>": TokenType.USER_DEFINED}


@pytest.mark.parametrize("name", FROM_GGUF)
def test_onnx_from_a_sentencepiece_gguf_tokenizes_like_llama_cpp(name: str, layouts: Layouts) -> None:
    bundle, gguf = layouts.onnx_from_gguf(name), layouts.gguf_file(name)
    manifest = read_manifest(bundle)
    record = manifest.tokenizer_parity
    assert record.mismatches == 0 and record.reference == f"llama.cpp:{gguf.name}"
    tokens = gguf_kv(gguf, "tokenizer.ggml.tokens")
    assert tokens.index("<|im_end|>") in manifest.runtime.eog_token_ids  # a control piece ends a turn
    assert manifest.runtime.add_bos is True  # as the GGUF says, so prompts start like llama.cpp's
    with tokparity.llama_cpp_side(gguf) as (llama, _), tokparity.tokenizer_json_side(bundle / "tokenizer.json") as (
            ours, _):
        assert ours(PROMPT) == llama(PROMPT)
    assert_same_on_random_text(tokparity.llama_cpp_side(gguf), tokparity.tokenizer_json_side(bundle / "tokenizer.json"))


@pytest.mark.parametrize("name", ["llama2", "gemma", "phi3", "unigram-bytes"])
def test_onnx_from_hf_tokenizes_like_the_checkpoint(name: str, layouts: Layouts) -> None:
    bundle = layouts.onnx_from_hf(name)
    assert read_manifest(bundle).tokenizer_parity.mismatches == 0
    assert_same_on_random_text(tokparity.transformers_side(layouts.checkpoint(name)),
                               tokparity.tokenizer_json_side(bundle / "tokenizer.json"))


def test_transformers_own_gguf_tokenizer_is_refused(layouts: Layouts, tmp_path: Path, monkeypatch) -> None:
    # without export.gguf_tokenizer a Gemma GGUF gets transformers' Unigram-over-BPE-scores tokenizer
    gguf = layouts.gguf_file("gemma")
    monkeypatch.setattr(gguf_tokenizer, "read_gguf_spm", lambda path: None)
    with pytest.raises(ExportError, match=r"splits \d+ of \d+ probe texts differently from the source's "
                                          r"\(llama.cpp:model-f32.gguf\)"):
        export_onnx(gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _drop_merge_used_by(bundle: Path, text: str) -> str:
    """Remove the tokenizer.json merge behind the longest piece of `text`; re-hash so only tokens differ."""
    path = bundle / "tokenizer.json"
    tj = json.loads(path.read_text())
    from tokenizers import Tokenizer

    piece = max(Tokenizer.from_file(str(path)).encode(text, add_special_tokens=False).tokens, key=len)
    merges = tj["model"]["merges"]
    tj["model"]["merges"] = [m for m in merges if "".join(m if isinstance(m, list) else m.split(" ")) != piece]
    assert len(tj["model"]["merges"]) < len(merges)
    path.write_text(json.dumps(tj))
    manifest = read_manifest(bundle)
    write_manifest(bundle, manifest.model_copy(update={"files": {**manifest.files, "tokenizer.json": sha256_file(path)}}))
    return piece


@pytest.mark.parametrize("path", ["onnx-gguf", "onnx-hf"])
def test_verify_fails_when_the_bundle_tokenizer_is_subtly_different(path: str, layouts: Layouts,
                                                                    tmp_path: Path) -> None:
    built = layouts.onnx_from_gguf("llama2") if path == "onnx-gguf" else layouts.onnx_from_hf("llama2")
    ok = run_cli("verify", str(built), "--json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    tokens = json.loads(ok.stdout)["tokenizer_parity"]
    assert tokens["passed"] and tokens["mismatches"] == 0 and tokens["remeasured"]
    bundle = tmp_path / "bundle"
    shutil.copytree(built, bundle)
    _drop_merge_used_by(bundle, PROMPT)
    bad = run_cli("verify", str(bundle), "--json")
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and report["hashes_ok"] and report["tokenizer_parity"]["passed"] is False
    assert report["passed"] is False
    assert report["tokenizer_parity"]["mismatches"] >= 1 and report["tokenizer_parity"]["remeasured"]


@pytest.mark.slow  # transformers reads the 49k-token GGUF vocabulary in Python (about a minute here)
def test_smollm2_gguf_to_onnx_keeps_digit_splitting(default_gguf: Path) -> None:
    # transformers' GGUF conversion drops SmolLM's Digits pre-tokenizer: "  0" became Ġ|Ġ|0
    from export.onnx.source import _gguf_tokenizer

    tok = _gguf_tokenizer(default_gguf)
    with tokparity.llama_cpp_side(default_gguf) as (llama, specials):
        result = tokparity.compare(llama, lambda t: list(tok.encode(t, add_special_tokens=False)),
                                   tokparity.probe_texts(specials) + ("lazy  0958", "  0"), ("llama.cpp", "bundle"))
    assert result.passed, result.describe()


def _swap_two_pieces(gguf: Path, text: str) -> None:
    """Swap the ids of a long piece of `text` and another piece of its byte length, in place."""
    from gguf import GGUFReader

    field = GGUFReader(gguf, "r+").fields["tokenizer.ggml.tokens"]
    pieces = [bytes(field.parts[i]) for i in field.data]
    with tokparity.llama_cpp_side(gguf) as (tokenize, _):
        ids = tokenize(text)
    pairs = ((a, b) for a in sorted(set(ids), key=lambda i: -len(pieces[i])) for b in range(len(pieces))
             if b != a and len(pieces[b]) == len(pieces[a]) and not pieces[b].startswith(b"<"))
    a, b = next(pairs)
    field.parts[field.data[a]][:], field.parts[field.data[b]][:] = list(pieces[b]), list(pieces[a])


def test_verify_fails_when_the_gguf_vocabulary_is_subtly_different(layouts: Layouts, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(layouts.gguf_bundle("llama2"), bundle)
    gguf = bundle / "model-f32.gguf"
    _swap_two_pieces(gguf, PROMPT)
    manifest = read_manifest(bundle)
    write_manifest(bundle, manifest.model_copy(update={"files": {**manifest.files, gguf.name: sha256_file(gguf)}}))
    bad = run_cli("verify", str(bundle), "--json")
    report = json.loads(bad.stdout.strip().splitlines()[-1])
    assert bad.returncode == 1 and report["hashes_ok"] and report["passed"] is False
    assert report["tokenizer_parity"]["mismatches"] >= 1 and report["max_abs_logit_diff"] <= 1e-4  # logits agree
