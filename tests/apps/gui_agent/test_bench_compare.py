"""`agent bench` with several models: the same tasks for each, and a side-by-side comparison."""

from __future__ import annotations

import pytest

from apps.gui_agent.bench import COMPARED, compare
from tests.conftest import run_cli


def _report(model: str, passes: list[bool]) -> dict:
    results = [{"id": f"t{i}", "success": ok} for i, ok in enumerate(passes)]
    figures = {k: float(len(model) + i) for i, k in enumerate(COMPARED)}
    return {"model": model, "results": results, **figures}


def test_compare_lists_each_figure_per_model_and_the_tasks_that_differ():
    cmp = compare([_report("base", [True, False, False]), _report("distilled", [True, True, False])])
    assert cmp["models"] == ["base", "distilled"]
    assert cmp["figures"]["success_rate"] == [4.0, 9.0] and set(cmp["figures"]) == set(COMPARED)
    assert cmp["tasks_that_differ"] == [{"id": "t1", "success": [False, True]}]


@pytest.mark.slow
def test_two_models_side_by_side_on_the_same_tasks(default_gguf):
    out = run_cli("agent", "bench", "--limit", "1", "-m", "default", "-m", str(default_gguf), timeout=1200)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("success_rate ") == 2 and f"== {default_gguf.stem}" in out.stdout
    table = out.stdout.split("\n\n")[-1]
    assert "script_ran_rate" in table and "mean_tokens_out" in table and "mean_latency_ms" in table
    # the same model file twice on one build: the greedy runs agree task by task
    assert "tasks where the models differ: 0" in table
