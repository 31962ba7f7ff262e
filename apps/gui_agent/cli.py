"""`edgesplit agent`: GUI automation by on-device script generation, over simulated apps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge.commands.options import RuntimeChoice, runtime_options

from .errors import GuiAgentError


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


@click.group()
def agent() -> None:
    """Automate the shipped simulated apps with scripts written by the local model.

    \b
    Examples:
      edgesplit agent apps
      edgesplit agent run --app clock "Turn off the Work alarm"
      edgesplit agent exec --app notes --script pin.txt
      edgesplit agent bench --limit 8 --json
    """


@agent.command("apps")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def apps_cmd(as_json: bool) -> None:
    """List the shipped apps with their screens and element counts.

    \b
    Examples:
      edgesplit agent apps
      edgesplit agent apps --json
    """
    from .sim import APPS, app_doc

    rows = []
    for name in APPS:
        doc = app_doc(name)
        rows.append({"app": name, "package": doc.package, "description": doc.description,
                     "screens": [s.name for s in doc.screens], "elements": len(doc.element_names)})
    if as_json:
        _echo_json({"apps": rows})
        return
    for r in rows:
        click.echo(f"{r['app']:<10} {r['elements']:>3} elements  {', '.join(r['screens'])}  - {r['description']}")


def _print_actions(actions: list) -> None:
    for i, a in enumerate(actions, 1):
        result = f" -> {a.result!r}" if a.result is not None else ""
        click.echo(f"{i:>3}. {a}{result}")


@agent.command("exec")
@click.option("--app", "app_name", required=True, help="App to run the script against (see `agent apps`).")
@click.option("--script", "script_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Script file (`-` reads standard input).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def exec_cmd(app_name: str, script_file: Path, as_json: bool) -> None:
    """Run a hand-written script in the sandbox; print the actions and the final app state.

    Exits with status 1 and the line and reason when the sandbox stops the script.

    \b
    Examples:
      edgesplit agent exec --app clock --script work_off.txt
      echo '$settings__network.tap()' | edgesplit agent exec --app settings --script - --json
    """
    from .agent import execute

    try:
        source = sys.stdin.read() if str(script_file) == "-" else script_file.read_text()
    except OSError as exc:
        raise GuiAgentError(f"cannot read script {script_file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise GuiAgentError(f"script {script_file} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    env, result = execute(app_name, source)
    if as_json:
        _echo_json({"app": app_name, "ok": result.ok, "error": result.error_dict(), "output": result.output,
                    "actions": [a.to_dict() for a in env.log], "screen": env.screen, "state": env.state})
    else:
        _print_actions(env.log)
        for line in result.output:
            click.echo(f"print: {line}")
        click.echo(f"final state: {json.dumps(env.state, ensure_ascii=False)}")
    if not result.ok:
        e = result.error
        click.echo(f"stopped at line {e.line}: {e.reason}" + (f"\n    {e.source_line}" if e.source_line else ""),
                   err=True)
        sys.exit(1)


@agent.command("run")
@click.argument("task")
@click.option("--app", "app_name", required=True, help="App to automate (see `agent apps`).")
@click.option("-m", "--model", default="default", show_default=True, help="Model: `default`, a .gguf or a bundle.")
@click.option("--no-constrain", is_flag=True, help="Let the model write free text instead of grammar-constrained scripts.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@runtime_options
def run_cmd(task: str, app_name: str, model: str, no_constrain: bool, as_json: bool, runtime: RuntimeChoice) -> None:
    """Have the local model write a script for TASK, run it, and repair it up to twice.

    \b
    Examples:
      edgesplit agent run --app settings "Turn off Wi-Fi"
      edgesplit agent run --app notes --json "Pin the Shopping list note"
      edgesplit agent run --app clock -m ./models/qwen2.5-1.5b.gguf "Set an alarm for 6:45"
    """
    from .agent import solve
    from .sim import check_app

    check_app(app_name)
    with runtime.load(model) as engine:
        run = solve(engine, app_name, task, constrain=not no_constrain)
    if as_json:
        _echo_json(run.to_dict())
        return
    for i, attempt in enumerate(run.attempts):
        click.echo(f"--- script (attempt {i + 1}) ---\n{attempt.script}")
        if attempt.error:
            click.echo(f"stopped at line {attempt.error['line']}: {attempt.error['reason']}")
    _print_actions(run.actions)
    m = run.metrics()
    click.echo(f"{'done' if run.ok else 'failed'}: {m['tokens_in']} tokens in, {m['tokens_out']} out, "
               f"{m['latency_ms']:.0f} ms, {m['repairs']} repairs")
    click.echo(f"final state: {json.dumps(run.state, ensure_ascii=False)}")


@agent.command("bench")
@click.option("-m", "--model", "models", multiple=True, default=("default",), show_default=True,
              help="Model: `default`, a .gguf or a bundle. Repeat it to compare models side by side.")
@click.option("--limit", type=int, default=None, help="Run only N tasks (spread over the apps).")
@click.option("--app", "app_name", default=None, help="Only the tasks of this app.")
@click.option("--no-constrain", is_flag=True, help="Unconstrained generation (free text).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@click.option("-v", "--verbose", is_flag=True, help="Print each task's result to stderr as it finishes.")
@runtime_options
def bench_cmd(models: tuple[str, ...], limit: int | None, app_name: str | None, no_constrain: bool, as_json: bool,
              verbose: bool, runtime: RuntimeChoice) -> None:
    """Run the task benchmark: success rate, tokens in/out, latency, per-task actions.

    With several -m, every model runs the same tasks and a side-by-side table follows
    (success rate, script-ran rate, tokens, latency; --json: {"reports": [...], "comparison": {...}}).

    \b
    Examples:
      edgesplit agent bench
      edgesplit agent bench --limit 4 --json
      edgesplit agent bench --no-constrain -m ./models/other.gguf
      edgesplit agent bench -m default -m ./bundles/distilled-q8
    """
    from .bench import compare, run_bench
    from .sim import check_app

    if app_name is not None:
        check_app(app_name)
    if limit is not None and limit <= 0:
        raise GuiAgentError("--limit must be a positive number of tasks")
    def progress(r: dict) -> None:
        click.echo(json.dumps(r, ensure_ascii=False), err=True)

    reports = []
    for model in models:
        with runtime.load(model) as engine:
            reports.append(run_bench(engine, constrain=not no_constrain, limit=limit, app=app_name,
                                     on_result=progress if verbose else None))
    if as_json:
        _echo_json(reports[0] if len(reports) == 1 else {"reports": reports, "comparison": compare(reports)})
        return
    for report in reports:
        _print_report(report, len(reports) > 1)
    if len(reports) > 1:
        _print_comparison(compare(reports), [Path(m).name or m for m in models])


def _print_report(report: dict, header: bool) -> None:
    if header:
        click.echo(f"== {report['model']}")
    for r in report["results"]:
        click.echo(f"{'PASS' if r['success'] else 'FAIL'} {r['id']:<12} {r['tokens_in']:>5} in {r['tokens_out']:>4} out "
                   f"{r['latency_ms']:>7.0f} ms  {r['task']}")
    click.echo(f"success_rate {report['success_rate']:.3f} ({report['succeeded']}/{report['tasks']}), "
               f"mean tokens in {report['mean_tokens_in']}, out {report['mean_tokens_out']}, "
               f"latency {report['mean_latency_ms']:.0f} ms, constrained={report['constrained']}")


def _print_comparison(cmp: dict, names: list[str]) -> None:
    width = max(12, *(len(n) for n in names))
    click.echo("\n" + f"{'':<16}" + "".join(f"{n:>{width + 2}}" for n in names))
    for key, values in cmp["figures"].items():
        click.echo(f"{key:<16}" + "".join(f"{v:>{width + 2}}" for v in values))
    click.echo(f"tasks where the models differ: {len(cmp['tasks_that_differ'])}")


@agent.command("synth")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL file to write the verified training rows to.")
@click.option("--app", "apps", multiple=True, help="Only this app (repeatable; default: all shipped apps).")
@click.option("--per-family", type=click.IntRange(1, 10_000), default=30, show_default=True,
              help="Candidates drawn from each task family of each app.")
@click.option("--multi", type=click.IntRange(0, 10_000), default=40, show_default=True,
              help="Multi-step candidates (two tasks in one) per app.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for values and paraphrases.")
@click.option("--teacher", default=None, metavar="URL",
              help="OpenAI-compatible server whose model also proposes tasks (through cloud_bridge: "
                   "redacted and ledgered). The simulator still decides what is kept.")
@click.option("--teacher-tasks", type=click.IntRange(1, 500), default=20, show_default=True,
              help="Tasks asked of the teacher per app.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def synth_cmd(out: Path, apps: tuple[str, ...], per_family: int, multi: int, seed: int, teacher: str | None,
              teacher_tasks: int, as_json: bool) -> None:
    """Generate verified (task, script) training rows from the app docs (for `edgesplit distill`).

    Each candidate's script runs in the sandboxed simulator and is kept only when the final
    state passes the task's checks; tasks and scripts of the benchmark are never kept.

    \b
    Examples:
      edgesplit agent synth -o agent-data.jsonl
      edgesplit agent synth -o clock.jsonl --app clock --per-family 60 --seed 1 --json
      edgesplit agent synth -o more.jsonl --teacher http://127.0.0.1:8080/v1
    """
    from .synth import check_heldout, generate, write_rows

    extra = _teacher_drafts(list(apps), teacher, teacher_tasks, seed) if teacher else []
    rows, stats = generate(apps or None, per_family=per_family, multi=multi, seed=seed, extra=extra)
    check_heldout(rows)
    write_rows(rows, out)
    report = {"out": str(out), **stats.to_dict()}
    if as_json:
        _echo_json(report)
        return
    click.echo(f"kept {stats.kept} of {stats.proposed} candidates -> {out}")
    for why, n in sorted(stats.dropped.items(), key=lambda kv: -kv[1]):
        click.echo(f"  dropped {n:>4}: {why}")


def _teacher_drafts(apps: list[str], url: str, n: int, seed: int) -> list:
    """The teacher's proposals for each app, shown three verified rows of that app as examples."""
    from .sim import APPS
    from .synth import generate
    from .synth.teacher import propose

    drafts = []
    for app in apps or list(APPS):
        shots = generate([app], per_family=1, multi=0, seed=seed)[0][:3]
        drafts += propose(app, shots, n, url=url)[0]
    return drafts


@agent.command("skeleton")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--app", "app_name", required=True, help="Name of the app the doc describes.")
def skeleton_cmd(dumps: tuple[Path, ...], app_name: str) -> None:
    """Print a doc skeleton (JSON) from uiautomator XML dumps, one per screen (file stem = screen).

    The first dump is the home screen. Effects, `opens` targets and paths are left for you to fill in.

    \b
    Examples:
      adb shell uiautomator dump /sdcard/home.xml && adb pull /sdcard/home.xml
      edgesplit agent skeleton --app myapp home.xml settings.xml > myapp.json
    """
    from .uitree import skeleton_from_dumps

    click.echo(json.dumps(skeleton_from_dumps({p.stem: p.read_text() for p in dumps}, app_name), indent=1))
