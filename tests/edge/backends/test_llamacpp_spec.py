"""Speculative decoding on llama.cpp: same greedy tokens as plain decoding, valid constrained output.
The default `auto` drafts where batched rows are one-token rows (the set-up's attention patch, flash
attention on); `on` drafts everywhere, up to near-ties (edge/backends/llamacpp_spec.py)."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from edge import Engine
from edge.backends.llamacpp_build import batch_invariant_attention, q4_1_gemm
from edge.options import RuntimeOptions
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (fixture used by tiny_models)
from tests.export.gguf.conftest import tiny_models  # noqa: F401

TEXT = ("Edge devices run small language models locally. This keeps private data on the phone, "
        "answers without a network, and costs nothing per request.")
PROMPTS = {
    "rewrite": [{"role": "user", "content": f"Repeat the following text word for word:\n{TEXT}"}],
    "story": "Once upon a time, in a small village by the sea,",
    "list": [{"role": "user", "content": "List three fruits, one per line."}],
    # a cycle repeated eight times: any build continues it, so drafts from the text are accepted
    "repeat": "red, green, blue, yellow, " * 8 + "red,",
}
NEAR_TIE = 0.05  # logits this close may swap order between llama.cpp's batched and 1-token kernels
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def _engines(model: str, **kw) -> tuple[Engine, Engine]:
    opts = RuntimeOptions(n_threads=1, **kw)
    return Engine.load(model, options=opts.with_(speculative="off")), Engine.load(model, options=opts.with_(speculative="on"))


@pytest.fixture(scope="module")
def pair():
    plain, spec = _engines("default")
    yield plain, spec
    plain.close()
    spec.close()


def _assert_same_or_near_tie(plain: Engine, prompt_ids: list[int], a: list[int], b: list[int]) -> int:
    """0 when identical; 1 when they part at a near-tie of the plain logits (checked), else fail."""
    if a == b:
        return 0
    i = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    assert i < min(len(a), len(b)), "one output is a prefix of the other"
    logits = plain.next_token_logits(prompt_ids + a[:i])
    gap = abs(float(logits[a[i]]) - float(logits[b[i]]))
    assert gap < NEAR_TIE and int(np.argmax(logits)) in (a[i], b[i]), f"outputs part at token {i}, logit gap {gap}"
    return 1


@pytest.mark.parametrize("name", list(PROMPTS))
def test_greedy_tokens_are_identical_with_speculation(pair, name: str) -> None:
    plain, spec = pair
    ids = plain.tokenize(PROMPTS[name])
    a = _fresh(plain, ids, max_tokens=40, temperature=0.0)
    b = _fresh(spec, ids, max_tokens=40, temperature=0.0)
    assert a.speculation is None and b.speculation is not None
    # every token was verified or decoded in a plain stretch (+ the token sampled after the prompt)
    assert b.speculation.emitted + b.speculation.handed_off + 1 >= b.completion_tokens
    assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) == 0 or name != "rewrite"
    if name == "repeat":  # (whether the model copies the rewrite text depends on the build's last bits)
        assert b.speculation.accepted > 0 and b.speculation.tokens_per_step > 1.0


def _fresh(engine: Engine, ids: list[int], **kw):
    """Generate from an empty cache: llama.cpp's logits depend (in the last bits) on how the KV cache
    was filled, so both sides of a comparison start from the same state."""
    engine.next_token_logits([1 if ids[0] == 0 else 0])  # no common prefix: the cache is reset
    return engine.generate(ids, **kw)


def test_cache_bookkeeping_matches_plain_decoding_across_requests(pair) -> None:
    """Rolled-back drafts leave the binding's token list and KV cache as plain decoding leaves them."""
    plain, spec = pair
    ids = plain.tokenize(PROMPTS["rewrite"])
    outs = []
    for engine in (plain, spec):
        _fresh(engine, ids, max_tokens=24, temperature=0.0)
        engine.generate(PROMPTS["list"], max_tokens=12, temperature=0.0)  # shares the system prompt
        outs.append(engine.generate(ids, max_tokens=24, temperature=0.0).token_ids)
    assert _assert_same_or_near_tie(plain, ids, *outs) == 0


