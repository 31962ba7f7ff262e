"""Sleep recommendations and follow-up questions, grounded in the same report (SleepCoT-style).

Recommendations: the facts come from the report; the model chooses which tips fit (an enum of
tips whose conditions hold), never writing a number; each tip's numbers are filled
in from the report, with the events that motivate them. Questions: the facts that match the
question's topic come first, verbatim from the report, then the local model's short answer from
the same facts; a sentence of it citing a number the report does not hold is removed. A question that needs general knowledge
(no "I/my", e.g. "why does HRV drop when you are ill?") may go to a cloud model, but only
through a hook the caller passes (off by default), only the question, with private terms
redacted and every digit removed: personal numbers never leave the device.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from edge import EdgeError, Engine

from . import template
from .narrative import FOCUS_NOTE, fmt, messages, unsupported_numbers
from .schema import PrivateEntities

CloudHook = Callable[[str], str]
Tip = tuple[Callable[[dict], bool], Callable[[dict], str]]


def _event(report: dict, kind: str) -> dict | None:
    return next((ev for ev in reversed(report["events"]) if ev["type"] == kind), None)


def _base(report: dict, metric: str) -> str:
    return fmt(report["baselines"][metric]["median"])


TIPS: dict[str, Tip] = {
    "earlier_bedtime": (lambda r: _event(r, "sleep_debt") is not None and "sleep_asleep_min" in r["baselines"],
                        lambda r: f"Go to bed earlier until you are back to your usual "
                                  f"{_base(r, 'sleep_asleep_min')} minutes of sleep; the recent debt was "
                                  f"{_event(r, 'sleep_debt')['evidence']['debt_min']} minutes."),
    "fixed_wake_time": (lambda r: True, lambda r: "Keep the same wake-up time every day, weekends included."),
    "wind_down": (lambda r: True, lambda r: "Dim screens and lights in the last hour before bed."),
    "caffeine_cutoff": (lambda r: True, lambda r: "Avoid caffeine after lunch."),
    "rest_when_unwell": (lambda r: _event(r, "illness_onset") is not None,
                         lambda r: f"Your resting heart rate ran {_event(r, 'illness_onset')['evidence']['resting_hr_delta']}"
                                   " bpm above your baseline: sleep in and keep activity light until it settles."),
    "daylight_activity": (lambda r: "steps" in r["baselines"],
                          lambda r: f"Get outside in morning daylight; your usual day has {_base(r, 'steps')} steps."),
    "spo2_check": (lambda r: _event(r, "low_spo2") is not None,
                   lambda r: f"Blood oxygen dipped to {_event(r, 'low_spo2')['evidence']['spo2_min']}% at night: "
                             "check the watch fit and ask a doctor if it repeats."),
}


def eligible_tips(report: dict) -> list[str]:
    return [name for name, (cond, _) in TIPS.items() if cond(report)]


def recommend(engine: Engine | None, report: dict, seed: int = 0) -> dict:
    """{tips: [{id, text}], because: [facts]}: chosen by the model when there is one, else by rule."""
    ids = eligible_tips(report)
    chosen = [i for i in ids if i not in ("wind_down", "caffeine_cutoff")][:3]
    if engine is not None:
        task = "Think about what is hurting this person's sleep, then choose the best tips from: " + ", ".join(ids)
        fields = [(f"tip {n}", {"enum": ids}) for n in (1, 2, 3)]
        try:
            got = template.parse_fields(template.fill(engine, messages(report, task), fields, seed, 0.4))
            chosen = list(dict.fromkeys(v for v in got.values() if v in ids)) or chosen
        except EdgeError:
            pass  # keep the rule-based choice
    facts = [ev["explanation"] for ev in report["events"] if ev["type"] in ("sleep_debt", "illness_onset")]
    return {"tips": [{"id": i, "text": TIPS[i][1](report)} for i in chosen], "because": facts}


PERSONAL = re.compile(r"\b(i|i'm|i've|me|my|mine|myself|we|our|us)\b", re.I)
QUESTION = re.compile(r"^\s*(what|why|how|is|are|does|do|can|should|when|which)\b", re.I)
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def needs_general_knowledge(question: str) -> bool:
    """A general question about health, not about this person's data."""
    return bool(QUESTION.match(question)) and not PERSONAL.search(question)


