"""`agent bench` with several models: the same tasks for each, and a side-by-side comparison."""

from __future__ import annotations

import json

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
    out = run_cli("agent", "bench", "--limit", "1", "-m", "default", "-m", str(default_gguf), "--json", timeout=900)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    a, b = data["reports"]
    assert [r["id"] for r in a["results"]] == [r["id"] for r in b["results"]]
    # the same model file twice on one build: greedy runs agree task by task
    assert data["comparison"]["tasks_that_differ"] == []
    assert len(data["comparison"]["figures"]["script_ran_rate"]) == 2
    text = run_cli("agent", "bench", "--limit", "1", "-m", "default", "-m", str(default_gguf), timeout=900)
    assert text.returncode == 0 and "success_rate" in text.stdout and "tasks where the models differ: 0" in text.stdout
