"""`speculative` is a validated runtime option, settable from a profile and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import InvalidRequestError, ProfileError
from edge.options import SPECULATIVE_MODES, RuntimeOptions
from edge.profiles import parse_profile
from tests.conftest import run_cli

PROFILE = """name = "spec-test"
description = "test"
quantization = ["q4_0"]
memory_budget_mb = 512
[runtime]
speculative = "{mode}"
"""


def test_runtime_option_is_validated() -> None:
    assert RuntimeOptions().speculative == "auto"  # where lossless, else plain decoding
    for mode in SPECULATIVE_MODES:
        assert RuntimeOptions(speculative=mode).speculative == mode
    with pytest.raises(InvalidRequestError, match="speculative must be one of"):
        RuntimeOptions(speculative="fast")


def test_a_profile_sets_it(tmp_path: Path) -> None:
    path = tmp_path / "spec-test.toml"
    path.write_text(PROFILE.format(mode="ngram"))
    assert parse_profile(path).runtime_options().speculative == "ngram"
    path.write_text(PROFILE.format(mode="always"))
    with pytest.raises(ProfileError):
        parse_profile(path)


def test_a_profile_without_the_key_gets_the_default(tmp_path: Path) -> None:
    path = tmp_path / "spec-test.toml"
    path.write_text(PROFILE.format(mode="off").replace('speculative = "off"\n', ""))
    assert parse_profile(path).runtime_options().speculative == RuntimeOptions().speculative


def test_off_decodes_plainly_on_llamacpp_and_the_default_and_on_speculate() -> None:
    """The default drafts on the set-up's llama.cpp (its attention is batch-invariant: lossless)."""
    from edge.backends.llamacpp_build import batch_invariant_attention

    prompt = ("run", "--json", "--temperature", "0", "-n", "6", "-t", "1", "Say hello.")
    runs = {mode: run_cli(*prompt[:-1], *(("--speculative", mode) if mode else ()), prompt[-1])
            for mode in ("off", None, "on")}
    assert all(r.returncode == 0 for r in runs.values()), [r.stderr for r in runs.values()]
    assert not any(k.startswith("speculation") for k in json.loads(runs["off"].stdout))
    default = json.loads(runs[None].stdout)
    assert default.get("speculation_mode") == ("auto" if batch_invariant_attention() else None)
    assert json.loads(runs["on"].stdout)["speculation_mode"] == "on"


def test_the_cli_rejects_an_unknown_mode() -> None:
    r = run_cli("run", "--speculative", "fast", "Hi")
    assert r.returncode == 2 and "fast" in (r.stderr + r.stdout)


def test_run_json_reports_what_speculation_did() -> None:
    r = run_cli("run", "--json", "--temperature", "0", "-n", "8", "-t", "1", "--speculative", "ngram",
                "Repeat exactly: red green blue red green blue")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["speculation_mode"] == "ngram" and out["speculation_steps"] >= 1 and "speculation_handed_off" in out
    assert all(not isinstance(v, dict | list) for v in out.values())  # still one flat object


def test_spec_bench_runs_every_workload_and_the_agent_one_writes_a_script():
    """`edgesplit bench --speculative`'s four workloads; the agent one is held to its script grammar."""
    from edge import Engine
    from edge.bench_spec import _ELEMENTS, WORKLOADS, _run, run_spec_bench

    rows = run_spec_bench(lambda m: Engine.load("default", options=RuntimeOptions(n_threads=1, speculative=m)),
                          "on", gen_tokens=12, repeat=1)
    assert [r["workload"] for r in rows] == [w.name for w in WORKLOADS]
    assert all(r["plain_tok_s"] > 0 and r["spec_tok_s"] > 0 and isinstance(r["identical"], bool) for r in rows)
    with Engine.load("default", options=RuntimeOptions(n_threads=1)) as engine:
        text = _run(engine, WORKLOADS[0], 40).text
    assert text.startswith("# ")
    for line in text.splitlines()[1:]:
        assert line == "back()" or (line.startswith("$") and line.split(".")[0][1:] in _ELEMENTS), line
