"""What a task family proposes: a task in words, its plan, its script lines and its state checks.

A Draft is only a candidate; generate.py keeps it when the script runs in the sandbox and the
final state passes the checks. `Context` is what families draw values from: the app doc (element
names, dropdown options) and the app's initial state and list rows, read from a fresh instance.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from ..doc import AppDoc
from ..env import UIEnv
from ..sim import app_doc, load_app


@dataclass(frozen=True)
class Draft:
    app: str
    task: str
    plan: str
    lines: tuple[str, ...]
    checks: tuple[dict, ...]
    family: str

    @property
    def script(self) -> str:
        return "\n".join(self.lines)

    @property
    def completion(self) -> str:
        """The model's answer exactly as the agent's grammar takes it: plan comment, then one action a line."""
        return f"# plan: {self.plan}\n{self.script}\n"


@dataclass
class Context:
    app: str
    doc: AppDoc
    state: dict[str, Any]
    rows: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, app: str) -> Context:
        sim = load_app(app)
        env = UIEnv(sim)
        rows = {el.name: env.app.list_items(el) for s in sim.doc.screens for el in s.elements if el.type == "list"}
        return cls(app, app_doc(app), sim.state, rows)

    def element(self, name: str) -> Any:
        """The doc's element `name` (KeyError when a family names one the doc lacks: a generator bug)."""
        found = self.doc.element(name)
        if found is None:
            raise KeyError(f"{self.app}: the doc has no element {name!r}")
        return found[1]

    def options(self, name: str) -> list[str]:
        return list(self.element(name).options)

    def nav(self, screen: str) -> tuple[str, ...]:
        """The taps the doc's paths give from the home screen to `screen` (empty when it is home)."""
        if screen == self.doc.home:
            return ()
        return tuple(tap(n) for n in self.doc.screen(screen).paths.get(self.doc.home, []))


# -- script lines: the only spellings of the DSL in the generator ------------------------------
def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def tap(name: str) -> str:
    return f"${name}.tap()"


def set_text(name: str, text: str | int) -> str:
    return f"${name}.set_text({_q(str(text))})"


def select(name: str, option: str) -> str:
    return f"${name}.select({_q(option)})"


def row(list_name: str, text: str, action: str = "tap") -> str:
    return f"${list_name}.match({_q(text)}).{action}()"


def nth(list_name: str, index: int, action: str = "tap") -> str:
    return f"${list_name}[{index}].{action}()"


def say(rng: random.Random, templates: tuple[str, ...] | list[str], **slots: Any) -> str:
    """One paraphrase, chosen at random, with the slots filled in."""
    return rng.choice(list(templates)).format(**slots)


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
