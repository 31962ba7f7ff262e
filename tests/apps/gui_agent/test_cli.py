"""`edgesplit agent ...` through the real entry point."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_apps_json_lists_the_shipped_apps():
    out = run_cli("agent", "apps", "--json")
    assert out.returncode == 0, out.stderr
    apps = {a["app"]: a for a in json.loads(out.stdout)["apps"]}
    assert {"clock", "contacts", "notes", "settings"} <= set(apps)
    assert "edit_alarm" in apps["clock"]["screens"] and apps["clock"]["elements"] > 5


def test_exec_prints_actions_and_final_state(tmp_path):
    script = tmp_path / "pin.txt"
    script.write_text('$notes__note_list.match("Packing").long_tap()\n$note_menu__pin.tap()\n')
    out = run_cli("agent", "exec", "--app", "notes", "--script", str(script))
    assert out.returncode == 0, out.stderr
    assert "$notes__note_list.long_tap(3) @ notes" in out.stdout and "final state:" in out.stdout
    data = json.loads(run_cli("agent", "exec", "--app", "notes", "--script", str(script), "--json").stdout)
    assert data["ok"] and [a["action"] for a in data["actions"]] == ["long_tap", "tap"]
    assert any(n["title"] == "Packing" and n["pinned"] for n in data["state"]["notes"])


def test_exec_stops_with_line_and_reason(tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text('$settings__network.tap()\nimport os\n')
    out = run_cli("agent", "exec", "--app", "settings", "--script", str(script))
    assert out.returncode == 1
    assert "stopped at line 2: import is not allowed" in out.stderr
    assert "$settings__network.tap()" in out.stdout  # the actions taken before the stop
    data = json.loads(run_cli("agent", "exec", "--app", "settings", "--script", str(script), "--json").stdout)
    assert data["error"]["line"] == 2 and data["error"]["type"] == "SandboxViolation"


@pytest.mark.parametrize("args, message", [
    (("exec", "--app", "calendar", "--script", "-"), "unknown app 'calendar'"),
    (("exec", "--app", "notes", "--script", "/nonexistent/script.txt"), "cannot read script"),
    (("bench", "--limit", "0"), "--limit must be a positive"),
    (("run", "--app", "calendar", "Do it"), "unknown app 'calendar'"),
])
def test_bad_arguments_exit_2_with_a_clear_error(args, message):
    out = run_cli("agent", *args, input="")
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and message in out.stderr


def test_help_has_examples():
    for cmd in ("run", "exec", "apps", "bench"):
        out = run_cli("agent", cmd, "--help")
        assert out.returncode == 0 and "Examples:" in out.stdout


@pytest.mark.slow
def test_bench_limit_one_json_on_the_default_model():
    out = run_cli("agent", "bench", "--limit", "1", "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["tasks"] == 1 and set(report) >= {"success_rate", "tasks", "results", "mean_tokens_in",
                                                    "mean_tokens_out", "mean_latency_ms"}
    result = report["results"][0]
    assert result["tokens_in"] > 0 and result["tokens_out"] > 0 and "actions" in result


def test_skeleton_from_dumps(tmp_path):
    from apps.gui_agent.sim import DATA

    home = tmp_path / "home.xml"
    home.write_text((DATA / "settings" / "screens" / "settings.xml").read_text())
    out = run_cli("agent", "skeleton", "--app", "mysettings", str(home))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["home"] == "home" and "home__network" in [e["name"] for e in doc["screens"][0]["elements"]]
    bad = tmp_path / "Bad Name.xml"
    bad.write_text("<hierarchy/>")
    out = run_cli("agent", "skeleton", "--app", "x", str(bad))
    assert out.returncode == 2 and "lower_snake_case" in out.stderr


@pytest.mark.slow
def test_run_json_on_the_default_model():
    out = run_cli("agent", "run", "--app", "settings", "--json", "Turn off Wi-Fi", timeout=600)
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["app"] == "settings" and run["constrained"] is True and run["script"].startswith("# ")
    assert 1 <= len(run["attempts"]) <= 3 and run["tokens_in"] > 0 and "wifi" in run["state"]


def test_a_script_that_is_not_utf8_is_a_clear_error(tmp_path):
    script = tmp_path / "latin1.txt"
    script.write_bytes(b'$notes__note_list.match("caf\xe9").tap()\n')
    out = run_cli("agent", "exec", "--app", "notes", "--script", str(script))
    assert out.returncode == 2 and out.stderr.startswith("error:") and "not UTF-8" in out.stderr