def for_cloud(question: str, private: PrivateEntities | None) -> str:
    """What may leave the device: the question with private terms redacted and no digits at all."""
    text = question
    for term in (private.terms() if private else []):
        text = re.sub(re.escape(term), "[private]", text, flags=re.I)
    return re.sub(r"\d+(?:[.,]\d+)?", "[number]", text)


def _local_answer(engine: Engine, report: dict, question: str, seed: int, max_tokens: int) -> tuple[str, int]:
    task = f"Answer the person's question in two short sentences. Question: {question}"
    text = engine.generate(messages(report, task), max_tokens=max_tokens, temperature=0.3, seed=seed).text.strip()
    sentences = list(dict.fromkeys(s.strip() for s in SENTENCE.split(text) if s.strip()))[:3]
    kept = [s for s in sentences if not unsupported_numbers(s, report)]
    return " ".join(kept), len(sentences) - len(kept)


TOPICS = {"sleep": ("sleep_asleep_min", "sleep_debt"), "slept": ("sleep_asleep_min", "sleep_debt"),
          "tired": ("sleep_asleep_min", "sleep_debt"), "heart": ("resting_hr", "illness_onset"),
          "hrv": ("hrv_ms", "illness_onset"), "ill": ("resting_hr", "illness_onset"),
          "sick": ("resting_hr", "illness_onset"), "steps": ("steps", "activity_drop"),
          "walk": ("steps", "activity_drop"), "active": ("steps", "activity_drop"),
          "oxygen": ("spo2_pct", "low_spo2"), "spo2": ("spo2_pct", "low_spo2")}
LABEL = {"sleep_asleep_min": "sleep", "resting_hr": "resting heart rate", "hrv_ms": "HRV", "steps": "daily steps",
         "spo2_pct": "blood oxygen"}


def relevant_facts(report: dict, question: str) -> list[str]:
    """Report sentences on the question's topics (baseline, latest value, matching events)."""
    words = re.findall(r"[a-z0-9]+", question.lower())
    topics = list(dict.fromkeys(TOPICS[w] for w in words if w in TOPICS))
    out = []
    for metric, event in topics:
        base, latest = report["baselines"].get(metric), report["latest"].get(metric)
        if base is not None:
            line = f"Your usual {LABEL[metric]} is {fmt(base['median'])} {base['unit']}"
            if latest is not None:
                line += f"; on {report['latest']['date']} it was {fmt(latest)} {base['unit']}"
            out.append(line + ".")
        out += [ev["explanation"] for ev in report["events"] if ev["type"] == event]
    return list(dict.fromkeys(out))


def ask(engine: Engine, report: dict, question: str, cloud: CloudHook | None = None,
        private: PrivateEntities | None = None, seed: int = 0, max_tokens: int = 48) -> dict:
    """Answer `question` from the report; general questions go to `cloud` only if one is given."""
    if not question.strip():
        raise EdgeError("the question is empty: ask something about your data")
    note = ""
    if cloud is not None and needs_general_knowledge(question):
        sent = for_cloud(question, private)
        try:
            return {"answer": cloud(sent), "route": "cloud", "sent": sent}
        except Exception as exc:  # noqa: BLE001 - any cloud failure falls back to the local answer
            note = f"cloud unavailable ({type(exc).__name__}); answered locally"
    facts = relevant_facts(report, question)
    text, removed = _local_answer(engine, report, question, seed, max_tokens)
    out = {"answer": " ".join([*facts, text]).strip() or FOCUS_NOTE["general"], "facts": facts, "model_text": text,
           "route": "local", "removed_sentences": removed}
    if note:
        out["note"] = note
    return out


def cloud_bridge_hook(private: PrivateEntities) -> CloudHook:
    """A hook on cloud_bridge, imported only when asked for (`health ask --cloud`)."""
    try:
        import cloud_bridge
    except ImportError as exc:
        raise EdgeError(f"cloud_bridge is not available ({exc}): install edgesplit[cloud]") from None
    send = getattr(cloud_bridge, "ask", None)
    if send is None:
        raise EdgeError("this cloud_bridge has no ask(text, known_terms=...) entry point yet: "
                        "ask without --cloud for a local answer")
    return lambda text: send(text, known_terms=private.terms())
