"""One contract for every backend, through the Engine's public surface only.

The same tests run on llama.cpp (the packaged default model, and a tiny T5 GGUF) and on ONNX
Runtime (tiny fp32, int4 and T5 bundles): stream == generate, stop strings, seeds, schema output,
logprobs, the per-step logits hook, tokenization round trip, context overflow, close and reload.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge import Engine
from edge.errors import ContextOverflowError, InvalidRequestError
from edge.options import RuntimeOptions
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (session fixtures shared with export tests)
from tests.export.onnx.conftest import tiny_bundle, tiny_checkpoint  # noqa: F401

pytest.importorskip("llama_cpp")
pytest.importorskip("onnxruntime")

N_CTX = 256
OPTIONS = RuntimeOptions(n_ctx=N_CTX, n_threads=2, kv_type="f32", flash_attn=False)
PROMPT = "The quick brown fox jumps over the lazy dog. Then"
SCHEMA = {"type": "object", "properties": {"pick": {"enum": ["red", "green", "blue"]}, "ok": {"type": "boolean"}},
          "required": ["pick", "ok"], "additionalProperties": False}


def _t5_gguf(root: Path) -> Path:
    import sentencepiece as spm

    from export.gguf.convert import ExportOptions, export_gguf
    from tests.export.gguf.conftest import _t5, save_checkpoint, train_unigram_spm

    tok = train_unigram_spm(root / "spm")
    n = spm.SentencePieceProcessor(model_file=str(tok / "spiece.model")).get_piece_size()
    ckpt = save_checkpoint(_t5(n, initializer_factor=3.0), root / "ckpt", tok, seed=1)  # default init emits only <pad>
    export_gguf(ckpt, root / "bundle", ExportOptions(quant="f32"))
    return root / "bundle"


# backend id -> how to get its model reference (built lazily, once per session where shared)
MODELS: dict[str, Callable] = {
    "llamacpp-decoder": lambda tmp, bundle: "default",
    "llamacpp-t5": lambda tmp, bundle: str(_t5_gguf(tmp.mktemp("t5-gguf"))),
    "onnx-fp32": lambda tmp, bundle: str(bundle("llama")),
    "onnx-int4": lambda tmp, bundle: str(bundle("llama", "int4")),
    "onnx-t5": lambda tmp, bundle: str(bundle("t5")),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(kind: str, tmp_path_factory, tiny_bundle) -> str:  # noqa: F811
    return MODELS[kind](tmp_path_factory, tiny_bundle)


@pytest.fixture(scope="module")
def engine(model: str):
    with Engine.load(model, options=OPTIONS) as eng:
        yield eng


def _greedy(engine: Engine, **kw):
    return engine.generate(PROMPT, temperature=0.0, max_tokens=kw.pop("max_tokens", 12), **kw)


def test_backend_is_chosen_by_the_registry(engine: Engine, kind: str) -> None:
    assert engine.backend_name == ("llamacpp" if kind.startswith("llamacpp") else "onnxruntime")
    assert engine.info.encoder_decoder == kind.endswith("t5")
    assert not hasattr(engine, "backend")  # consumers use the Engine's methods, never the backend object


def test_stream_equals_generate(engine: Engine) -> None:
    whole = _greedy(engine)
    chunks = list(engine.stream(PROMPT, temperature=0.0, max_tokens=12))
    assert "".join(c.text for c in chunks) == whole.text
    assert [t for c in chunks for t in c.token_ids] == whole.token_ids
    assert chunks[-1].result is not None and chunks[-1].result.token_ids == whole.token_ids


def test_stop_string_ends_the_answer_before_it(engine: Engine) -> None:
    text = _greedy(engine, max_tokens=16).text
    stop = next((text[i:i + 2] for i in range(1, len(text) - 1) if text[i:i + 2].strip()), None)
    if stop is None:
        pytest.skip(f"the greedy answer {text!r} has no two-character piece to stop at")
    got = engine.generate(PROMPT, temperature=0.0, max_tokens=16, stop=[stop])
    assert got.finish_reason == "stop" and got.text == text[: text.index(stop)]


def test_seed_reproduces_sampling(engine: Engine) -> None:
    a = engine.generate(PROMPT, temperature=0.9, top_k=0, max_tokens=10, seed=7)
    b = engine.generate(PROMPT, temperature=0.9, top_k=0, max_tokens=10, seed=7)
    assert a.token_ids == b.token_ids


def test_schema_output_is_valid(engine: Engine) -> None:
    got = engine.generate("Answer in JSON:", json_schema=SCHEMA, temperature=0.0, max_tokens=60)
    assert got.finish_reason == "stop", got.text
    jsonschema.validate(json.loads(got.text), SCHEMA)


def test_logprobs_are_the_models_distribution(engine: Engine) -> None:
    got = engine.generate(PROMPT, temperature=0.0, max_tokens=4, logprobs=3)
    assert got.logprobs is not None and len(got.logprobs) == len(got.token_ids)
    first = got.logprobs[0]
    assert len(first.top) == 3 and first.top[0][0] == first.token_id  # greedy took the most likely token
    assert [v for _, _, v in first.top] == sorted((v for _, _, v in first.top), reverse=True)
    ref = dict(engine.next_token_logprobs(PROMPT, top_k=3))
    assert abs(ref[first.token_id] - first.logprob) < 1e-3


def test_logits_hook_sees_every_step_and_steers_sampling(engine: Engine) -> None:
    plain = _greedy(engine, max_tokens=6)
    seen: list[list[int]] = []

    def ban_first(generated: list[int], logits: np.ndarray) -> np.ndarray:
        seen.append(list(generated))
        if not generated:
            logits[plain.token_ids[0]] = -np.inf
        return logits

    steered = _greedy(engine, max_tokens=6, logits_hook=ban_first)
    assert steered.token_ids[0] != plain.token_ids[0]
    assert seen[0] == [] and all(seen[i] == steered.token_ids[:i] for i in range(len(steered.token_ids)))


def test_a_forcing_hook_with_ignore_eos_gives_exactly_max_tokens(engine: Engine) -> None:
    forced = engine.encode("a")[-1] if not engine.info.encoder_decoder else engine.encode("a")[0]

    def force(generated: list[int], logits: np.ndarray) -> np.ndarray:
        out = np.full_like(logits, -np.inf)
        out[forced] = 0.0
        return out

    got = _greedy(engine, max_tokens=5, logits_hook=force, ignore_eos=True)
    assert got.token_ids == [forced] * 5 and got.finish_reason == "length"


def test_next_token_logits_agree_with_the_first_generated_token(engine: Engine) -> None:
    logits = engine.next_token_logits(PROMPT)
    assert logits.shape == (engine.n_vocab,) and np.isfinite(logits).all()
    first = _greedy(engine, max_tokens=1).token_ids[0]
    assert logits[first] >= logits.max() - 1e-3  # the same token, or a near-tie between two kernels


def test_text_round_trips_through_token_ids(engine: Engine) -> None:
    from tests.export.conftest import CORPUS

    text = CORPUS[0]  # the tiny sentencepiece vocabularies have no byte fallback: only seen characters
    ids = engine.encode(text)
    assert ids and all(0 <= i < engine.n_vocab for i in ids)
    assert engine.decode(ids).strip() == text


def test_token_ids_are_a_prompt_too(engine: Engine) -> None:
    ids = engine.tokenize(PROMPT)
    assert engine.generate(ids, temperature=0.0, max_tokens=6).token_ids == _greedy(engine, max_tokens=6).token_ids
    with pytest.raises(InvalidRequestError, match="outside the vocabulary"):
        engine.generate([engine.n_vocab + 5], max_tokens=2)


def test_context_overflow_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(ContextOverflowError, match="context holds"):
        engine.generate("fox jumps " * N_CTX, max_tokens=4)


def test_close_and_reload_answer_the_same(engine: Engine, model: str) -> None:
    want = _greedy(engine, max_tokens=6).token_ids
    for _ in range(2):
        again = Engine.load(model, options=OPTIONS)
        assert _greedy(again, max_tokens=6).token_ids == want
        again.close()
