"""`distill` on a tiny random Llama: masked loss, determinism, resume, export to GGUF and loading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apps.gui_agent.synth import read_rows
from export.distill import DistillConfig, distill
from export.distill.data import IGNORE, encode, split_turn
from export.distill.train import load_start
from tests.conftest import run_cli


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _cfg(data: Path, out: Path, src: Path, **kw) -> DistillConfig:
    return DistillConfig(data=data, out=out, source=src, **{"batch_size": 2, "max_len": 4096, "lr": 1e-3, **kw})


def test_only_the_answer_carries_a_loss_and_the_prompt_is_the_agents(agent_rows, tiny_llama):
    source = load_start(_cfg(agent_rows, Path("unused"), tiny_llama))
    rows = read_rows(agent_rows)
    examples, dropped = encode(rows, source.tokenizer, source.chat_template, 4096)
    assert dropped == 0 and len(examples) == len(rows)
    ex, row = examples[0], rows[0]
    prompt, target = split_turn(row["messages"], row["completion"], source.chat_template, "", "", None)
    labels = ex.labels
    assert all(x == IGNORE for x in labels[:ex.n_prompt]) and IGNORE not in labels[ex.n_prompt:]
    assert source.tokenizer.decode(ex.ids[ex.n_prompt:]) == target
    assert target.startswith(row["completion"])  # the script is what is learnt; "Task: ..." is prompt
    assert prompt.endswith("assistant\n") and row["task"] in prompt


def test_the_shared_prefix_gives_the_loss_of_the_whole_sequence(agent_rows, tiny_llama):
    import torch

    from export.distill.data import batch, shared_prefix
    from export.distill.train import step_loss

    source = load_start(_cfg(agent_rows, Path("unused"), tiny_llama))
    examples, _ = encode(read_rows(agent_rows), source.tokenizer, source.chat_template, 4096)
    prefix = shared_prefix(examples)
    group = [e for e in examples if e.group == examples[0].group][:3]
    assert len(group) >= 2 and prefix[group[0].group] > 100  # the system message is shared
    assert all(prefix[e.group] < e.n_prompt for e in examples)
    with torch.no_grad():
        shared = step_loss(source.model, batch(group, 0, prefix[group[0].group]))
        whole = step_loss(source.model, batch(group, 0, 0))
        reference = source.model(**{k: v for k, v in batch(group, 0, 0).items() if k != "prefix"}).loss
    assert abs(float(shared) - float(whole)) < 1e-4 and abs(float(whole) - float(reference)) < 1e-4


@pytest.mark.slow
def test_distill_is_deterministic_for_a_seed_and_resumes_to_the_same_weights(agent_rows, tiny_llama, tmp_path):
    straight = distill(_cfg(agent_rows, tmp_path / "a", tiny_llama, max_steps=4, save_every=2))
    assert straight["steps"] == 4 and straight["stopped"] == "max-steps"
    again = distill(_cfg(agent_rows, tmp_path / "b", tiny_llama, max_steps=4, save_every=2))
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert again["final_loss"] == straight["final_loss"]
    other = distill(_cfg(agent_rows, tmp_path / "c", tiny_llama, max_steps=4, seed=1))
    assert not _same(_weights(tmp_path / "a"), _weights(tmp_path / "c"))
    assert other["steps"] == 4

    distill(_cfg(agent_rows, tmp_path / "d", tiny_llama, max_steps=2))
    resumed = distill(_cfg(agent_rows, tmp_path / "d", tiny_llama, max_steps=4, resume=True))
    assert resumed["steps"] == 4
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "d"))
    with pytest.raises(Exception, match="seed"):  # a checkpoint of another seed is not silently mixed in
        distill(_cfg(agent_rows, tmp_path / "d", tiny_llama, max_steps=5, resume=True, seed=7))


def test_training_lowers_the_loss_on_its_data(agent_rows, tiny_llama, tmp_path):
    few = tmp_path / "few.jsonl"
    few.write_text("".join(agent_rows.read_text().splitlines(keepends=True)[:2]))
    report = distill(_cfg(few, tmp_path / "o", tiny_llama, epochs=8, lr=3e-3, warmup=1))
    assert report["stopped"] == "done" and report["steps"] == 8
    losses = json.loads((tmp_path / "o" / "train_state" / "state.json").read_text())["losses"]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4


def test_max_minutes_stops_the_run_and_still_writes_the_checkpoint(agent_rows, tiny_llama, tmp_path):
    report = distill(_cfg(agent_rows, tmp_path / "o", tiny_llama, epochs=100, max_minutes=0.05))
    assert report["stopped"] == "max-minutes" and 0 < report["steps"] < report["planned_steps"]
    assert (tmp_path / "o" / "model.safetensors").is_file()


@pytest.mark.slow
def test_cli_progress_then_export_gguf_and_the_agent_loads_it(agent_rows, tiny_llama, tmp_path):
    from edge import Engine

    out, bundle = tmp_path / "distilled", tmp_path / "bundle"
    proc = run_cli("distill", str(agent_rows), str(out), "-m", str(tiny_llama), "--max-steps", "3",
                   "--batch-size", "2", "--max-len", "4096")
    assert proc.returncode == 0, proc.stderr
    assert "step 3/3 loss" in proc.stderr and "tok/s ETA" in proc.stderr
    quiet = run_cli("distill", str(agent_rows), str(tmp_path / "q"), "-m", str(tiny_llama), "--max-steps", "1",
                    "--max-len", "4096", "--json")
    assert quiet.returncode == 0 and "step" not in quiet.stderr
    assert json.loads(quiet.stdout)["steps"] == 1
    proc = run_cli("export", "gguf", str(out), str(bundle), "--quant", "q8_0")
    assert proc.returncode == 0, proc.stderr
    row = read_rows(agent_rows)[0]
    source = load_start(_cfg(agent_rows, out, out))
    prompt, _ = split_turn(row["messages"], row["completion"], source.chat_template, "", "", None)
    with Engine.load(str(bundle)) as engine:
        assert engine.render(row["messages"]) == prompt  # the chat template survived distill and export
        assert engine.tokenize(row["messages"]) == source.tokenizer.encode(prompt, add_special_tokens=False)
        assert engine.generate(row["messages"], max_tokens=4).completion_tokens >= 1
    side = run_cli("agent", "bench", "--app", "settings", "--limit", "1", "-m", str(bundle), "-m", str(bundle))
    assert side.returncode == 0, side.stderr
    table = side.stdout.split("\n\n")[-1]
    assert len(re.findall(r"^success_rate \d", side.stdout, re.MULTILINE)) == 2  # one summary per model
    assert all(k in table for k in ("success_rate", "script_ran_rate", "mean_tokens_out", "mean_latency_ms"))
    assert "tasks where the models differ: 0" in table  # one file twice on one build: greedy runs agree


def test_bad_data_is_a_clear_error(tiny_llama, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "x"}\n')
    proc = run_cli("distill", str(bad), str(tmp_path / "o"), "-m", str(tiny_llama))
    assert proc.returncode == 2 and "line 1 lacks" in proc.stderr
