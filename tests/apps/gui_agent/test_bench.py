"""The benchmark: every task is solvable by its reference script, and its checks are not vacuous."""

from __future__ import annotations

import pytest

from apps.gui_agent.bench import check_state, load_tasks, run_reference, select_tasks
from apps.gui_agent.sim import APPS, app_doc, load_app

TASKS = load_tasks()


def test_the_benchmark_has_forty_tasks_over_every_app():
    assert len(TASKS) >= 40
    assert {t.app for t in TASKS} == set(APPS)
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert len({t.task for t in TASKS}) == len(TASKS)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_reference_script_solves_the_task(task):
    ok, failures, result = run_reference(task)
    assert ok, failures
    assert result.ok


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_checks_fail_on_the_initial_state(task):
    assert check_state(load_app(task.app).state, task.checks), "the check passes without doing anything"


def test_reference_pass_rate_is_100_percent():
    assert sum(run_reference(t)[0] for t in TASKS) / len(TASKS) == 1.0


def test_doc_examples_are_not_benchmark_tasks():
    tasks = {t.task.lower() for t in TASKS}
    for app in APPS:
        for ex in app_doc(app).examples:
            assert ex.task.lower() not in tasks


def test_select_tasks_spreads_a_limit_over_the_apps():
    chosen = select_tasks(TASKS, limit=4)
    assert len(chosen) == 4 and {t.app for t in chosen} == set(APPS)
    assert [t.app for t in select_tasks(TASKS, limit=8)] == sorted(
        [t.app for t in select_tasks(TASKS, limit=8)], key=list(APPS).index)
    assert all(t.app == "notes" for t in select_tasks(TASKS, app="notes"))


def test_check_kinds_report_what_differs():
    state = {"alarms": [{"label": "Gym", "enabled": False}], "timer": {"minutes": 3}, "calls": []}
    assert check_state(state, [{"path": "timer.minutes", "equals": 3}]) == []
    assert check_state(state, [{"path": "timer.minutes", "equals": 4}]) == ["timer.minutes is 3, expected 4"]
    assert check_state(state, [{"path": "calls", "contains": "Bo"}]) == ["calls does not contain 'Bo'"]
    assert check_state(state, [{"path": "alarms", "length": 2}]) == ["alarms has 1 items, expected 2"]
    fail = check_state(state, [{"list": "alarms", "where": {"label": "Gym"}, "count": 1, "expect": {"enabled": True}}])
    assert fail and "enabled" in fail[0]
