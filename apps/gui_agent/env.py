"""The UI environment: executes actions against a simulated app and logs every one.

`UIEnv` is app-independent: it renders the current screen from its UI-tree XML, looks elements
up by doc name, checks that the action suits the element type, navigates along the doc's paths
when the element is on another screen, and records each action. What an action *does* is the
app's business (`SimApp` hooks), which changes the app's inspectable `state`.
"""

from __future__ import annotations

import difflib
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from .doc import ACTIONS, ITEM_ACTIONS, AppDoc, ElementDoc
from .errors import ActionError, LimitExceeded
from .uitree import Node

VISIBLE_ROWS = 6  # list rows on screen at once; scroll() moves the window
MAX_HOPS = 12


@dataclass
class Action:
    action: str
    element: str
    screen: str
    arg: str | int | None = None
    auto: bool = False  # taken by auto-navigation, not written in the script
    result: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        arg = "" if self.arg is None else repr(self.arg)
        target = f"${self.element}" if self.element else ""
        head = f"{target}.{self.action}({arg})" if target else f"{self.action}({arg})"
        return f"{'[nav] ' if self.auto else ''}{head} @ {self.screen}"


class SimApp:
    """Behaviour of one simulated app; subclasses override the hooks they need."""

    name = ""

    def __init__(self, doc: AppDoc, screens: dict[str, Node], state: dict[str, Any]) -> None:
        self.doc = doc
        self.screens = screens
        self.state = state
        self.form: dict[str, str] = {}  # values typed into the inputs of the open form

    # what the screen shows
    def list_items(self, el: ElementDoc) -> list[str]:
        return []

    def text_of(self, el: ElementDoc) -> str | None:
        """Text a non-list element shows; None keeps the XML's own text. Switches: 'on'/'off'."""
        return self.form.get(el.name)

    # reactions
    def tap_handlers(self, ui: UIEnv, index: int | None) -> dict:
        """Element name -> what tapping it does; apps override this instead of `on_tap`."""
        return {}

    def on_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        handler = self.tap_handlers(ui, index).get(el.name)
        if handler is not None:
            handler()
            return
        if el.type == "switch":
            raise ActionError(f"${el.name} cannot be toggled here")

    def on_long_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        pass

    def on_set_text(self, ui: UIEnv, el: ElementDoc, text: str) -> None:
        self.form[el.name] = text

    def on_select(self, ui: UIEnv, el: ElementDoc, option: str) -> None:
        self.form[el.name] = option


