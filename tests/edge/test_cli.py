"""The real `edgesplit` entry point, in a subprocess."""

import json

import pytest

from tests.conftest import run_cli

FLAT_KEYS = {"text", "prompt_tokens", "completion_tokens", "ttft_ms", "prefill_tok_s", "decode_tok_s",
             "finish_reason", "backend", "model"}


def test_run_json_prints_one_flat_object():
    p = run_cli("run", "--json", "--temperature", "0", "-n", "24", "What is the capital of France? Answer in one sentence.")
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    assert FLAT_KEYS <= set(obj)
    assert "Paris" in obj["text"] and obj["backend"] == "llamacpp" and obj["model"] == "default"
    assert all(not isinstance(v, dict | list) for v in obj.values())


def test_run_streams_plain_text_and_reads_stdin():
    p = run_cli("run", "--temperature", "0", "-n", "24", "-", input="What is the capital of France? Answer in one sentence.")
    assert p.returncode == 0, p.stderr
    assert "Paris" in p.stdout and "Traceback" not in p.stderr


def test_run_json_schema_file(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"]}
    f = tmp_path / "s.json"
    f.write_text(json.dumps(schema))
    p = run_cli("run", "--json", "--json-schema", str(f), "-n", "32", "Is Paris in France?")
    assert p.returncode == 0, p.stderr
    assert json.loads(json.loads(p.stdout)["text"])["answer"] in ("yes", "no")


@pytest.mark.parametrize("args,needle", [
    (["run", ""], "prompt is empty"),
    (["run", "-n", "0", "hi"], "max_tokens"),
    (["run", "-m", "/no/such/model.gguf", "hi"], "not found"),
    (["run", "--json-schema", "/no/such/schema.json", "hi"], "cannot read schema"),
    (["run", "--ctx", "64", "word " * 200], "context holds"),
])
def test_bad_input_exits_2_with_one_line(args, needle):
    p = run_cli(*args, input="")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_bad_schema_file(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    p = run_cli("run", "--json-schema", str(f), "hi")
    assert p.returncode == 2 and "not valid JSON" in p.stderr


def test_truncated_model_exits_2(tmp_path, default_gguf):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(default_gguf.read_bytes()[:5_000_000])
    p = run_cli("run", "-m", str(cut), "hi")
    assert p.returncode == 2 and "truncated" in p.stderr


def test_chat_keeps_history_and_reset_forgets_it():
    """The second answer depends on the first turn; after /reset it equals a fresh answer."""
    args = ("chat", "--temperature", "0", "-n", "24")
    first = run_cli(*args, input="Tell me about lighthouses.\n").stdout
    fresh = run_cli(*args, input="What is my favourite colour?\n").stdout
    with_history = run_cli(*args, input="Tell me about lighthouses.\nWhat is my favourite colour?\n/bye\n")
    after_reset = run_cli(*args, input="Tell me about lighthouses.\n/reset\nWhat is my favourite colour?\n")
    assert with_history.returncode == 0 and first and fresh
    assert with_history.stdout.startswith(first)
    assert with_history.stdout[len(first):] != fresh
    assert after_reset.stdout == first + fresh


def test_models_json():
    p = run_cli("models", "--json")
    assert p.returncode == 0
    rows = json.loads(p.stdout)
    assert rows[0]["name"] == "default" and rows[0]["format"] == "gguf"


@pytest.mark.parametrize("cmd", ["run", "chat", "models"])
def test_help_has_examples(cmd):
    p = run_cli(cmd, "--help")
    assert p.returncode == 0 and "Examples:" in p.stdout


def test_peak_rss_of_run_is_under_300_mb():
    import subprocess
    import sys
    from pathlib import Path

    # measured from a fresh parent so no other child of this test process counts
    exe = Path(sys.executable).with_name("edgesplit")
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True, check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(exe), "run", "-n", "32", "--temperature", "0", "Hello"],
                         capture_output=True, text=True, check=True).stdout
    assert float(out) <= 300, f"peak RSS {float(out):.0f} MB"
