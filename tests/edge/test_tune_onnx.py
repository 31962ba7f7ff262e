"""`edgesplit tune` on an ONNX bundle: threads × spinning raced on ONNX Runtime, written as a profile.

Speed is injected where an outcome is asserted (`measure=`); the real race on a tiny bundle only
checks what it writes and that `run` uses it.
"""

from __future__ import annotations

import json

import pytest

from edge import Engine
from edge.errors import InvalidRequestError
from edge.models import resolve
from edge.profiles import detect, parse_profile
from edge.tune import write_profile
from edge.tune_onnx import ort_profile_parts, tune_onnx
from tests.conftest import run_cli
from tests.edge.test_tune import jittered
from tests.export.conftest import tiny_tokenizer_dir  # noqa: F401  (session fixtures shared with export tests)
from tests.export.onnx.conftest import tiny_bundle, tiny_checkpoint  # noqa: F401

pytest.importorskip("onnxruntime")


def test_spinning_that_wins_beyond_the_noise_is_written(tiny_bundle, tmp_path) -> None:  # noqa: F811
    base = detect().profile
    res = tune_onnx(resolve(str(tiny_bundle("llama"))), 600, 8, (1, 2), base,
                    measure=jittered(lambda c: (1.0 if c.spinning else 0.6) * (1.0 if c.threads == 2 else 0.5)))
    assert (res.best.threads, res.best.spinning) == (2, True) and not res.tie
    assert res.verdict().startswith("winner: t2 spin")
    prof = write_profile(ort_profile_parts(res), base, tmp_path / "tuned-ort.toml")
    assert prof.backend == "onnxruntime" and prof.runtime.ort_spinning and prof.runtime.threads == 2
    assert prof.quantization[0] == "f32" and "t2 spin" in (tmp_path / "tuned-ort.toml").read_text()


def test_a_tie_keeps_the_base_profiles_spinning_and_fewer_threads(tiny_bundle) -> None:  # noqa: F811
    base = detect().profile
    res = tune_onnx(resolve(str(tiny_bundle("llama"))), 600, 8, (1, 2), base, max_rounds=4,
                    measure=jittered(lambda _c: 1.0))
    assert res.tie and len(res.tied) == 4
    assert res.best.spinning == base.runtime.ort_spinning and res.best.threads == 1


def test_onnx_tune_refuses_weight_types_and_a_gguf(tiny_bundle) -> None:  # noqa: F811
    p = run_cli("tune", "-m", str(tiny_bundle("llama")), "--quant", "q8_0")
    assert p.returncode != 0 and "ONNX bundle keeps its weights" in p.stderr
    with pytest.raises(InvalidRequestError, match="ONNX bundle"):
        tune_onnx(resolve("default"), 10, 8, (1,), detect().profile)


def test_a_real_race_writes_a_profile_run_uses(tiny_bundle, tmp_path) -> None:  # noqa: F811
    bundle, out = tiny_bundle("llama"), tmp_path / "tuned-tiny-ort.toml"
    p = run_cli("tune", "-m", str(bundle), "--threads", "1", "--budget-s", "20", "--out", str(out), "--json",
                timeout=140)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert {(c["threads"], c["ort_spinning"]) for c in res["candidates"]} == {(1, False), (1, True)}
    assert res["best"] in res["candidates"] and res["verdict"] in out.read_text()
    prof = parse_profile(out)
    assert prof.runtime.ort_spinning == res["best"]["ort_spinning"] and prof.backend == "onnxruntime"
    with Engine.load(str(bundle), profile=str(out)) as engine:
        assert engine.describe()["profile"] == "tuned-tiny-ort" and engine.backend_name == "onnxruntime"
        assert engine.generate("hello", max_tokens=4, temperature=0.0).completion_tokens > 0
