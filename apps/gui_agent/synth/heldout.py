"""The benchmark is a held-out set: no generated task may equal one of its tasks (by normalized
text) and no generated script may be one of its reference scripts (by normalized lines)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..bench import Task, load_tasks
from ..errors import GuiAgentError

_WORD = re.compile(r"[a-z0-9]+")


class HeldOutLeak(GuiAgentError):
    """Training data that contains a benchmark task or its reference script."""


def normalize_task(text: str) -> str:
    """Lower case, punctuation dropped, words single-spaced: "Turn off Wi-Fi!" -> "turn off wi fi"."""
    return " ".join(_WORD.findall(text.lower()))


def normalize_script(script: str) -> str:
    """The action lines only: comments, blank lines and indentation do not make a script new."""
    lines = (line.strip() for line in script.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True)
class HeldOut:
    tasks: frozenset[str]
    scripts: frozenset[str]

    @classmethod
    def of(cls, tasks: Iterable[Task] | None = None) -> HeldOut:
        tasks = list(load_tasks() if tasks is None else tasks)
        return cls(frozenset(normalize_task(t.task) for t in tasks), frozenset(normalize_script(t.reference) for t in tasks))

    def leak(self, task: str, script: str) -> str | None:
        """Why (task, script) may not be trained on, or None when it may."""
        if normalize_task(task) in self.tasks:
            return f"the task {task!r} is a benchmark task"
        if normalize_script(script) in self.scripts:
            return f"the script for {task!r} is a benchmark reference script"
        return None


def check_heldout(rows: Iterable[dict], held: HeldOut | None = None) -> None:
    """Raise HeldOutLeak naming every row that holds a benchmark task or script."""
    held = held or HeldOut.of()
    leaks = [why for r in rows if (why := held.leak(r["task"], r["script"]))]
    if leaks:
        raise HeldOutLeak(f"{len(leaks)} training rows overlap the benchmark: {'; '.join(leaks[:3])}; "
                          "regenerate the data (the generator drops them)")
