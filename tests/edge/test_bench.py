"""The latency profiler: prompt building, targets, and `edgesplit bench` on the default model.

The CLI runs pin one thread (`-t 1`): on a 2-core machine shared with other jobs, llama.cpp's
spinning thread barrier with 2 threads collapses to under 1 tok/s and the run takes minutes.
"""

import json
import os

import pytest

from edge.bench import (
    FIELDS,
    BenchConfig,
    Target,
    exact_prompt,
    measure_bandwidth,
    parse_target,
    plan_emulation,
)
from edge.errors import InvalidRequestError
from tests.conftest import run_cli


@pytest.mark.parametrize("n", [4, 17, 64, 200])
def test_exact_prompt_has_exactly_n_tokens(default_engine, n):
    for offset in (0, 3):
        assert len(default_engine.tokenize(exact_prompt(default_engine, n, offset))) == n
    assert exact_prompt(default_engine, n, 0) != exact_prompt(default_engine, n, 1)  # no cached prefix


def test_parse_target_and_config():
    base = Target(model="default", threads=2)
    t = parse_target("m.gguf,backend=llamacpp,profile=raspberry-pi-5,threads=1,label=pi", base)
    assert (t.model, t.backend, t.profile, t.threads, t.name) == ("m.gguf", "llamacpp", "raspberry-pi-5", 1, "pi")
    assert parse_target("profile=raspberry-pi-4", base) == Target("default", None, "raspberry-pi-4", 2)
    with pytest.raises(InvalidRequestError, match="unknown key 'thread'"):
        parse_target("default,thread=2", base)
    with pytest.raises(InvalidRequestError):
        BenchConfig(gen_tokens=1)


def test_bandwidth_is_positive():
    assert measure_bandwidth(threads=1, size_mb=32, repeat=2) > 0.1


def test_emulation_plan_caps_threads_to_this_host():
    em = plan_emulation("raspberry-pi-5")
    assert em.notes[0].startswith("EMULATION of raspberry-pi-5")
    assert 1 <= em.options.n_threads == len(em.cpus) <= min(4, len(os.sched_getaffinity(0)))


@pytest.mark.slow
def test_bench_json_fields_reference_and_bandwidth(tmp_path):
    chart = tmp_path / "bench.png"
    p = run_cli("bench", "--json", "-t", "1", "--prompt-tokens", "64", "--gen-tokens", "48", "--repeat", "3",
                "--plot", str(chart), timeout=600)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout)
    assert set(FIELDS) | {"model", "backend", "profile", "reference_decode_tok_s"} <= set(row)
    assert row["model"] == "default" and row["backend"] == "llamacpp" and row["prompt_tokens"] == 64
    assert row["gen_tokens"] == 48 and row["peak_rss_mb"] > 50 and row["bytes_per_token"] > 90e6
    assert 0 < row["bandwidth_ratio"] <= 1
    # the bare-loop reference is measured and reported (its ratio is a benchmark figure, not a test)
    assert row["decode_tok_s"] > 0 and row["reference_decode_tok_s"] > 0, row
    assert chart.stat().st_size > 10_000 and chart.read_bytes()[:4] == b"\x89PNG"
    from edge.bench_server import load_runs

    saved = load_runs()  # the run is kept for the web UI's bench page
    assert len(saved) == 1 and saved[0]["rows"][0]["decode_tok_s"] == row["decode_tok_s"]


@pytest.mark.slow
def test_bench_compare_emulated_csv():
    p = run_cli("bench", "--csv", "--compare", "default,threads=1", "default,profile=raspberry-pi-4,threads=1,label=pi4",
                "--emulate-profile", "raspberry-pi-4", "--prompt-tokens", "16", "--gen-tokens", "8",
                "--repeat", "1", "--no-reference", timeout=600)
    assert p.returncode == 0, p.stderr
    assert "EMULATION of raspberry-pi-4" in p.stderr
    header, *rows = p.stdout.strip().splitlines()
    assert "decode_tok_s" in header and len(rows) == 2
    assert rows[1].startswith("default,llamacpp,raspberry-pi-4,pi4")
