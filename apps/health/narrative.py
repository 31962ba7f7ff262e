"""The structured assessment and the short narrative, with a validator for every number in it.

Numbers are never left to the model. The model picks qualitative labels from enums (status,
focus) and writes one sentence that must hold no numbers; the sentences with numbers are
templates filled from the report. `unsupported_numbers` then checks that every number and date
in the narrative appears in the report (tests parse narratives with it too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from edge import EdgeError, Engine

from . import template

STATUS = {"steady": "your body looks steady", "strained": "your body shows signs of strain",
          "run_down": "you may be run down", "recovering": "you look to be recovering"}
FOCUS_NOTE = {
    "illness_onset": "Take it easy and rest if you feel unwell; see a doctor if symptoms persist.",
    "elevated_resting_hr": "Watch how you feel and favour rest over hard training for now.",
    "sleep_debt": "Protect your sleep window for the next few nights.",
    "low_spo2": "Check the watch fit, and talk to a doctor if low oxygen readings continue.",
    "activity_drop": "A short walk each day helps you get moving again.",
    "data_gap": "Wear the device daily so the picture stays complete.",
    "general": "Keep your usual routine.",
}
NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUMBER_WORDS = re.compile(r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                          r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
                          r"eighty|ninety|hundred|thousand|dozen|half|twice|double|triple|percent)\b", re.I)
#: report keys whose text is output, not evidence: numbers there must come from elsewhere
OUTPUT_KEYS = ("narrative", "recommendations", "assessment")


def _walk(obj: object) -> Iterator[object]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in OUTPUT_KEYS:
                yield from _walk(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def report_evidence(report: dict) -> tuple[set[float], set[str]]:
    """All numbers (rounded to 0.1) and ISO dates the report holds, outside its output text."""
    numbers, dates = set(), set()
    for v in _walk(report):
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            numbers.add(round(float(v), 1))
        elif isinstance(v, str):
            dates.update(DATE.findall(v))
            numbers.update(round(float(n), 1) for n in NUM.findall(DATE.sub(" ", v)))
    return numbers, dates


def unsupported_numbers(text: str, report: dict) -> list[str]:
    """Numbers and dates in `text` that the report does not contain (empty = all grounded)."""
    numbers, dates = report_evidence(report)
    bad = [d for d in DATE.findall(text) if d not in dates]
    bad += [n for n in NUM.findall(DATE.sub(" ", text)) if round(float(n), 1) not in numbers]
    return bad


def has_numbers(text: str) -> bool:
    return bool(re.search(r"\d", text) or NUMBER_WORDS.search(text))


def fmt(x: float | int) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


SYSTEM = "You are a careful, supportive health coach. You only use the facts you are given."


def facts_text(report: dict) -> str:
    """The report as short lines for a prompt (no private identifiers are ever in the report)."""
    lines = [f"Period: {report['period']['start']} to {report['period']['end']}."]
    for m, b in report["baselines"].items():
        lines.append(f"Usual {m.replace('_', ' ')}: {fmt(b['median'])} {b['unit']}.")
    for ev in report["events"]:
        lines.append(f"{ev['type'].replace('_', ' ')} ({ev['start']} to {ev['end']}): {ev['explanation']}")
    if not report["events"]:
        lines.append("No unusual events.")
    return "\n".join(lines)


def messages(report: dict, task: str) -> list[dict]:
    """System and facts first, the task last: calls on one report share a prompt prefix (KV reuse)."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Facts:\n{facts_text(report)}\n\nTask: {task}"}]


def assess_with_model(engine: Engine, report: dict, seed: int = 0) -> dict:
    """{status, focus}: qualitative labels the model picks from enums; the note is the focus's template."""
    focus = sorted({ev["type"] for ev in report["events"]}) + ["general"]
    task = "Give the person's overall status and the one thing to focus on."
    out = {"status": rule_status(report), "focus": focus[0], "note": None, "source": "rules"}
    fields = [("status", {"enum": list(STATUS)}), ("focus", {"enum": focus})]
    try:
        got = template.parse_fields(template.fill(engine, messages(report, task), fields, seed, 0.3))
    except EdgeError:
        return out  # the rule-based labels stand
    if got.get("status") in STATUS and got.get("focus") in focus:
        out.update(status=got["status"], focus=got["focus"], source="model")
    return out


def rule_status(report: dict) -> str:
    recent = [ev["type"] for ev in report["events"] if ev["end"] >= report["period"]["recent_from"]]
    if "illness_onset" in recent or "low_spo2" in recent:
        return "run_down"
    if recent and recent != ["data_gap"]:
        return "strained"
    return "recovering" if report["events"] else "steady"


def write_narrative(report: dict, assessment: dict) -> str:
    """Template sentences filled from the report, plus the model's number-free note."""
    p, base, latest = report["period"], report["baselines"], report["latest"]
    parts = [f"Overall, {STATUS[assessment['status']]}."]
    if "resting_hr" in base and "sleep_asleep_min" in base:
        parts.append(f"From {p['start']} to {p['end']} your usual resting heart rate was "
                     f"{fmt(base['resting_hr']['median'])} bpm and you usually slept "
                     f"{fmt(base['sleep_asleep_min']['median'])} minutes.")
    if latest.get("steps") is not None:
        parts.append(f"On {latest['date']} you walked {latest['steps']} steps.")
    for ev in report["events"][-5:]:
        span = ev["start"] if ev["start"] == ev["end"] else f"{ev['start']} to {ev['end']}"
        parts.append(f"{span}: {ev['explanation']}")
    preds = report.get("predictions") or {}
    if preds:
        said = [f"{k.replace('_', ' ')} {fmt(v['value'])} of {v['high']}" if v["value"] != "uncertain"
                else f"{k.replace('_', ' ')} uncertain" for k, v in preds.items()]
        parts.append("Estimated today: " + ", ".join(said) + ".")
    parts.append(assessment.get("note") or FOCUS_NOTE[assessment["focus"]])
    return " ".join(parts)
