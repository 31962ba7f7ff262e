"""Decode-path parity of ONNX bundles: greedy through the runtime's KV cache against transformers generate."""

from __future__ import annotations

import numpy as np
import pytest

from edge.bundle import read_manifest
from edge.errors import ParityError
from export import decode
from export.onnx import get_arch
from export.onnx.verify import verify_bundle

from .tiny_configs import TINY

DECODER_ONLY = [n for n in sorted(TINY) if not get_arch({"model_type": n}).encoder_decoder]


def _torch_model(path):
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    return get_arch(config).auto_class().from_pretrained(path, dtype="float32").eval()


@pytest.mark.parametrize("name", sorted(TINY))
def test_manifest_records_decode_parity_of_every_architecture(name, tiny_bundle):
    manifest = read_manifest(tiny_bundle(name))
    entry = manifest.decode_parity
    assert entry.n_prompts >= 3 and entry.n_tokens >= 32 and entry.passed
    # the fp32 bound scales with the reference logits, the same one for both checks
    assert entry.agreement == 1.0 and entry.max_abs_logit_diff <= entry.tolerance == manifest.parity.tolerance
    assert entry.tolerance >= 2e-3
    assert decode.has_paths(tiny_bundle(name))


class _EngineStepper:
    """decode.compare's stepper over Engine.generate: a logits hook records each step's logits and
    forces the reference token, so the Engine's own KV-cache loop walks the reference path."""

    def __init__(self, engine, paths) -> None:
        self.engine, self.paths, self.rows = engine, {tuple(p.prompt): p for p in paths}, []

    def start(self, prompt):
        path, self.rows = self.paths[tuple(prompt)], []

        def force(generated, logits):
            self.rows.append(logits.copy())
            out = np.full_like(logits, -np.inf)
            out[path.tokens[len(generated)]] = 0.0
            return out

        self.engine.generate(list(prompt), temperature=0, max_tokens=len(path.tokens), ignore_eos=True,
                             logits_hook=force)
        self.rows.reverse()
        return self.rows.pop()

    def step(self, token):
        return self.rows.pop()


@pytest.mark.parametrize("name", sorted(TINY))
def test_engine_backend_decodes_like_transformers_generate(name, tiny_checkpoint, tiny_bundle):
    """The Engine's own ONNX model (what `generate` steps) along transformers' greedy paths, re-measured here."""
    from edge import Engine

    model = _torch_model(tiny_checkpoint(name))
    with Engine.load(str(tiny_bundle(name))) as engine:
        prompts = [engine.tokenize(text) for text in decode.PROMPTS]
        paths = decode.torch_paths(model, prompts, 32)
        report = decode.compare(paths, _EngineStepper(engine, paths))
        got = engine.generate(decode.PROMPTS[0], temperature=0, max_tokens=8)
    assert report.agreement == 1.0 and report.max_abs_logit_diff <= 1e-4, report
    assert got.backend == "onnxruntime" and got.finish_reason in ("stop", "length")


def test_near_ties_count_as_agreement_but_a_real_miss_does_not():
    logits = np.zeros((2, 16), dtype=np.float32)
    logits[0, 3], logits[0, 5] = 1.0, 1.0 - decode.MARGIN / 2  # near tie: either pick agrees
    logits[1, 7], logits[1, 2] = 1.0, 0.5  # clear winner
    path = decode.ReferencePath.from_logits([1], [3, 7], logits)

    class Fixed:
        def __init__(self, rows):
            self.rows = iter(rows)

        def start(self, ids):
            return next(self.rows)

        def step(self, token):
            return next(self.rows)

    tie_pick = np.eye(16, dtype=np.float32)[[5, 7]]
    assert decode.compare([path], Fixed(tie_pick)).agreement == 1.0
    miss = np.eye(16, dtype=np.float32)[[3, 2]]
    report = decode.compare([path], Fixed(miss))
    assert report.agreement == 0.5 and report.first_miss == (0, 1)


def _wrong_step_positions(self, new, every_row=False):
    """A KV-cache bug: every call restarts its position ids at 0 (a fresh prefill is unaffected)."""
    from edge.backends.onnx_prefix import PastState

    live, n = self._live, len(new)
    total = len(live.ids) + n
    out = self.session.run({"input_ids": np.asarray([new], dtype=np.int64),
                            "attention_mask": np.ones((1, total), dtype=np.int64),
                            "position_ids": np.arange(n, dtype=np.int64)[None], **live.past})
    rows = out["logits"].numpy()[0]
    self._live = PastState(live.ids + list(new), {p: out[q] for p, q in zip(self.past_names, self.present_names,
                                                                            strict=True)}, rows[-1].copy())
    return rows if every_row else rows[-1].copy()


def test_broken_kv_cache_positions_fail_decode_parity_not_teacher_forced(tiny_bundle, tiny_checkpoint,
                                                                         monkeypatch, tmp_path):
    from edge.backends.onnxruntime import CausalLM
    from export.onnx.export import export_onnx

    bundle = tiny_bundle("llama", attention="traced")  # fused attention takes positions from the mask
    assert verify_bundle(bundle, read_manifest(bundle))["passed"]
    monkeypatch.setattr(CausalLM, "_advance", _wrong_step_positions)
    report = verify_bundle(bundle, read_manifest(bundle))
    tol = read_manifest(bundle).parity.tolerance
    assert report["max_abs_logit_diff"] <= tol and report["top1_agreement"] == 1.0  # teacher-forced still passes
    assert not report["decode_parity"]["passed"] and not report["passed"]
    with pytest.raises(ParityError, match="KV cache"):
        export_onnx(tiny_checkpoint("llama"), tmp_path / "b", attention="traced")
    assert not (tmp_path / "b").exists()


def test_stale_encoder_decoder_cache_fails_decode_parity(tiny_bundle, monkeypatch):
    from edge.backends.onnxruntime import Seq2SeqLM

    bundle = tiny_bundle("bart")  # the random T5 greedily repeats one token, which a stale past cannot change
    real_step = Seq2SeqLM.step

    def step_without_updating_past(self, token):
        state = self._state
        logits = real_step(self, token)
        self._state = state  # the past never grows: each step sees only the start token's K/V
        return logits

    monkeypatch.setattr(Seq2SeqLM, "step", step_without_updating_past)
    report = verify_bundle(bundle, read_manifest(bundle))
    assert not report["decode_parity"]["passed"] and not report["passed"]


def test_verify_against_the_source_remeasures_decode(tiny_bundle, tiny_checkpoint):
    bundle = tiny_bundle("qwen2")
    report = verify_bundle(bundle, read_manifest(bundle), str(tiny_checkpoint("qwen2")))
    assert report["passed"] and report["reference"].startswith("pytorch")
    assert report["decode_parity"]["agreement"] == 1.0 and report["decode_parity"]["n_prompts"] >= 3


def test_verify_against_another_model_fails_decode(tiny_bundle, tiny_checkpoint):
    bundle = tiny_bundle("qwen2")
    report = verify_bundle(bundle, read_manifest(bundle), str(tiny_checkpoint("qwen3")))
    assert not report["passed"] and not report["decode_parity"]["passed"]
