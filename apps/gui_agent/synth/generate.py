"""Generate (task, script) pairs from the app docs and keep the ones the simulator verifies.

    rows, stats = generate(["clock", "notes"], per_family=40, multi=60, seed=0)

Every candidate is checked three ways before it is kept: its answer parses under the agent's own
output grammar (plan comment + straight-line actions), its script runs in the sandboxed
simulator from the app's initial state, and the final state passes the task's checks. Candidates
equal to a benchmark task or script are dropped (heldout.py). Each row also carries the prompt
messages, built by the agent's own prompt builder, so training needs nothing from the doc.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from edge.constrain.matcher import CompiledGrammar, Vocabulary

from ..agent import build_messages, execute
from ..bench import check_state
from ..errors import GuiAgentError
from ..grammar import MAX_LINES, script_grammar
from ..sim import APPS, check_app, load_app
from . import docwalk
from .apps import FAMILIES as APP_FAMILIES
from .draft import Context, Draft, lower_first
from .heldout import HeldOut

Family = Callable[[Context, random.Random], Draft | None]


def families(app: str) -> dict[str, Family]:
    """The doc-driven families (every app) plus the app's own list families."""
    return {**docwalk.FAMILIES, **APP_FAMILIES.get(app, {})}


@dataclass
class Stats:
    proposed: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count

    def to_dict(self) -> dict:
        return {"proposed": self.proposed, "kept": self.kept, "dropped": dict(self.dropped)}


def combine(a: Draft, b: Draft) -> Draft:
    """Two tasks of one app as one multi-step task (both checks must hold at the end)."""
    return Draft(a.app, f"{a.task} and {lower_first(b.task)}", f"{a.plan}, then {b.plan}", a.lines + b.lines,
                 a.checks + b.checks, f"{a.family}+{b.family}")


@cache
def _grammar(app: str) -> CompiledGrammar:
    from ..sim import app_doc

    return CompiledGrammar(script_grammar(app_doc(app)), Vocabulary.from_texts([], []))


def grammatical(draft: Draft) -> bool:
    """Whether the agent's constrained decoder could produce this answer at all."""
    g = _grammar(draft.app)
    return g.accepting(g.advance_text(g.start, draft.completion))


def verify(draft: Draft) -> str | None:
    """Why the simulator rejects the draft, or None when its script does the task.

    The checks must fail on the app's initial state (else they prove nothing about the script)
    and pass on the state the script leaves.
    """
    if not draft.checks:
        return "checks: none given"
    try:
        if not check_state(load_app(draft.app).state, draft.checks):
            return "checks: they already hold before the script runs"
        env, result = execute(draft.app, draft.script)
        if not result.ok:
            return f"script stopped: {result.error.reason if result.error else ''}"
        failures = check_state(env.state, draft.checks)
    except (GuiAgentError, TypeError, AttributeError) as exc:  # a teacher's check with a wrong path or shape
        return f"checks: malformed ({exc})"
    return "; ".join(failures) if failures else None


def _candidates(app: str, rng: random.Random, per_family: int, multi: int) -> Iterable[Draft]:
    ctx, fams = Context.of(app), list(families(app).values())
    singles = [d for f in fams for _ in range(per_family) if (d := f(ctx, rng)) is not None]
    yield from singles
    for _ in range(multi if len(singles) > 1 else 0):
        a, b = rng.sample(singles, 2)
        yield combine(a, b)


def _reject(draft: Draft, held: HeldOut, seen: set[str]) -> str | None:
    key = " ".join(draft.task.lower().split())
    if key in seen:
        return "duplicate task"
    if len(draft.lines) > MAX_LINES:
        return "too many lines"
    if held.leak(draft.task, draft.script):
        return "benchmark overlap"
    if not grammatical(draft):
        return "outside the agent grammar"
    why = verify(draft)
    return None if why is None else "simulator: " + _category(why)


def _category(why: str) -> str:
    """The kind of a rejection, for the counts: details (values, exceptions) left out."""
    if why.startswith("script stopped"):
        return "script stopped"
    return why.split(" (")[0] if why.startswith("checks:") else "checks failed"


def generate(apps: Iterable[str] | None = None, per_family: int = 30, multi: int = 40, seed: int = 0,
             held: HeldOut | None = None, extra: Iterable[Draft] = ()) -> tuple[list[dict], Stats]:
    """Verified training rows for `apps` (default: all shipped); `extra` drafts (a teacher's) are checked alike."""
    rng, held, stats, seen, rows = random.Random(seed), held or HeldOut.of(), Stats(), set(), []
    apps = list(apps or APPS)
    for app in apps:
        check_app(app)
    drafts = [d for app in apps for d in _candidates(app, rng, per_family, multi)] + list(extra)
    for draft in drafts:
        stats.proposed += 1
        why = _reject(draft, held, seen)
        if why:
            stats.dropped[why] += 1
            continue
        seen.add(" ".join(draft.task.lower().split()))
        rows.append(to_row(draft))
    stats.kept = len(rows)
    return rows, stats


def to_row(draft: Draft) -> dict:
    from ..sim import app_doc

    return {"app": draft.app, "task": draft.task, "family": draft.family, "plan": draft.plan, "script": draft.script,
            "checks": list(draft.checks), "messages": build_messages(app_doc(draft.app), draft.task),
            "completion": draft.completion}