def test_json_schema_output_stays_valid(pair) -> None:
    _, spec = pair
    prompt = [{"role": "user", "content": "Give a person called Ada, aged 36, as JSON with name and age."}]
    for temperature, seed in ((0.0, None), (0.8, 7)):
        r = spec.generate(prompt, max_tokens=48, temperature=temperature, seed=seed, json_schema=SCHEMA)
        assert r.finish_reason == "stop", r.text
        jsonschema.validate(json.loads(r.text), SCHEMA)
        assert (r.speculation is not None) == (seed is None)  # a seeded draw runs in llama.cpp's loop


def test_greedy_constrained_output_is_the_same_with_speculation_off(pair) -> None:
    """Both run the grammar as edge.constrain's token matcher (off: a logits processor in llama.cpp's
    own loop), so the tokens agree; a sampled constrained answer off stays valid (llama.cpp's grammar)."""
    plain, spec = pair
    prompt = [{"role": "user", "content": "Give a person called Ada, aged 36, as JSON with name and age."}]
    ids = plain.tokenize(prompt)
    a = _fresh(plain, ids, max_tokens=48, temperature=0.0, json_schema=SCHEMA)
    b = _fresh(spec, ids, max_tokens=48, temperature=0.0, json_schema=SCHEMA)
    assert a.speculation is None and a.finish_reason == "stop"
    jsonschema.validate(json.loads(a.text), SCHEMA)
    assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) <= 1
    hooked = plain.generate(ids, max_tokens=48, temperature=0.0, json_schema=SCHEMA,
                            logits_hook=lambda _ids, logits: logits)  # a hook and the matcher, in that order
    assert hooked.token_ids == a.token_ids
    sampled = plain.generate(ids, max_tokens=48, temperature=0.8, seed=5, json_schema=SCHEMA)
    jsonschema.validate(json.loads(sampled.text), SCHEMA)


def test_sampling_and_logprobs_run_through_the_speculative_loop(pair) -> None:
    plain, spec = pair
    ids = plain.tokenize(PROMPTS["rewrite"])
    r = _fresh(spec, ids, max_tokens=16, temperature=0.0, logprobs=1)
    ref = _fresh(plain, ids, max_tokens=16, temperature=0.0, logprobs=1)
    n = next((i for i, (x, y) in enumerate(zip(r.token_ids, ref.token_ids, strict=False)) if x != y), len(r.token_ids))
    got = [lp.logprob for lp in r.logprobs[:n]]
    want = [lp.logprob for lp in ref.logprobs[:n]]
    assert n > 0 and np.allclose(got, want, atol=0.05)  # the row each token was drawn from
    s = spec.generate(ids, max_tokens=16, temperature=0.9)  # unseeded: speculative sampling
    assert s.completion_tokens > 0 and s.speculation.steps > 0


def test_a_logits_hook_decodes_plainly(pair) -> None:
    _, spec = pair
    r = spec.generate("Hello", max_tokens=4, temperature=0.0, logits_hook=lambda ids, logits: logits)
    assert r.speculation is None


def test_tiny_random_gguf_is_identical_with_speculation(tiny_models, tmp_path) -> None:  # noqa: F811
    from export.gguf.convert import ExportOptions, export_gguf

    out = tmp_path / "tiny-llama"
    export_gguf(tiny_models.get("LlamaForCausalLM"), out, ExportOptions(quant="f32"))
    plain, spec = _engines(str(out), n_ctx=128, kv_type="f32")
    try:
        ids = plain.encode("the cat sat on the mat and the cat sat on the mat and the cat")
        a = plain.generate(ids, max_tokens=48, temperature=0.0, ignore_eos=True)
        b = spec.generate(ids, max_tokens=48, temperature=0.0, ignore_eos=True)
        assert _assert_same_or_near_tie(plain, ids, a.token_ids, b.token_ids) == 0
        assert b.speculation.drafted > 0
    finally:
        plain.close()
        spec.close()


