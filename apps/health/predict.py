"""PMData-style predictions on the local model: readiness 0-10, fatigue, stress, sleep quality 1-5.

The prompt is a fixed template, instructions first and data last (so calls share a cached
prefix), over the last 14 days of steps, calories, resting HR and sleep minutes (missing days
written `NA`, never 0). The answer is a fixed template (`readiness: 7`
lines) whose values the model fills, each constrained to its integer range (`template.fill`). It
is still parsed and range-checked, because a backend without a grammar engine fills it
unconstrained; an answer out of range or unparsable is resampled with the next seed (warmer),
then reported as "uncertain".
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from edge import EdgeError, Engine

from . import template
from .analysis import Timeline

DAYS = 14
TARGETS: dict[str, tuple[int, int]] = {"readiness": (0, 10), "fatigue": (1, 5), "stress": (1, 5),
                                       "sleep_quality": (1, 5)}
# the instructions first, the data last: every assessment shares the prompt up to the data (prompt cache)
TEMPLATE = """Rate one person today from their wearable data below. Answer with exactly these fields:
readiness: an integer from 0 (not ready) to 10 (fully ready)
fatigue: an integer from 1 (none) to 5 (extreme)
stress: an integer from 1 (none) to 5 (extreme)
sleep_quality: an integer from 1 (very poor) to 5 (excellent)

The last {n} days of data, oldest first (NA = not measured):
steps: {steps}
active calories (kcal): {active_kcal}
resting heart rate (bpm): {resting_hr}
sleep (minutes asleep): {sleep_asleep_min}"""
SYSTEM = "You are a careful health assistant. Reply only in the requested answer format."
LINE = re.compile(r"\b(readiness|fatigue|stress|sleep[_ ]quality)\b\s*[:=]\s*(-?\d+)", re.I)


@dataclass
class Prediction:
    value: int | str  # an integer in range, or "uncertain"
    low: int
    high: int
    attempts: int


def prompt(tl: Timeline) -> list[dict]:
    cols = {}
    for metric in ("steps", "active_kcal", "resting_hr", "sleep_asleep_min"):
        vals = tl.values(metric)[-DAYS:]
        cols[metric] = ", ".join("NA" if v is None else f"{v:g}" for v in vals)
    n = min(DAYS, len(tl.dates))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TEMPLATE.format(n=n, **cols)}]


def parse_answer(text: str) -> dict[str, int]:
    """Fields that parse as integers in range, from a JSON object or `name: value` lines."""
    found: dict[str, object] = {}
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            found = obj
    except json.JSONDecodeError:
        found = {m[1].lower().replace(" ", "_"): m[2] for m in LINE.finditer(text)}
    out = {}
    for key, (lo, hi) in TARGETS.items():
        v = found.get(key)
        try:
            iv = int(v) if not isinstance(v, bool) and v is not None and float(v) == int(float(v)) else None
        except (TypeError, ValueError):
            iv = None
        if iv is not None and lo <= iv <= hi:
            out[key] = iv
    return out


def predict(engine: Engine, tl: Timeline, seed: int = 0, temperature: float = 0.3, tries: int = 3,
            max_tokens: int = 4) -> dict[str, Prediction]:
    """Fill the template; resample (next seed, warmer) while fields are missing, then "uncertain"."""
    messages = prompt(tl)
    fields = [(k, {"type": "integer", "minimum": lo, "maximum": hi}) for k, (lo, hi) in TARGETS.items()]
    got: dict[str, int] = {}
    attempts: dict[str, int] = dict.fromkeys(TARGETS, 0)
    constrained = True
    for attempt in range(tries):
        temp = temperature if attempt == 0 else 0.8
        try:
            text = template.fill(engine, messages, fields, seed + attempt, temp, constrained, max_tokens)
        except EdgeError:
            if not constrained:
                raise
            constrained = False  # no grammar engine: the same template, parsed instead
            text = template.fill(engine, messages, fields, seed + attempt, temp, constrained, max_tokens)
        for key in TARGETS:
            if key not in got:
                attempts[key] += 1
        for key, value in parse_answer(text).items():
            got.setdefault(key, value)
        if len(got) == len(TARGETS):
            break
    return {k: Prediction(got.get(k, "uncertain"), lo, hi, attempts[k]) for k, (lo, hi) in TARGETS.items()}


def to_json(preds: dict[str, Prediction]) -> dict[str, dict]:
    return {k: asdict(p) for k, p in preds.items()}
