"""`agent bench` with several models: the comparison (the CLI run on two models is in tests/export/distill)."""

from __future__ import annotations

from apps.gui_agent.bench import COMPARED, compare


def _report(model: str, passes: list[bool]) -> dict:
    results = [{"id": f"t{i}", "success": ok} for i, ok in enumerate(passes)]
    figures = {k: float(len(model) + i) for i, k in enumerate(COMPARED)}
    return {"model": model, "results": results, **figures}


def test_compare_lists_each_figure_per_model_and_the_tasks_that_differ():
    cmp = compare([_report("base", [True, False, False]), _report("distilled", [True, True, False])])
    assert cmp["models"] == ["base", "distilled"]
    assert cmp["figures"]["success_rate"] == [4.0, 9.0] and set(cmp["figures"]) == set(COMPARED)
    assert cmp["tasks_that_differ"] == [{"id": "t1", "success": [False, True]}]
