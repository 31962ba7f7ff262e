"""`edgesplit health`: private health monitoring from wearable exports, on this device."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from edge.commands.options import RuntimeChoice, runtime_options

from .importers import IMPORTERS, import_file
from .schema import ImportResult

FORMATS = click.Choice(list(IMPORTERS))


def _load(file: str, fmt: str | None, tz: str | None) -> ImportResult:
    result = import_file(file, fmt, tz)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if result.partial:
        click.echo(f"warning: partial import: {result.skipped} of {result.records} records skipped or "
                   "unreadable (see the warnings above)", err=True)
    return result


def _source_options(f):
    f = click.option("--format", "fmt", type=FORMATS, help="Export format (detected when omitted).")(f)
    return click.option("--tz", help="IANA time zone for formats that stamp in UTC (Fitbit).")(f)


@click.group()
def health() -> None:
    """Private health monitoring from wearable exports (Apple Health, Fitbit, Health Connect, CSV).

    Everything runs on this device; no personal number leaves it.

    \b
    Examples:
      edgesplit health import export.zip --json
      edgesplit health assess export.zip
      edgesplit health ask export.zip "How did I sleep this week?"
      edgesplit health synth demo.zip --days 42
    """


@health.command("import")
@click.argument("file", type=click.Path(exists=True))
@_source_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per day.")
def import_cmd(file: str, fmt: str | None, tz: str | None, as_json: bool) -> None:
    """Read an export into canonical daily records (missing values are null).

    FILE is an Apple Health export.zip or export.xml, a Fitbit/Takeout folder or zip, a Health
    Connect .db (or its zip), or a CSV with a `date` column and any of: steps, active_kcal,
    resting_hr, hrv_ms, hrv_kind, spo2_pct, sleep_deep_min, sleep_light_min, sleep_rem_min,
    sleep_asleep_min, sleep_awake_min, sleep_efficiency, mood, fatigue (units in brackets, e.g.
    `active_kcal [kJ]`, `sleep_asleep_min [h]`).

    \b
    Examples:
      edgesplit health import export.zip --json
      edgesplit health import takeout/ --format fitbit --tz Europe/Berlin
      edgesplit health import days.csv
    """
    result = _load(file, fmt, tz)
    if as_json:
        click.echo(json.dumps([d.to_json() for d in result.days], indent=1))
        return
    click.echo(f"{result.format}: {len(result.days)} days, {result.records} records read")
    for d in result.days:
        click.echo(f"{d.date}  steps={d.steps}  rhr={d.resting_hr}  hrv={d.hrv_ms}  "
                   f"sleep={d.sleep_asleep_min}  spo2={d.spo2_pct}")


@health.command()
@click.argument("file", type=click.Path(exists=True))
@_source_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--model", default="default", show_default=True, help="Local model for the language tasks.")
@click.option("--no-model", is_flag=True, help="Numbers and rules only: no predictions, no model.")
@click.option("--seed", default=0, show_default=True, help="Seed for the model's sampling.")
@runtime_options
def assess(file: str, fmt: str | None, tz: str | None, as_json: bool, model: str, no_model: bool, seed: int,
           runtime: RuntimeChoice) -> None:
    """Baselines, events with evidence, predictions and a short narrative for an export.

    \b
    Examples:
      edgesplit health assess export.zip
      edgesplit health assess days.csv --json
      edgesplit health assess export.xml --no-model --json
    """
    from .report import build_report

    report = build_report(_load(file, fmt, tz), None if no_model else runtime.load(model), seed=seed)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(report["narrative"])
    for ev in report["events"]:
        click.echo(f"- {ev['type']} {ev['start']}..{ev['end']}: {ev['explanation']}")
    for tip in report["recommendations"]["tips"]:
        click.echo(f"* {tip['text']}")


@health.command()
@click.argument("file", type=click.Path(exists=True))
@click.argument("question")
@_source_options
@click.option("--cloud", is_flag=True, help="Send general-knowledge questions (redacted, no numbers) "
              "through cloud_bridge.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--model", default="default", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--max-tokens", default=48, show_default=True, help="Length limit of the model's part of the answer.")
@runtime_options
def ask(file: str, question: str, fmt: str | None, tz: str | None, cloud: bool, as_json: bool, model: str,
        seed: int, max_tokens: int, runtime: RuntimeChoice) -> None:
    """Answer a follow-up question from the same report, on this device.

    \b
    Examples:
      edgesplit health ask export.zip "How did I sleep last week?"
      edgesplit health ask days.csv "Why does HRV drop when you are ill?" --cloud
    """
    from .coach import ask as answer
    from .coach import cloud_bridge_hook
    from .report import build_report

    result = _load(file, fmt, tz)
    report = build_report(result, None)  # the deterministic facts are what answers are grounded in
    hook = cloud_bridge_hook(result.private) if cloud else None
    out = answer(runtime.load(model), report, question, cloud=hook, private=result.private, seed=seed,
                 max_tokens=max_tokens)
    click.echo(json.dumps(out, indent=1) if as_json else out["answer"])


@health.command()
@click.argument("file", type=click.Path(exists=True))
@_source_options
def private(file: str, fmt: str | None, tz: str | None) -> None:
    """List the personal identifiers found in an export (as JSON), for a redaction profile.

    \b
    Examples:
      edgesplit health private export.zip
    """
    click.echo(json.dumps(import_file(file, fmt, tz).private.to_json(), indent=1))


@health.command()
@click.argument("out", type=click.Path())
@click.option("--days", default=42, show_default=True, help="Number of days.")
@click.option("--events", default="illness,sleep_debt,low_spo2,activity_drop,gap", show_default=True,
              help="Comma-separated events to plant, in order.")
@click.option("--format", "fmt", type=FORMATS, help="Output format (from OUT's suffix: .xml/.zip Apple, "
              ".db Health Connect, .csv CSV, a folder Fitbit).")
@click.option("--seed", default=0, show_default=True)
@click.option("--end", help="Last day, YYYY-MM-DD (default: yesterday).")
@click.option("--hr-per-hour", default=0, show_default=True, help="Apple only: heart-rate samples per hour "
              "(padding, to make large files).")
def synth(out: str, days: int, events: str, fmt: str | None, seed: int, end: str | None, hr_per_hour: int) -> None:
    """Write a SYNTHETIC export (not anyone's data) with planted events, for tests and demos.

    Prints the planted events as JSON.

    \b
    Examples:
      edgesplit health synth demo.zip --days 42
      edgesplit health synth fitbit-demo/ --days 30 --events illness,gap
      edgesplit health synth demo.csv --days 14 --events illness
    """
    from . import synth_formats
    from .synth import generate

    names = tuple(e.strip() for e in events.split(",") if e.strip())
    history, planted = generate(days, names, seed, date.fromisoformat(end) if end else None)
    path = Path(out)
    fmt = fmt or synth_formats.format_for(path)
    if fmt == "apple":
        synth_formats.write_apple(path, history, hr_per_hour=hr_per_hour)
    else:
        synth_formats.WRITERS[fmt](path, history)
    click.echo(json.dumps({"format": fmt, "path": str(path), "synthetic": True, "events": [
        {"type": p.type, "start": p.start.isoformat(), "end": p.end.isoformat()} for p in planted]}, indent=1))