@dataclass
class UIEnv:
    app: SimApp
    max_actions: int = 20
    screen: str = ""
    stack: list[str] = field(default_factory=list)
    log: list[Action] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.screen = self.screen or self.app.doc.home

    @property
    def doc(self) -> AppDoc:
        return self.app.doc

    @property
    def state(self) -> dict[str, Any]:
        return self.app.state

    @property
    def script_actions(self) -> int:
        return sum(1 for a in self.log if not a.auto)

    # -- screens ---------------------------------------------------------------------------
    def render(self, screen: str | None = None) -> Node:
        """The current screen's UI tree with the app's dynamic text and list rows filled in."""
        sdoc = self.doc.screen(screen or self.screen)
        tree = self.app.screens[sdoc.name].copy()
        for el in sdoc.elements:
            node = tree.find(el.id)
            if node is None:
                continue
            if el.type == "list":
                _fill_rows(node, self.visible_items(el))
                continue
            text = self.app.text_of(el)
            if text is not None:
                node.attrs["text"] = text
                if el.type == "switch":
                    node.attrs["checked"] = "true" if text == "on" else "false"
        return tree

    def open(self, screen: str) -> None:
        if screen != self.screen:
            self.stack.append(self.screen)
            self.screen = screen

    def close(self) -> None:
        """Leave the current screen (what back() and a form's save/cancel do)."""
        if self.stack:
            self.screen = self.stack.pop()

    # -- lookup and navigation -------------------------------------------------------------
    def element(self, name: str, action: str) -> ElementDoc:
        found = self.doc.element(name)
        if found is None:
            near = difflib.get_close_matches(name, self.doc.element_names, n=3)
            hint = f"; did you mean {', '.join('$' + n for n in near)}?" if near else ""
            raise ActionError(f"unknown element ${name}: the {self.doc.app} app has no such element{hint}")
        screen, el = found
        if action not in ACTIONS[el.type]:
            raise ActionError(f"${name} is a {el.type}: it supports {', '.join(ACTIONS[el.type])}, not {action}()")
        if screen.name != self.screen:
            self.navigate(screen.name)
        return el

    def _route(self, start: str, target: str) -> list[str] | None:
        """Shortest tap sequence from `start` to `target` along the doc's paths (BFS)."""
        seen, queue = {start}, deque([(start, [])])
        while queue:
            at, steps = queue.popleft()
            if at == target:
                return steps
            for screen in self.doc.screens:
                path = screen.paths.get(at)
                if path and screen.name not in seen:
                    seen.add(screen.name)
                    queue.append((screen.name, steps + path))
        return None

    def navigate(self, target: str) -> None:
        for _ in range(MAX_HOPS):
            if self.screen == target:
                return
            route = self._route(self.screen, target)
            if route is not None:
                for name in route:
                    self._tap(self.doc.element(name)[1], None, auto=True)
                continue
            if not self.stack:
                break
            self._record("back", "", None, auto=True)
            self.close()
        raise ActionError(f"screen {target!r} cannot be reached from {self.screen!r} by the doc's paths; "
                          f"open it first (e.g. tap the list item that leads there)")

    # -- actions ---------------------------------------------------------------------------
    def _record(self, action: str, element: str, arg: Any, auto: bool = False, result: str | None = None) -> None:
        if not auto and self.script_actions >= self.max_actions:
            raise LimitExceeded(f"the script tried more than {self.max_actions} actions")
        self.log.append(Action(action, element, self.screen, arg, auto, result))

    def _tap(self, el: ElementDoc, index: int | None, auto: bool = False, long: bool = False) -> None:
        self._record("long_tap" if long else "tap", el.name, index, auto)
        if long:
            self.app.on_long_tap(self, el, index)
            return
        self.app.on_tap(self, el, index)
        if el.opens and (el.type != "list" or index is not None):
            self.open(el.opens)

    def tap(self, name: str) -> None:
        self._tap(self.element(name, "tap"), None)

    def long_tap(self, name: str) -> None:
        self._tap(self.element(name, "long_tap"), None, long=True)

    def set_text(self, name: str, text: str) -> None:
        el = self.element(name, "set_text")
        self._record("set_text", name, text)
        self.app.on_set_text(self, el, text)

    def select(self, name: str, option: str) -> None:
        el = self.element(name, "select")
        chosen = next((o for o in el.options if o.lower() == str(option).strip().lower()), None)
        if chosen is None:
            raise ActionError(f"${name} has no option {option!r}; options: {', '.join(el.options)}")
        self._record("select", name, chosen)
        self.app.on_select(self, el, chosen)

    def get_text(self, name: str) -> str:
        el = self.element(name, "get_text")
        if el.type == "list":
            text = "\n".join(self.visible_items(el))
        else:
            node = self.render().find(el.id)
            text = node.text if node is not None else ""
        self._record("get_text", name, None, result=text)
        return text

    def scroll(self, name: str, direction: str = "down") -> None:
        el = self.element(name, "scroll")
        if direction not in ("up", "down"):
            raise ActionError(f"scroll direction must be 'up' or 'down', not {direction!r}")
        self._record("scroll", name, direction)
        step = VISIBLE_ROWS - 1 if direction == "down" else 1 - VISIBLE_ROWS
        last = max(0, len(self.app.list_items(el)) - VISIBLE_ROWS)
        self.offsets[name] = min(last, max(0, self.offsets.get(name, 0) + step))

    def back(self) -> None:
        self._record("back", "", None)
        self.close()

    # -- list items --------------------------------------------------------------------------
    def items(self, name: str) -> list[str]:
        el = self.element(name, "match")
        return self.app.list_items(el)

    def visible_items(self, el: ElementDoc) -> list[str]:
        start = self.offsets.get(el.name, 0)
        return self.app.list_items(el)[start:start + VISIBLE_ROWS]

    def match(self, name: str, text: str) -> int:
        """Index of the first item of list `name` containing `text` (case-insensitive)."""
        items = self.items(name)
        needle = str(text).strip().lower()
        for i, item in enumerate(items):
            if needle and needle in item.lower():
                return i
        shown = "; ".join(items[:8]) or "the list is empty"
        raise ActionError(f"no item of ${name} matches {text!r} (items: {shown})")

    def item_action(self, name: str, index: int, action: str) -> str | None:
        if action not in ITEM_ACTIONS:
            raise ActionError(f"list items support {', '.join(ITEM_ACTIONS)}, not {action}()")
        el, items = self.element(name, "match"), self.items(name)
        if not -len(items) <= index < len(items):
            raise ActionError(f"${name}[{index}] is out of range: the list has {len(items)} items")
        index %= len(items)
        if action == "get_text":
            self._record("get_text", name, index, result=items[index])
            return items[index]
        self._tap(el, index, long=action == "long_tap")
        return None


def _fill_rows(node: Node, rows: list[str]) -> None:
    template = node.children[0] if node.children else Node({"class": "android.widget.TextView"})
    node.children = []
    for i, text in enumerate(rows):
        row = template.copy()
        row.attrs.update({"index": str(i), "text": text})
        node.children.append(row)
