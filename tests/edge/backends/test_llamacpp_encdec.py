"""T5 GGUFs on the llama.cpp backend: encode once, decode from the start token, rescaled logits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("transformers")

from edge import Engine  # noqa: E402
from edge.options import RuntimeOptions  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny random T5 checkpoint (Unigram sentencepiece) and its f32 GGUF bundle."""
    import sentencepiece as spm

    from export.gguf.convert import ExportOptions, export_gguf
    from tests.export.gguf.conftest import _t5, save_checkpoint, train_unigram_spm

    root = tmp_path_factory.mktemp("t5")
    tok = train_unigram_spm(root / "spm")
    n = spm.SentencePieceProcessor(model_file=str(tok / "spiece.model")).get_piece_size()
    # at the default init scale a random T5 greedily emits only <pad>
    ckpt = save_checkpoint(_t5(n, initializer_factor=3.0), root / "ckpt", tok, seed=1)
    export_gguf(ckpt, root / "bundle", ExportOptions(quant="f32"))
    return ckpt, root / "bundle"


@pytest.fixture(scope="module")
def engine(t5: tuple[Path, Path]) -> Engine:
    return Engine.load(str(t5[1]), options=RuntimeOptions(n_ctx=128, n_threads=1, kv_type="f32", flash_attn=False))


def test_capabilities(engine: Engine) -> None:
    assert engine.capabilities.encoder_decoder and engine.info.encoder_decoder


def test_tokenization_matches_transformers(engine: Engine, t5: tuple[Path, Path]) -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(t5[0]))
    assert engine.tokenize(PROMPT) == hf(PROMPT)["input_ids"]


def test_greedy_tokens_match_transformers(engine: Engine, t5: tuple[Path, Path]) -> None:
    """Every token llama.cpp picks greedily is HF's argmax on the same path, up to a near-tie.

    A random T5 has near-tied logits, and llama.cpp's last bits differ between SIMD levels: the
    check runs HF teacher-forced along llama.cpp's own path instead of demanding one exact path.
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(str(t5[0]), dtype=torch.float32).eval()
    ids = engine.tokenize(PROMPT)
    got = engine.generate(PROMPT, max_tokens=12, temperature=0, stop=()).token_ids
    assert len(got) >= 6 and len(set(got)) > 3  # one token over and over would prove little
    dec = torch.tensor([[model.config.decoder_start_token_id, *got[:-1]]])
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids]), decoder_input_ids=dec).logits[0].numpy()
    margin = 1e-5 * np.abs(hf).max()
    for t, tok in enumerate(got):
        assert hf[t, tok] >= hf[t].max() - margin, (t, tok, int(hf[t].argmax()))


def test_streaming_yields_the_same_tokens(engine: Engine) -> None:
    chunks = list(engine.stream(PROMPT, max_tokens=6, temperature=0))
    assert chunks[-1].result is not None
    assert chunks[-1].result.token_ids == engine.generate(PROMPT, max_tokens=6, temperature=0).token_ids


def test_tied_logits_are_rescaled_to_hf(engine: Engine, t5: tuple[Path, Path]) -> None:
    """llama.cpp's tied T5 logits are sqrt(d_model) x HF's; the backend divides them back."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(str(t5[0]), dtype=torch.float32).eval()
    ids = engine.tokenize(PROMPT)
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([[0]])).logits[0, -1].numpy()
    ours = engine.next_token_logits(ids)
    assert np.max(np.abs(ours - hf)) <= 1e-5 * np.max(np.abs(hf))  # logits reach ~20 at this init scale
    assert not np.allclose(ours * math.sqrt(model.config.d_model), hf, atol=1e-3)


def test_sampling_is_seeded(engine: Engine) -> None:
    a = engine.generate(PROMPT, max_tokens=8, temperature=1.0, top_k=0, top_p=1.0, seed=7)
    b = engine.generate(PROMPT, max_tokens=8, temperature=1.0, top_k=0, top_p=1.0, seed=7)
    assert a.token_ids == b.token_ids


SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 20}},
          "required": ["name", "age"], "additionalProperties": False}


@pytest.mark.parametrize("seed", range(5))
def test_json_schema_is_enforced(engine: Engine, seed: int) -> None:
    """A random T5 left alone writes noise; through the matcher every sample is valid JSON of the schema."""
    import json

    import jsonschema

    result = engine.generate(PROMPT, max_tokens=80, temperature=1.0, seed=seed, json_schema=SCHEMA)
    assert result.finish_reason == "stop", result.text
    jsonschema.validate(json.loads(result.text), SCHEMA)


def test_unconstrained_output_is_not_json(engine: Engine) -> None:
    """The control for the test above: without the schema the same model does not write the object."""
    import json

    text = engine.generate(PROMPT, max_tokens=40, temperature=1.0, seed=0).text
    with pytest.raises(ValueError):
        json.loads(text)


def test_a_schema_the_vocabulary_cannot_write_is_a_clear_error(engine: Engine) -> None:
    from edge.errors import InvalidRequestError

    # "Z" never occurs in the tokenizer's training corpus, so no piece can spell the enum value
    with pytest.raises(InvalidRequestError, match="cannot write this JSON schema"):
        engine.generate(PROMPT, max_tokens=20, temperature=0, json_schema={"enum": ["Zq"]})


def test_each_prompt_gets_its_own_encoder_cache(engine: Engine, t5: tuple[Path, Path]) -> None:
    """The patched llama.cpp keeps cross-attention K/V per encode: a new prompt (of another length)
    must replace them, so the answers equal those of a fresh engine; the logits equal HF's."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    # the last two have the same tokens in another order: same length, so only a refresh tells them apart
    prompts = ["Paris is the capital of France; Berlin is the capital of Germany.", "Privacy matters.", PROMPT,
               "The lazy dog jumps over the quick brown fox."]
    assert sorted(engine.tokenize(prompts[2])) == sorted(engine.tokenize(prompts[3]))
    first = [engine.next_token_logits(engine.tokenize(p)) for p in prompts[2:]]
    assert not np.allclose(first[0], first[1], atol=1e-3)  # the two same-length prompts really differ
    warm = [engine.generate(p, max_tokens=8, temperature=0, stop=()).token_ids for p in prompts]
    for p, got in zip(prompts, warm, strict=True):
        fresh = Engine.load(str(t5[1]), options=RuntimeOptions(n_ctx=128, n_threads=1, kv_type="f32", flash_attn=False))
        with fresh:
            assert fresh.generate(p, max_tokens=8, temperature=0, stop=()).token_ids == got, p
    model = AutoModelForSeq2SeqLM.from_pretrained(str(t5[0]), dtype=torch.float32).eval()
    ids = engine.tokenize(prompts[1])
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([[0]])).logits[0, -1].numpy()
    assert np.max(np.abs(engine.next_token_logits(ids) - hf)) <= 1e-5 * np.max(np.abs(hf))
