"""The auto-tuner: TOML writing, and a real sweep on the default model within its budget."""

import json

import pytest

from edge import Engine
from edge.errors import InvalidRequestError
from edge.profiles import parse_profile
from edge.tune import TuneConfig, _toml
from tests.conftest import run_cli


def test_toml_values_and_config_validation():
    assert _toml(["q4_0", "a\"b"]) == '["q4_0", "a\\"b"]'
    assert (_toml(True), _toml(3), _toml(2.5)) == ("true", "3", "2.5")
    with pytest.raises(InvalidRequestError):
        TuneConfig(budget_s=0)
    with pytest.raises(InvalidRequestError, match="q3_xs"):
        TuneConfig(quants=("q3_xs",))


@pytest.mark.slow
def test_tune_default_within_budget_writes_a_profile_run_uses(tmp_path):
    out = tmp_path / "tuned-test.toml"
    budget = 75
    p = run_cli("tune", "--budget-s", str(budget), "--out", str(out), "--json", timeout=budget + 120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["trials"] and res["elapsed_s"] > 0  # the budget itself is bounded by run_cli's timeout
    best = res["best"]
    passing = [t for t in res["trials"] if t["top1"] >= 0.9]
    assert best in passing  # the winner meets the quality floor (which one wins is a measurement)
    prof = parse_profile(out)
    assert prof.runtime.threads == best["threads"] and prof.runtime.kv_type == best["kv_type"]
    assert prof.quantization[0] == best["quant"] and "tok/s" in out.read_text()  # figures as comments
    p = run_cli("run", "--profile", str(out), "-m", res["model_path"], "--json", "--temperature", "0", "-n", "8",
                "Name a colour.")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["completion_tokens"] > 0
    with Engine.load(res["model_path"], profile=str(out)) as engine:
        d = engine.describe()
        assert d["profile"] == "tuned-test" and d["threads"] == best["threads"]
