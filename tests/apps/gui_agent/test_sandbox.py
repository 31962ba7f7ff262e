"""The sandbox stops escapes, resource abuse and unknown elements, naming the line."""

from __future__ import annotations

import pytest

from apps.gui_agent.agent import execute
from apps.gui_agent.env import UIEnv
from apps.gui_agent.errors import ActionError, LimitExceeded, SandboxViolation, ScriptError, ScriptSyntaxError
from apps.gui_agent.interp import Interpreter, Limits
from apps.gui_agent.script import desugar, strip_fences
from apps.gui_agent.sim import load_app

OK_LINE = '$notes__new_note.tap()\n'


def stopped(script: str, app: str = "notes", limits: Limits | None = None) -> ScriptError:
    env = UIEnv(load_app(app))
    result = Interpreter(env, limits).run(script)
    assert not result.ok, f"script was not stopped: {script!r}"
    return result.error


@pytest.mark.parametrize("line, kind, words", [
    ("import os", SandboxViolation, "import"),
    ("from os import system", SandboxViolation, "import"),
    ("x = ().__class__", SandboxViolation, "__class__"),
    ("x = ().__class__.__bases__[0].__subclasses__()", SandboxViolation, "__class__"),
    ("f = back.__globals__", SandboxViolation, "__globals__"),
    ("x = 'a'.__class__.__mro__", SandboxViolation, "__class__"),
    ("open('/etc/passwd').read()", SandboxViolation, "open"),
    ("eval('1+1')", SandboxViolation, "eval"),
    ("exec('x = 1')", SandboxViolation, "exec"),
    ("__import__('os')", SandboxViolation, "__import__"),
    ("getattr(back, '__globals__')", SandboxViolation, "getattr"),
    ("f = lambda: 1", SandboxViolation, "lambda"),
    ("def f():\n    pass", SandboxViolation, "defining functions"),
    ("x = [i for i in range(3)]", SandboxViolation, "comprehension"),
    ("x = _secret", SandboxViolation, "_secret"),
    ("x = '%s' % 'a'", SandboxViolation, "formatting"),
    ("x = f'{1:>99999999}'", SandboxViolation, "format"),
    ("x = b'bytes'", SandboxViolation, "bytes"),
])
def test_escapes_are_refused_naming_the_line(line, kind, words):
    err = stopped(OK_LINE + line)
    assert isinstance(err, kind)
    assert err.line == 2
    assert words in err.reason
    assert str(err).startswith("line 2:")


@pytest.mark.parametrize("line, words", [
    ("while True:\n    pass", "more than 100 iterations"),
    ("for i in range(1000):\n    pass", "more than 100 iterations"),
    ("for i in range(10**9):\n    pass", "over the limit"),
    ("x = max(range(10**12))", "over the limit"),
    ("x = 'a' in range(10**12)", "over the limit"),
    ('x = "a" * 10**9', "limit"),
    ("x = [0] * 10**9", "limit"),
    ("x = 10 ** 10 ** 10", "too large"),
    ('s = "ab"\nwhile len(s) < 10**6:\n    s = s + s', "limit"),
])
def test_resource_abuse_is_stopped(line, words):
    err = stopped(OK_LINE + line)
    assert isinstance(err, LimitExceeded)
    assert words in err.reason
    assert err.line >= 2


def test_deeply_nested_expressions_are_stopped():
    err = stopped(OK_LINE + "x = " + "-" * 3000 + "1")
    assert isinstance(err, (LimitExceeded, ScriptSyntaxError))
    err = stopped(OK_LINE + "x = " + "(" * 300 + "1" + ")" * 300)
    assert isinstance(err, (LimitExceeded, ScriptSyntaxError))


def test_step_and_time_limits():
    nested = "for i in range(90):\n    for j in range(90):\n        x = i + j"
    assert "steps" in stopped(nested).reason
    # ~10**6 interpreter steps: far beyond 0.05 s however idle the machine is
    deep = "for i in range(100):\n    for j in range(100):\n        for k in range(100):\n            x = i + j + k"
    err = stopped(deep, limits=Limits(max_steps=10**9, max_seconds=0.05))
    assert "longer than" in err.reason and err.line in (2, 3, 4)


def test_action_limit_is_twenty():
    err = stopped("for i in range(30):\n    $network__wifi.tap()", app="settings")
    assert isinstance(err, LimitExceeded) and "20 actions" in err.reason and err.line == 2


def test_unknown_element_is_named_with_suggestions():
    err = stopped('$notes__new_note.tap()\n$note_editor__titel.set_text("x")')
    assert isinstance(err, ActionError) and err.line == 2
    assert "$note_editor__titel" in err.reason and "$note_editor__title" in err.reason
    assert err.source_line == '$note_editor__titel.set_text("x")'


def test_wrong_action_for_type_and_missing_row():
    assert "supports" in stopped('$notes__new_note.set_text("x")').reason
    err = stopped('$notes__note_list.match("Nonexistent").tap()')
    assert "no item" in err.reason and "Shopping list" in err.reason
    assert "out of range" in stopped("$notes__note_list[9].tap()").reason


def test_syntax_error_names_the_line():
    err = stopped('$notes__new_note.tap()\n$note_editor__title.set_text("x"')
    assert isinstance(err, ScriptSyntaxError) and err.line == 2


def test_python_tutorial_is_typed_verbatim():
    script = ('$notes__new_note.tap()\n$note_editor__title.set_text("python tutorial")\n'
              '$note_editor__body.set_text("$5 for a python tutorial # not a comment")\n$note_editor__save.tap()')
    env, result = execute("notes", script)
    assert result.ok, result.error
    note = env.state["notes"][-1]
    assert note == {"title": "python tutorial", "body": "$5 for a python tutorial # not a comment", "pinned": False}
    assert desugar('x = "$a python"  # $b') == 'x = "$a python"  # $b'
    assert strip_fences('```python\n$a.set_text("python tutorial")\n```') == '$a.set_text("python tutorial")'


def test_ordinary_control_flow_runs():
    script = ('n = 0\nfor row in $alarms__alarm_list:\n    if "on" in row.get_text():\n        n += 1\n'
              'while n > 0:\n    n -= 1\nprint(f"left {n}", len($alarms__alarm_list))\n'
              'i = $alarms__alarm_list.match("Gym")\ni.long_tap()\nback()')
    env, result = execute("clock", script)
    assert result.ok, result.error
    assert result.output == ["left 0 3"]
    assert env.state["alarms"][1]["enabled"] is True


def test_a_script_without_actions_is_not_a_success():
    _, result = execute("notes", "# only a plan\nx = 1")
    assert not result.ok and "no action" in result.error.reason
