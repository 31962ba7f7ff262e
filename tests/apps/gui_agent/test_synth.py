"""The synthetic data generator: every kept row verifies in the simulator; the benchmark stays held out."""

from __future__ import annotations

import json

import pytest

from apps.gui_agent.agent import build_messages, execute
from apps.gui_agent.bench import check_state, load_tasks
from apps.gui_agent.sim import APPS, app_doc
from apps.gui_agent.synth import HeldOut, HeldOutLeak, check_heldout, generate, read_rows
from apps.gui_agent.synth.draft import Draft
from apps.gui_agent.synth.generate import grammatical
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(per_family=6, multi=12, seed=0)[0]


def test_every_generated_row_runs_and_passes_its_checks_in_the_simulator(rows):
    assert {r["app"] for r in rows} == set(APPS)
    for r in rows:
        env, result = execute(r["app"], r["script"])
        assert result.ok, (r["task"], result.error)
        assert check_state(env.state, r["checks"]) == [], r["task"]
        assert r["checks"], r["task"]  # a row without checks would verify anything


def test_rows_are_what_the_agent_sees_and_may_answer(rows):
    for r in rows[::7]:
        assert r["messages"] == build_messages(app_doc(r["app"]), r["task"])
        assert r["completion"].startswith("# plan: ") and r["completion"].endswith(r["script"] + "\n")
        assert grammatical(Draft(r["app"], r["task"], r["plan"], tuple(r["script"].split("\n")), (), ""))


def test_rows_vary_in_wording_values_and_length(rows):
    assert len({r["task"] for r in rows}) == len(rows)
    assert any("+" in r["family"] for r in rows)  # multi-step tasks
    openings = {r["task"].split()[0] for r in rows}
    assert len(openings) >= 12
    assert len({r["script"] for r in rows if r["app"] == "settings"}) >= 10


def test_the_same_seed_gives_the_same_rows():
    a, b = generate(["clock"], per_family=4, multi=4, seed=5)[0], generate(["clock"], per_family=4, multi=4, seed=5)[0]
    assert a == b
    assert a != generate(["clock"], per_family=4, multi=4, seed=6)[0]


def test_no_generated_row_is_a_benchmark_task_or_script(rows):
    check_heldout(rows)
    held = HeldOut.of()
    assert not any(held.leak(r["task"], r["script"]) for r in rows)


def test_a_planted_benchmark_task_or_script_fails_the_check(rows):
    task = load_tasks()[0]
    planted = {**rows[0], "task": task.task.upper() + "!"}  # normalized text: case and punctuation do not hide it
    with pytest.raises(HeldOutLeak, match="benchmark task"):
        check_heldout([*rows, planted])
    script = {**rows[0], "task": "Something new entirely", "script": "# plan: x\n" + task.reference}
    with pytest.raises(HeldOutLeak, match="reference script"):
        check_heldout([*rows, script])


def test_the_generator_drops_benchmark_tasks_and_drafts_the_simulator_rejects():
    bench = load_tasks()[-1]
    leak = Draft(bench.app, bench.task, "p", tuple(bench.reference.split("\n")), bench.checks, "teacher")
    wrong = Draft("settings", "Turn the brightness up to 40", "open display", ('$display__brightness.set_text("45")',),
                  ({"path": "brightness", "equals": 40},), "teacher")
    broken = Draft("notes", "Pin the Cooking note", "pin", ('$notes__note_list.match("Cooking").long_tap()',
                                                              "$note_menu__pin.tap()"),
                   ({"list": "notes", "where": {"title": "Cooking"}, "count": 1},), "teacher")
    good = Draft("settings", "Turn the brightness up to 40", "open display", ('$display__brightness.set_text("40")',),
                 ({"path": "brightness", "equals": 40},), "teacher")
    rows, stats = generate(["settings"], per_family=1, multi=0, extra=[leak, wrong, broken, good])
    assert stats.dropped["benchmark overlap"] >= 1
    assert stats.dropped["simulator: checks failed"] >= 1 and stats.dropped["simulator: script stopped"] >= 1
    tasks = [r["task"] for r in rows]
    assert "Turn the brightness up to 40" in tasks and bench.task not in tasks


def test_synth_cli_writes_rows_and_reports_counts(tmp_path):
    out = tmp_path / "rows.jsonl"
    proc = run_cli("agent", "synth", "-o", str(out), "--app", "notes", "--per-family", "3", "--multi", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    written = read_rows(out)
    assert report["kept"] == len(written) > 0 and {r["app"] for r in written} == {"notes"}
    proc = run_cli("agent", "synth", "-o", str(out), "--app", "nope")
    assert proc.returncode == 2 and "unknown app" in proc.stderr


def test_teacher_proposals_go_through_the_ledger_and_the_simulator(tmp_path):
    """A real HTTP server (echo mode: it answers with the prompt, whose example lines are proposals)."""
    from apps.gui_agent.synth.teacher import parse_drafts, propose
    from cloud_bridge.ledger import Ledger
    from tests.cloud_bridge.fakecloud import FakeCloud

    cloud = FakeCloud(None).start()
    cloud.reset("echo")
    try:
        shots = generate(["notes"], per_family=1, multi=0, seed=1)[0][:3]
        drafts, unparsed = propose("notes", shots, n=5, url=cloud.url)
    finally:
        cloud.stop()
    assert [d.task for d in drafts] == [s["task"] for s in shots] and unparsed >= 1  # the state line is no task
    assert any("teacher" in e["purpose"] for e in Ledger().entries())
    rows, _ = generate(["settings"], per_family=1, multi=0, extra=drafts)
    assert {r["task"] for r in rows if r["family"] == "teacher"} == {s["task"] for s in shots}
    wrong, bad = parse_drafts("notes", '{"task": "Pin x", "script": "$notes__new_note.tap()", "checks": 3}\nnot json')
    assert wrong == [] and bad == 1
