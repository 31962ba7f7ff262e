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


def test_a_second_and_third_run_measure_prefill_not_the_prompt_cache():
    """Every run uses the same rotated prompts: with the disk prompt cache on, the third run on a
    machine found them saved (prefill '15,000 tok/s'). TTFT and prefill are a cold prompt's."""
    from edge.bench import run_bench
    from edge.prompt_cache import totals

    config = BenchConfig(prompt_tokens=160, gen_tokens=2, repeat=1, reference=False)
    before = totals()
    for _ in range(3):
        report = run_bench([Target("default", threads=2)], config)
    after = totals()
    assert (after.disk_hits, after.disk_writes, after.memory_hits) == (before.disk_hits, before.disk_writes,
                                                                       before.memory_hits)
    assert report.rows[0]["ttft_ms"] > 0


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


# -- side by side -------------------------------------------------------------------------------
def other_host_run(name="pi5", emulated=None, decode=24.0):
    """A run as another device would have saved it (written by hand: no such device here)."""
    host = {"name": name, "arch": "aarch64", "os": "linux", "cpu_model": "Raspberry Pi 5 Model B Rev 1.0",
            "cores": 4, "logical_cores": 4, "ram_mb": 8064, "profile": "raspberry-pi-5", "bandwidth_gb_s": 9.1,
            "emulated": emulated}
    return {"created": "2026-11-30T10:00:00+00:00", "bandwidth_gb_s": 9.1, "host": host, "notes": [],
            "rows": [{"model": "default", "backend": "llamacpp", "label": "default", "ttft_ms": 310.0,
                      "decode_tok_s": decode, "itl_p95_ms": 48.0, "peak_rss_mb": 180.0, "bytes_per_token": 97037568}]}


def test_load_run_says_what_is_missing(tmp_path):
    from edge.bench_compare import compare_rows, load_run

    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "old.json").write_text(json.dumps({"rows": [{"decode_tok_s": 1.0}]}))
    (tmp_path / "odd.json").write_text(json.dumps({**other_host_run(), "rows": [{"decode_tok_s": "fast"}, 3]}))
    with pytest.raises(InvalidRequestError, match="invalid JSON"):
        load_run(tmp_path / "broken.json")
    with pytest.raises(InvalidRequestError, match="no host facts"):
        load_run(tmp_path / "old.json")
    with pytest.raises(InvalidRequestError, match="cannot read"):
        load_run(tmp_path / "absent.json")
    odd = compare_rows([load_run(tmp_path / "odd.json")])  # hand-edited figures: blanks, not a crash
    assert len(odd) == 1 and odd[0]["decode_tok_s"] is None and odd[0]["bandwidth_ratio"] is None


def test_emulated_runs_are_kept_apart_and_each_device_has_its_own_ceiling():
    from edge.bench_compare import compare_rows, format_compare

    runs = [other_host_run("emu", emulated="raspberry-pi-4", decode=30.0), other_host_run("pi5")]
    runs[1]["host"]["bandwidth_gb_s"] = 4.55  # half the ceiling: twice the ratio at the same speed
    rows = compare_rows(runs)
    assert [r["emulated"] for r in rows] == [False, True] and rows[0]["host"].startswith("pi5")
    assert rows[0]["bandwidth_ratio"] == pytest.approx(24.0 * 97037568 / 4.55e9)
    assert rows[1]["bandwidth_ratio"] == pytest.approx(30.0 * 97037568 / 9.1e9)
    measured, _, emulated = format_compare(runs).partition("\nemulated")
    assert "pi5 (aarch64" in measured and "EMULATED" not in measured
    assert "EMULATED raspberry-pi-4 on emu" in emulated


@pytest.mark.slow
def test_bench_save_then_compare_with_another_host(tmp_path):
    mine, theirs, chart = tmp_path / "here.json", tmp_path / "pi5.json", tmp_path / "devices.png"
    p = run_cli("bench", "-t", "1", "--prompt-tokens", "16", "--gen-tokens", "8", "--repeat", "1", "--no-reference",
                "--save", str(mine), timeout=600)
    assert p.returncode == 0, p.stderr
    host = json.loads(mine.read_text())["host"]
    assert {"arch", "cpu_model", "cores", "ram_mb", "profile", "bandwidth_gb_s"} <= set(host)
    assert host["bandwidth_gb_s"] > 0 and host["cores"] >= 1 and host["emulated"] is None
    theirs.write_text(json.dumps(other_host_run()))
    p = run_cli("bench", "compare", str(mine), str(theirs), "--plot", str(chart))
    assert p.returncode == 0, p.stderr
    assert f"{host['name']} ({host['arch']}" in p.stdout and "pi5 (aarch64" in p.stdout and "BW ratio" in p.stdout
    assert chart.stat().st_size > 10_000 and chart.read_bytes()[:4] == b"\x89PNG"
    p = run_cli("bench", "compare", str(mine), str(theirs), "--json")
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["run"] for r in rows] == ["here", "pi5"] and all(0 < r["bandwidth_ratio"] < 1 for r in rows)
    p = run_cli("bench", "compare", str(tmp_path / "absent.json"))
    assert p.returncode == 2 and "cannot read bench run" in p.stderr
