"""Generation: the prompt, the grammar constraint, the repair loop, and the benchmark on SmolLM2."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from apps.gui_agent.agent import build_messages, solve
from apps.gui_agent.bench import run_bench
from apps.gui_agent.doc import AppDoc
from apps.gui_agent.grammar import script_grammar
from apps.gui_agent.sim import app_doc
from edge import Chunk
from edge.constrain import to_gbnf
from edge.errors import InvalidRequestError
from edge.sampling import SamplingParams


@dataclass
class _Result:
    prompt_tokens: int = 100


class ScriptedEngine:
    """Streams canned texts, one token per line, and records what it was sent.

    Only for the agent's control flow (repair after an error, a repeated line, a cut mid-name):
    a real model cannot be steered into a given failure on every build. Whatever runs the
    model for real uses `default_engine`. An answer may be (text, finish_reason).
    """

    name = "scripted"

    def __init__(self, answers: list[str | tuple[str, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[dict], dict]] = []

    def stream(self, messages, **kwargs):
        self.calls.append((messages, kwargs))
        answer = self.answers[len(self.calls) - 1]
        text, finish = answer if isinstance(answer, tuple) else (answer, "stop")
        for line in text.splitlines(keepends=True):
            yield Chunk(line, [1])
        yield Chunk("", [], finish, _Result())

    def tokenize(self, messages) -> list[int]:
        return [0] * 100


def test_prompt_has_rules_doc_examples_and_task():
    messages = build_messages(app_doc("notes"), "Pin the Packing note")
    system, user = messages[0]["content"], messages[1]["content"]
    assert "$notes__note_list (list)" in system and "Examples:" in system and "# plan:" in system
    assert user == "Task: Pin the Packing note\nScript:"


def test_repairs_show_the_failing_line_and_error_then_stop_after_two():
    bad = '# plan\n$notes__new_note.tap()\n$note_editor__titel.set_text("x")\n'
    # scripted: three failures in a row on purpose; a real model may well fix the script
    engine = ScriptedEngine([bad, bad, bad, "never used"])
    run = solve(engine, "notes", "Write a note", constrain=True)
    assert len(run.attempts) == 3 and not run.ok
    repair = engine.calls[1][0][-1]["content"]
    assert "line 3" in repair and '$note_editor__titel.set_text("x")' in repair and "unknown element" in repair
    assert engine.calls[1][0][-2] == {"role": "assistant", "content": bad}
    assert "grammar" in engine.calls[0][1]
    assert run.metrics()["tokens_in"] == 300 and run.metrics()["tokens_out"] == 9 and run.metrics()["repairs"] == 2


def test_a_repeated_line_ends_the_script():
    # scripted: a real model repeats lines on some builds and prompts, not on demand
    engine = ScriptedEngine(["# plan\n$network__wifi.tap()\n$settings__sound.tap()\n$settings__sound.tap()\n"
                             "$settings__sound.tap()\n"])
    run = solve(engine, "settings", "Turn off Wi-Fi")
    assert run.script == "# plan\n$network__wifi.tap()\n$settings__sound.tap()"
    assert run.ok and run.metrics()["tokens_out"] == 4


def test_a_repaired_script_succeeds_and_state_is_kept():
    good = '```python\n$notes__note_list.match("Packing").long_tap()\n$note_menu__pin.tap()\n```'
    # scripted: one wrong row name, then the right script, in that order
    engine = ScriptedEngine(['$notes__note_list.match("Packs").long_tap()', good])
    run = solve(engine, "notes", "Pin the Packing note", constrain=False)
    assert run.ok and len(run.attempts) == 2
    assert "grammar" not in engine.calls[0][1]
    assert any(n["title"] == "Packing" and n["pinned"] for n in run.state["notes"])
    assert [a.action for a in run.actions] == ["long_tap", "tap"]


def test_grammar_allows_only_doc_elements_and_their_actions():
    doc = app_doc("settings")
    gbnf = to_gbnf(script_grammar(doc))
    names = set(re.findall(r'"\$([a-z_]+)"', gbnf))
    assert names and names <= set(doc.element_names)
    assert '"$settings__device_name"' not in gbnf  # text elements cannot be acted on
    assert '"$network__wifi" ".tap()"' in gbnf and '"\\"Marimba\\""' in gbnf
    SamplingParams(grammar=script_grammar(doc))  # accepted by the engine's parameters
    with pytest.raises(InvalidRequestError, match="not both"):
        SamplingParams(grammar=script_grammar(doc), json_schema={"type": "string"})
    with pytest.raises(InvalidRequestError, match="Grammar"):
        SamplingParams(grammar="root ::= [a-z]+")


def _refs(text: str) -> set[str]:
    """Element names a script refers to: string literals (the grammar's "...") and comments are not code."""
    return set(re.findall(r"\$([A-Za-z_0-9]+)", re.sub(r'"[^"\n]*"|#[^\n]*', '""', text)))


def _assert_attempts_sound(attempts, doc: AppDoc) -> None:
    """What holds on any correct build: a cut attempt is reported and not run; a run one names doc elements."""
    for a in attempts:
        assert a.text.startswith("# ")  # the grammar's plan line
        complete = a.text[: a.text.rfind("\n") + 1]  # whole lines are whole grammar lines, cut or not
        assert _refs(complete) <= set(doc.element_names), complete
        if a.truncated:
            assert a.finish_reason == "length" and a.actions == [] and not a.ok
            assert a.error["type"] == "ScriptTruncated"
        else:
            assert a.finish_reason in ("stop", "repeat")
            assert _refs(a.script) <= set(doc.element_names), a.script  # `back()` alone names none
            assert a.script.count("\n") >= 1  # the plan line and at least one action line


def test_constrained_generation_names_only_doc_elements(default_engine):
    doc = app_doc("clock")
    run = solve(default_engine, "clock", "Turn off the Work alarm", max_tokens=48, max_repairs=1)
    assert 1 <= len(run.attempts) <= 2
    _assert_attempts_sound(run.attempts, doc)
    assert run.metrics()["tokens_in"] > 0 and run.metrics()["tokens_out"] > 0


def test_a_generation_cut_by_max_tokens_is_reported_and_not_run(default_engine):
    doc = app_doc("clock")
    # 6 tokens cannot hold the few-shot "# plan: ..." line and an action line: the budget cuts it
    run = solve(default_engine, "clock", "Turn off the Work alarm", max_tokens=6, max_repairs=0)
    (attempt,) = run.attempts
    assert attempt.finish_reason == "length" and attempt.truncated and not run.ok
    assert "token limit" in attempt.error["reason"] and run.actions == [] and run.state == {}
    _assert_attempts_sound(run.attempts, doc)


def test_a_script_cut_mid_name_is_not_run_and_the_repair_asks_for_a_shorter_one():
    # issue 13: the budget ended the script inside an element name
    cut = '# plan: turn off the work alarm\n$alarms__alarm_list.match("Work").tap()\n$edit_alarm__'
    good = '# plan: turn off the work alarm\n$alarms__alarm_list.match("Work").tap()\n$edit_alarm__enabled.tap()\n'
    engine = ScriptedEngine([(cut, "length"), good])
    run = solve(engine, "clock", "Turn off the Work alarm")
    first, second = run.attempts
    assert first.truncated and first.actions == [] and first.error["type"] == "ScriptTruncated"
    assert first.error["line"] == 3 and first.error["source"] == "$edit_alarm__"
    repair = engine.calls[1][0][-1]["content"]
    assert "cut by the token limit" in repair and "shorter" in repair
    assert not second.truncated and second.ok and run.ok
    assert [a.element for a in run.actions if not a.auto][-1] == "edit_alarm__enabled"


@pytest.mark.slow
def test_benchmark_runs_end_to_end_on_the_default_model(default_engine):
    seen = []
    # one repair at most: a script cut by the token budget now costs a repair, not a half-run script
    report = run_bench(default_engine, constrain=True, limit=3, max_repairs=1, on_result=seen.append)
    assert report["tasks"] == 3 and len(report["results"]) == 3 and seen == report["results"]
    assert 0.0 <= report["success_rate"] <= 1.0
    assert report["succeeded"] == sum(r["success"] for r in report["results"])
    for r in report["results"]:
        assert r["tokens_in"] > 0 and r["tokens_out"] > 0 and r["latency_ms"] > 0
        assert 0 <= r["repairs"] <= 1 and isinstance(r["actions"], list)
        assert r["success"] == (not r["failures"]) and (r["script_ran"] or not r["success"])
    assert report["mean_tokens_in"] > 0 and report["model"]
