"""App documentation: what the model reads to write a script, and what the environment trusts.

Format (JSON, one file per app, validated on load)::

    {
      "app": "clock",                       # short name used by `--app`
      "package": "com.edge.clock",
      "description": "Alarms and a countdown timer.",
      "home": "alarms",                     # the screen the app opens on
      "screens": [
        {
          "name": "edit_alarm",             # lower_snake_case
          "description": "Form for one alarm.",
          "xml": "edit_alarm.xml",          # the screen's UI tree (uiautomator dump format)
          "paths": {"alarms": ["alarms__add_alarm"]},
          "elements": [
            {"name": "edit_alarm__label",   # stable, unique in the app; scripts write $edit_alarm__label
             "id": "label",                 # resource-id of the node in the screen's XML
             "type": "input",               # button|input|switch|slider|dropdown|list|text
             "description": "Name shown under the alarm time",
             "effect": "",                  # what acting on it does
             "options": [],                 # choices of a dropdown (for .select(...))
             "opens": null}                 # screen shown after a tap (lists: after tapping an item)
          ]
        }
      ],
      "examples": [{"task": "...", "plan": "...", "script": "..."}]  # shown to the model, not benchmark tasks
    }

`paths[S]` is the sequence of element taps that reaches this screen from screen S: the first
element must be on S, each next one on the screen the previous one opens, and the last must open
this screen. The environment follows these paths when a script acts on an element of another
screen. A dangling path, an unknown `opens` target or a duplicate element name is rejected on
load with the element named.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import AppDocError

ElementType = Literal["button", "input", "switch", "slider", "dropdown", "list", "text"]

# the actions each element type accepts (list items accept ITEM_ACTIONS)
ACTIONS: dict[str, tuple[str, ...]] = {
    "button": ("tap", "long_tap", "get_text"),
    "input": ("set_text", "tap", "get_text"),
    "switch": ("tap", "get_text"),
    "slider": ("set_text", "get_text"),
    "dropdown": ("select", "get_text"),
    "list": ("scroll", "match", "get_text"),
    "text": ("get_text",),
}
ITEM_ACTIONS = ("tap", "long_tap", "get_text")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ElementDoc(_Model):
    name: str
    id: str
    type: ElementType
    description: str
    effect: str = ""
    options: list[str] = []
    opens: str | None = None


class ScreenDoc(_Model):
    name: str
    description: str
    xml: str
    paths: dict[str, list[str]] = {}
    elements: list[ElementDoc]


class Example(_Model):
    task: str
    plan: str = ""
    script: str


class AppDoc(_Model):
    app: str
    package: str
    description: str
    home: str
    screens: list[ScreenDoc]
    examples: list[Example] = []

    def model_post_init(self, _context: object) -> None:
        self._screens = {s.name: s for s in self.screens}
        self._elements: dict[str, tuple[ScreenDoc, ElementDoc]] = {}
        for screen in self.screens:
            for el in screen.elements:
                self._elements[el.name] = (screen, el)

    def screen(self, name: str) -> ScreenDoc:
        return self._screens[name]

    def element(self, name: str) -> tuple[ScreenDoc, ElementDoc] | None:
        return self._elements.get(name)

    @property
    def element_names(self) -> list[str]:
        return list(self._elements)


def validate_doc(doc: AppDoc) -> None:
    """Raise AppDocError naming the first element, screen or path that is wrong."""
    screens: dict[str, ScreenDoc] = {}
    owner: dict[str, ScreenDoc] = {}
    for screen in doc.screens:
        if not _NAME.fullmatch(screen.name) or screen.name in screens:
            raise AppDocError(f"{doc.app}: screen name {screen.name!r} is duplicate or not lower_snake_case")
        screens[screen.name] = screen
        for el in screen.elements:
            if el.name in owner:
                raise AppDocError(f"{doc.app}: duplicate element name {el.name!r} "
                                  f"(on screens {owner[el.name].name!r} and {screen.name!r})")
            if not _NAME.fullmatch(el.name):
                raise AppDocError(f"{doc.app}: element name {el.name!r} must be lower_snake_case")
            owner[el.name] = screen
    if doc.home not in screens:
        raise AppDocError(f"{doc.app}: home screen {doc.home!r} is not one of the screens")
    elements = {el.name: el for s in doc.screens for el in s.elements}
    for el in elements.values():
        if el.opens is not None and el.opens not in screens:
            raise AppDocError(f"{doc.app}: element {el.name!r} opens unknown screen {el.opens!r}")
        if el.type == "dropdown" and not el.options:
            raise AppDocError(f"{doc.app}: dropdown element {el.name!r} lists no options")
    for screen in doc.screens:
        for start, steps in screen.paths.items():
            _check_path(doc.app, screen.name, start, steps, screens, owner, elements)


def _check_path(app: str, target: str, start: str, steps: list[str], screens: dict, owner: dict,
                elements: dict) -> None:
    where = f"{app}: path to screen {target!r} from {start!r}"
    if start not in screens:
        raise AppDocError(f"{where} starts on unknown screen {start!r}")
    if not steps:
        raise AppDocError(f"{where} is empty")
    at = start
    for name in steps:
        if name not in elements:
            raise AppDocError(f"{where} names unknown element {name!r} (dangling path)")
        if owner[name].name != at:
            raise AppDocError(f"{where}: element {name!r} is on screen {owner[name].name!r}, "
                              f"but the path is on screen {at!r} at that step")
        if elements[name].opens is None:
            raise AppDocError(f"{where}: element {name!r} opens no screen, so the path cannot go on")
        at = elements[name].opens
    if at != target:
        raise AppDocError(f"{where} ends on screen {at!r}, not {target!r}")


def parse_doc(data: object, origin: str = "app doc") -> AppDoc:
    try:
        doc = AppDoc.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise AppDocError(f"{origin}: {loc}: {err['msg']}") from None
    validate_doc(doc)
    return doc


def load_doc(path: Path) -> AppDoc:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AppDocError(f"cannot read app doc {path}: {exc}") from None
    return parse_doc(data, str(path))


def render_doc(doc: AppDoc) -> str:
    """The compact text the model reads: one line per element, grouped by screen."""
    lines = [f"App {doc.app}: {doc.description}"]
    for screen in doc.screens:
        lines.append(f"Screen {screen.name}: {screen.description}")
        for el in screen.elements:
            extra = f" {el.effect}" if el.effect else ""
            if el.options:
                extra += f" Options: {', '.join(el.options)}."
            lines.append(f"- ${el.name} ({el.type}): {el.description}.{extra}")
    return "\n".join(lines)
