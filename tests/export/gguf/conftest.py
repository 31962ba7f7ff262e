"""Tiny random checkpoints, one per registered GGUF architecture, made locally (no hub)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.export.conftest import CORPUS

COMMON = {"vocab_size": 512, "max_position_embeddings": 128, "num_hidden_layers": 2, "hidden_size": 64,
          "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
          "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


def _llama(**kw: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(**{**COMMON, "tie_word_embeddings": False, **kw})


def _mistral() -> Any:
    from transformers import MistralConfig

    return MistralConfig(**COMMON, sliding_window=None)


def _qwen2() -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(**COMMON, tie_word_embeddings=True)


def _phi3() -> Any:
    from transformers import Phi3Config

    return Phi3Config(**COMMON)


def _gemma() -> Any:
    from transformers import GemmaConfig

    return GemmaConfig(**{**COMMON, "num_key_value_heads": 1}, head_dim=16)


def _gemma3() -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(**COMMON, head_dim=16, query_pre_attn_scalar=16, sliding_window=64)


def _bitnet() -> Any:
    from transformers import BitNetConfig

    return BitNetConfig(**COMMON, hidden_act="silu", tie_word_embeddings=True)


def _t5(vocab_size: int, initializer_factor: float = 1.0) -> Any:
    from transformers import T5Config

    return T5Config(vocab_size=vocab_size, d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2,
                    feed_forward_proj="relu", decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                    initializer_factor=initializer_factor)


# HF architecture -> config factory; the completeness test checks this covers the registry
TINY: dict[str, Callable[[], Any]] = {
    "LlamaForCausalLM": _llama, "MistralForCausalLM": _mistral, "Qwen2ForCausalLM": _qwen2,
    "Phi3ForCausalLM": _phi3, "GemmaForCausalLM": _gemma, "Gemma3ForCausalLM": _gemma3,
    "BitNetForCausalLM": _bitnet, "BitnetForCausalLM": _bitnet, "T5ForConditionalGeneration": _t5,
}
OLD_BITNET = {".self_attn.attn_sub_norm.": ".self_attn.inner_attn_ln.", ".mlp.ffn_sub_norm.": ".mlp.ffn_layernorm."}


def save_checkpoint(config: Any, out: Path, tokenizer_dir: Path, seed: int = 0,
                    rename: dict[str, str] | None = None, arch: str | None = None) -> Path:
    """A random model of `config` saved as safetensors + config.json + the tokenizer files."""
    import shutil

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    torch.manual_seed(seed)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = auto.from_config(config, dtype=torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for f in tokenizer_dir.iterdir():
        shutil.copy(f, out / f.name)
    if rename or arch:
        _rewrite(out, rename or {}, arch, save_file)
    return out


def _rewrite(out: Path, rename: dict[str, str], arch: str | None, save_file: Callable[..., None]) -> None:
    from safetensors.torch import load_file

    state = load_file(str(out / "model.safetensors"))
    for old, new in rename.items():
        state = {k.replace(old, new): v for k, v in state.items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    if arch:
        cfg = json.loads((out / "config.json").read_text())
        cfg.update(architectures=[arch], model_type="llama")  # as the 1bitLLM release ships it
        (out / "config.json").write_text(json.dumps(cfg))


def train_unigram_spm(out: Path) -> Path:
    """A Unigram sentencepiece model with T5's special ids, saved as a T5 tokenizer directory."""
    import io

    import sentencepiece as spm
    from transformers import T5Tokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=buf, vocab_size=160,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spiece.model").write_bytes(buf.getvalue())
    # legacy, as released T5 tokenizers: "▁" after a special token too, as llama.cpp's T5 tokenizer does
    T5Tokenizer(vocab_file=str(out / "spiece.model"), extra_ids=0, legacy=True).save_pretrained(out)
    return out


class TinyModels:
    """Builds each tiny checkpoint on first use and caches it for the session."""

    def __init__(self, root: Path, bpe_dir: Path) -> None:
        self.root, self.bpe_dir = root, bpe_dir
        self._cache: dict[str, Path] = {}

    def spm_dir(self) -> Path:
        if "spm" not in self._cache:
            self._cache["spm"] = train_unigram_spm(self.root / "spm")
        return self._cache["spm"]

    def get(self, arch: str) -> Path:
        if arch not in self._cache:
            self._cache[arch] = self._build(arch)
        return self._cache[arch]

    def _build(self, arch: str) -> Path:
        out = self.root / arch
        if arch == "T5ForConditionalGeneration":
            import sentencepiece as spm

            n = spm.SentencePieceProcessor(model_file=str(self.spm_dir() / "spiece.model")).get_piece_size()
            return save_checkpoint(_t5(n), out, self.spm_dir())
        if arch == "BitnetForCausalLM":
            return save_checkpoint(_bitnet(), out, self.bpe_dir, rename=OLD_BITNET, arch=arch)
        return save_checkpoint(TINY[arch](), out, self.bpe_dir)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("tiny-gguf-models"), tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def ternary_llama(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> Path:
    """A Llama whose linear rows are multiples of 256 (TQ/K types apply to every linear layer)."""
    cfg = _llama(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=4)
    return save_checkpoint(cfg, tmp_path_factory.mktemp("llama256") / "ckpt", tiny_tokenizer_dir)


def dequantize_default_model(out: Path) -> Path:
    """The default SmolLM2 GGUF, dequantized through transformers and saved as a checkpoint.

    Fixes the GGUF-derived tokenizer as FINDINGS.md describes: no BOS, `<|im_end|>` as EOS,
    no copy of the GGUF as tokenizer.model.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edge.gguf_meta import read_gguf_meta
    from edge.models import default_model_path

    path = default_model_path()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    tok.add_bos_token = False
    tok.eos_token = "<|im_end|>"
    tok.chat_template = tok.chat_template or read_gguf_meta(path).chat_template
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "tokenizer.model").unlink(missing_ok=True)
    return out


@pytest.fixture(scope="session")
def smollm2_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SmolLM2 re-exported as q8_0 and q4_k_m (once per session: it takes about a minute)."""
    from export.gguf.convert import ExportOptions, export_gguf

    root = tmp_path_factory.mktemp("smollm2")
    src = dequantize_default_model(root / "ckpt")
    out = {}
    for quant in ("q8_0", "q4_k_m"):
        out[quant] = root / quant
        export_gguf(src, out[quant], ExportOptions(quant=quant))
    return out