@pytest.mark.parametrize("n_batch", [1, 3])
def test_small_n_batch_keeps_drafts_within_one_decode(n_batch: int) -> None:
    """llama.cpp aborts the whole process on a batch larger than n_batch: drafts must fit in it (or,
    at n_batch 1, speculation is off). Run in a child, so a regression fails here, not the suite."""
    import subprocess
    import sys

    code = ("from edge import Engine, RuntimeOptions\n"
            f"e = Engine.load('default', options=RuntimeOptions(n_threads=1, n_batch={n_batch}, speculative='on'))\n"
            f"r = e.generate({PROMPTS['repeat']!r}, max_tokens=24, temperature=0.0)\n"
            "s = r.speculation\n"
            "print(r.completion_tokens, -1 if s is None else s.accepted)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    tokens, accepted = map(int, p.stdout.split()[-2:])
    assert tokens == 24
    assert accepted == -1 if n_batch == 1 else accepted > 0


def test_auto_drafts_only_where_batched_rows_are_one_token_rows() -> None:
    exact = batch_invariant_attention()
    for mode, flash_attn, drafts in [("auto", True, exact), ("auto", False, False), ("on", True, True),
                                     ("ngram", False, True), ("recycle", True, True), ("off", True, False)]:
        opts = RuntimeOptions(n_threads=1, speculative=mode, flash_attn=flash_attn)
        with Engine.load("default", options=opts) as e:
            r = e.generate(PROMPTS["repeat"], max_tokens=8, temperature=0.0)
            assert (r.speculation is not None) == drafts, (mode, flash_attn)


@pytest.fixture(scope="module")
def q4_k_m(tmp_path_factory, default_gguf):
    """The packaged model requantized by llama.cpp to Q4_K_M (its 576-wide rows fall back to Q5_0,
    with Q4_K/Q6_K where they fit): types ggml multiplies in batches with other kernels than one row."""
    import ctypes

    import llama_cpp

    out = tmp_path_factory.mktemp("requant") / "smollm2-q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, True, 2
    assert llama_cpp.llama_model_quantize(str(default_gguf).encode(), str(out).encode(), ctypes.byref(params)) == 0
    return out


def _batched_rows_are_one_token_rows(path) -> bool:
    """Measured through llama-cpp-python's own eval, apart from edgesplit's probe: 9 tokens in one
    pass after 8 cached ones, against the same 9 one at a time."""
    import llama_cpp

    kw = dict(n_ctx=128, n_threads=1, flash_attn=True, logits_all=True, verbose=False)
    batched, single = llama_cpp.Llama(str(path), **kw), llama_cpp.Llama(str(path), **kw)
    ids = batched.tokenize(TEXT.encode())[:17]
    batched.eval(ids[:8])
    batched.eval(ids[8:])
    single.eval(ids[:8])
    for t in ids[8:]:
        single.eval([t])
    return np.array_equal(np.asarray(batched.scores[8:17]), np.asarray(single.scores[8:17]))


@pytest.mark.parametrize("which", ["default", "q4_k_m"])
def test_auto_drafts_on_a_model_only_where_its_batched_rows_are_its_one_token_rows(
        which, default_gguf, q4_k_m) -> None:
    """The attention patch is not enough: a K-quant or Q5_0 model's batched matmuls part from its
    one-token ones (up to ~0.9 logits for this Q4_K_M), so `auto` checks each model it loads."""
    path = default_gguf if which == "default" else q4_k_m
    same = _batched_rows_are_one_token_rows(path)
    with Engine.load(str(path), options=RuntimeOptions(n_threads=1)) as e:
        assert e.options.speculative == "auto"
        r = e.generate(PROMPTS["repeat"], max_tokens=8, temperature=0.0)
    assert (r.speculation is not None) == (same and batch_invariant_attention()), (which, same)
    with Engine.load(str(path), options=RuntimeOptions(n_threads=1, speculative="on")) as e:
        assert e.generate(PROMPTS["repeat"], max_tokens=8, temperature=0.0).speculation is not None


def test_a_models_verdict_is_measured_once_and_kept_on_disk(default_gguf, _isolated_home, monkeypatch) -> None:
    import llama_cpp

    from edge.backends import llamacpp_spec

    llm = llama_cpp.Llama(str(default_gguf), n_ctx=128, n_threads=1, flash_attn=True, verbose=False)
    probes, probe = [], llamacpp_spec._probe
    monkeypatch.setattr(llamacpp_spec, "_probe", lambda m: probes.append(m) or probe(m))
    monkeypatch.setattr(llamacpp_spec, "_verdicts", {})
    verdict = llamacpp_spec.rows_match(llm, "a-key")
    assert llm.n_tokens == 0 and llm.eval([1]) is None  # left empty and usable
    assert llamacpp_spec.rows_match(llm, "a-key") == verdict and len(probes) == 1
    monkeypatch.setattr(llamacpp_spec, "_verdicts", {})  # another process: the disk remembers
    assert llamacpp_spec.rows_match(llm, "a-key") == verdict and len(probes) == 1
    assert [p.name for p in (_isolated_home / "cache" / "batch-rows").iterdir()] == \
        [f"a-key.{'same' if verdict else 'differ'}"]
    assert llamacpp_spec.rows_match(llm, "another-key") == verdict and len(probes) == 2


def test_the_verdicts_key_follows_the_model_file_the_options_and_a_rebuilt_library(
        default_gguf, tmp_path, monkeypatch) -> None:
    import os
    import shutil

    import llama_cpp

    from edge.backends.llamacpp import _rows_key
    from edge.backends.llamacpp_build import build_identity
    from edge.models import resolve

    ref, opts = resolve(str(default_gguf)), RuntimeOptions(n_threads=1)
    key = _rows_key(ref, opts)
    assert _rows_key(ref, opts) == key
    assert _rows_key(ref, opts.with_(n_threads=2)) != key
    assert _rows_key(ref, opts.with_(kv_type="q8_0")) != key
    libs = tmp_path / "lib"
    shutil.copytree(os.path.join(os.path.dirname(llama_cpp.__file__), "lib"), libs)
    try:  # the build's identity is read once per process: each step below is another process
        monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(libs))
        build_identity.cache_clear()
        copied = _rows_key(ref, opts)
        so = next(libs.glob("libggml-cpu.so*"))
        os.utime(so, ns=(so.stat().st_atime_ns, so.stat().st_mtime_ns + 10**9))  # a rebuilt kernel
        build_identity.cache_clear()
        assert len({key, copied, _rows_key(ref, opts)}) == 3
    finally:
        monkeypatch.delenv("LLAMA_CPP_LIB_PATH")
        build_identity.cache_clear()


