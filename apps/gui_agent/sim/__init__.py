"""The shipped simulated apps: UI trees (uiautomator XML), a doc and an initial state per app.

    app = load_app("clock")          # a fresh instance with its own state
    app.state["alarms"][0]["enabled"]
"""

from __future__ import annotations

import copy
import importlib
import json
from functools import cache
from pathlib import Path

from ..doc import AppDoc, load_doc
from ..env import SimApp
from ..errors import AppDocError, UnknownAppError
from ..uitree import Node, parse_hierarchy

DATA = Path(__file__).parent / "data"
APPS = {
    "clock": "apps.gui_agent.sim.clock:ClockApp",
    "contacts": "apps.gui_agent.sim.contacts:ContactsApp",
    "notes": "apps.gui_agent.sim.notes:NotesApp",
    "settings": "apps.gui_agent.sim.settings:SettingsApp",
}


@cache
def _load_static(name: str) -> tuple[AppDoc, dict[str, Node], str]:
    root = DATA / name
    doc = load_doc(root / "doc.json")
    screens = {}
    for screen in doc.screens:
        xml_path = root / "screens" / screen.xml
        try:
            tree = parse_hierarchy(xml_path.read_text(), str(xml_path))
        except OSError as exc:
            raise AppDocError(f"{name}: screen {screen.name!r} has no UI tree: {exc}") from None
        for el in screen.elements:
            if tree.find(el.id) is None:
                raise AppDocError(f"{name}: element {el.name!r} has id {el.id!r}, which is not in {screen.xml}")
        screens[screen.name] = tree
    return doc, screens, (root / "state.json").read_text()


def app_doc(name: str) -> AppDoc:
    check_app(name)
    return _load_static(name)[0]


def check_app(name: str) -> None:
    if name not in APPS:
        raise UnknownAppError(f"unknown app {name!r}; the shipped apps are: {', '.join(APPS)}")


def load_app(name: str) -> SimApp:
    """A fresh instance of app `name`, in its initial state."""
    check_app(name)
    doc, screens, state = _load_static(name)
    module, _, attr = APPS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(doc, screens, copy.deepcopy(json.loads(state)))
