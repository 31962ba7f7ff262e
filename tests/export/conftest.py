"""Shared export fixtures: a locally trained tokenizer (no hub) for every tiny model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Small language models run on laptops, phones and a Raspberry Pi.",
    "Privacy matters: personal context stays on the device.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    '{"name": "Ada", "age": 36, "tags": ["math", "engines"]}',
] * 20

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# what export.progress prints when a stage ends: "[2/5] trace     [####################]    1.3s"
STAGE_LINE = re.compile(r"^\[(\d)/5\] (\w+) +\[#{20}\] +\d+\.\ds$")


def stage_names(stderr: str) -> list[str]:
    """The stage names on a CLI's stderr; fails when anything else is there."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    bad = [line for line in lines if not STAGE_LINE.match(line)]
    assert not bad, f"non-stage lines on stderr: {bad[:5]}"
    return [STAGE_LINE.match(line).group(2) for line in lines]


def train_bpe_tokenizer(out: Path, vocab_size: int = 512, corpus: list[str] | None = None) -> Path:
    """Train a byte-level BPE tokenizer on `corpus` (default CORPUS) and save it as a transformers tokenizer in `out`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS if corpus is None else corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A 512-token byte-level BPE tokenizer directory (tokenizer.json + config), trained locally."""
    return train_bpe_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer"))