def test_the_set_up_builds_batch_invariant_attention() -> None:
    """scripts/setup.sh patches llama.cpp; a build without the patch would make `auto` decode plainly."""
    assert batch_invariant_attention(), "llama-cpp-python was not built by scripts/setup.sh (patch missing)"


def test_the_set_up_builds_the_batched_q4_1_kernel_where_there_is_avx2() -> None:
    """scripts/setup.sh patches llama.cpp; without the kernel a verifier pass of the default model (Q4_1)
    costs a third more and `auto` drafts less often (bench/verify_cost.py)."""
    import llama_cpp

    if "AVX2 = 1" not in llama_cpp.llama_print_system_info().decode():
        pytest.skip("this llama.cpp has no AVX2 (an aarch64 or a lower-SIMD build): the kernel is x86 AVX2 code")
    assert q4_1_gemm(), "llama-cpp-python was not built by scripts/setup.sh (ggml-q4_1-gemm.patch missing)"


MANUAL = " ".join(f"Step {i}: turn the {w} dial of unit {i} to {i % 7 + 1} and wait {i % 5 + 2} seconds." for i, w in
                  enumerate(["left", "right", "blue", "red", "small", "large"] * 6))


@pytest.mark.slow
def test_auto_is_plain_decoding_past_512_cached_tokens_at_two_threads() -> None:
    """Where a stock llama.cpp's one-token attention sums in another order than a batch's (2 threads,
    over 512 cached positions, flash attention on), `auto` still writes plain decoding's tokens."""
    prompt = [{"role": "user", "content": f"{MANUAL}\nCopy steps 30 to 35 word for word."}]
    plain, auto = (Engine.load("default", options=RuntimeOptions(n_threads=2, speculative=m)) for m in ("off", "auto"))
    with plain, auto:
        ids = plain.tokenize(prompt)
        assert len(ids) > 600
        a = _fresh(plain, ids, max_tokens=64, temperature=0.0)
        b = _fresh(auto, ids, max_tokens=64, temperature=0.0)
        assert b.speculation is not None and b.speculation.drafted > 0  # rows of batched passes were used
        assert a.token_ids == b.token_ids
