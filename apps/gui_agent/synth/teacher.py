"""An optional teacher: a bigger OpenAI-compatible model proposes tasks, scripts and checks.

The request goes through `cloud_bridge.ask`, so PII in the doc and state is replaced before it
leaves and the exact bytes are written to the ledger first; the answer is restored locally. The
teacher only proposes: its drafts go through the same grammar, held-out and simulator checks as
the generator's own (generate.py), so a wrong or lazy teacher costs candidates, never bad data.

    drafts, unparsed = propose("clock", shots, n=20, url="http://127.0.0.1:8080/v1")
"""

from __future__ import annotations

import json

from ..bench import __doc__ as CHECKS_DOC
from ..doc import render_doc
from ..sim import app_doc, load_app
from .draft import Draft

PROMPT = """You write training tasks for a phone-automation agent. App documentation:
{doc}

The app's state before each task (JSON):
{state}

Each task is one JSON object on its own line with keys "task" (what a user would say), "plan" (a
short plan), "script" (one action per line, only the elements above) and "checks" (conditions on
the final state, format below). Checks:
{checks}
Examples:
{shots}

Write {n} new, varied tasks for this app, one JSON object per line, nothing else."""


def teacher_prompt(app: str, shots: list[dict], n: int) -> str:
    lines = "\n".join(json.dumps({k: r[k] for k in ("task", "plan", "script", "checks")}, ensure_ascii=False)
                      for r in shots)
    checks = CHECKS_DOC.split("A check is one of", 1)[-1].split("`reference`")[0].strip()
    return PROMPT.format(doc=render_doc(app_doc(app)), state=json.dumps(load_app(app).state, ensure_ascii=False),
                         checks=checks, shots=lines, n=n)


def parse_drafts(app: str, text: str) -> tuple[list[Draft], int]:
    """(drafts, lines that looked like proposals but were not) from the teacher's answer."""
    drafts, bad = [], 0
    for line in text.splitlines():
        line = line.strip().lstrip("-* ").strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
            task, script, checks = str(obj["task"]), str(obj["script"]), obj["checks"]
            if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
                raise TypeError("checks")
        except (json.JSONDecodeError, KeyError, TypeError):
            bad += 1
            continue
        plan = " ".join(str(obj.get("plan", "")).split()) or "do the task"
        drafts.append(Draft(app, task, plan, tuple(x for x in script.split("\n") if x.strip()), tuple(checks),
                            "teacher"))
    return drafts, bad


def propose(app: str, shots: list[dict], n: int = 20, url: str | None = None,
            max_tokens: int = 2048) -> tuple[list[Draft], int]:
    """Ask the teacher (EDGESPLIT_CLOUD_URL, or `url`) for `n` drafts of `app`; raises CloudError when it fails."""
    from cloud_bridge import ask

    answer = ask(teacher_prompt(app, shots, n), url=url, max_tokens=max_tokens,
                 purpose=f"agent synth: a teacher model proposes {app} tasks (app doc and simulated state only)")
    return parse_drafts(app, answer)
