"""UI trees in the Android uiautomator dump format (`uiautomator dump` / `adb shell uiautomator`).

A dump is `<hierarchy rotation="0">` with nested `<node>` elements carrying `resource-id`,
`class`, `text`, `content-desc`, `clickable`, `checkable`, `checked`, `scrollable`, `bounds`...
Screens of the simulated apps are such files; `skeleton_from_dumps` derives a first app doc from
real dumps, which a person then completes (descriptions, effects, paths).
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .errors import AppDocError

_EDIT_CLASSES = ("EditText", "AutoCompleteTextView", "SearchView")
_LIST_CLASSES = ("RecyclerView", "ListView", "ScrollView", "GridView")
_SWITCH_CLASSES = ("Switch", "CheckBox", "ToggleButton", "SwitchCompat", "RadioButton")


@dataclass
class Node:
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)

    @property
    def rid(self) -> str:
        """The short resource id: `com.app:id/save` -> `save`."""
        return self.attrs.get("resource-id", "").rpartition("/")[2]

    @property
    def text(self) -> str:
        return self.attrs.get("text", "")

    @property
    def cls(self) -> str:
        return self.attrs.get("class", "").rpartition(".")[2]

    def flag(self, name: str) -> bool:
        return self.attrs.get(name) == "true"

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, rid: str) -> Node | None:
        return next((n for n in self.walk() if n.rid == rid), None)

    def copy(self) -> Node:
        return copy.deepcopy(self)

    def to_xml(self) -> str:
        return ET.tostring(_to_et(self, "hierarchy"), encoding="unicode")


def _to_et(node: Node, tag: str = "node") -> ET.Element:
    el = ET.Element(tag, node.attrs)
    el.extend(_to_et(c) for c in node.children)
    return el


def parse_hierarchy(xml_text: str, origin: str = "dump") -> Node:
    """Parse a uiautomator dump into a Node tree (the root is the `hierarchy` element)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise AppDocError(f"{origin} is not valid XML: {exc}") from None
    if root.tag != "hierarchy":
        raise AppDocError(f"{origin}: the root element must be <hierarchy> (uiautomator format), got <{root.tag}>")
    return _from_et(root)


def _from_et(el: ET.Element) -> Node:
    return Node(dict(el.attrib), [_from_et(c) for c in el if c.tag == "node"])


def element_type(node: Node) -> str | None:
    """Guess the doc type of a node, or None for a node that is not worth an element."""
    cls = node.cls
    if any(cls.endswith(c) for c in _EDIT_CLASSES):
        return "input"
    if cls.endswith("SeekBar"):
        return "slider"
    if cls.endswith("Spinner"):
        return "dropdown"
    if node.flag("checkable") or any(cls.endswith(c) for c in _SWITCH_CLASSES):
        return "switch"
    if node.flag("scrollable") or any(cls.endswith(c) for c in _LIST_CLASSES):
        return "list"
    if node.flag("clickable") or node.flag("long-clickable"):
        return "button"
    return "text" if node.rid and node.text else None


def _skeleton_elements(screen: str, tree: Node) -> list[dict]:
    elements, inside_list = [], set()
    for node in tree.walk():
        kind = element_type(node)
        if not node.rid or kind is None or id(node) in inside_list:
            continue
        if kind == "list":  # list rows are items, not elements of their own
            inside_list.update(id(n) for c in node.children for n in c.walk())
        label = node.attrs.get("content-desc") or node.text or node.rid.replace("_", " ")
        elements.append({"name": f"{screen}__{node.rid}", "id": node.rid, "type": kind,
                         "description": label, "effect": "", "options": []})
    return elements


def skeleton_from_dumps(dumps: dict[str, str], app: str) -> dict:
    """A doc skeleton from {screen name: uiautomator XML}: elements with names, types, labels.

    Effects, `opens` targets and paths cannot be read from a static dump; they are left empty
    for a person (or a recorded exploration) to fill in.
    """
    screens, package = [], ""
    for screen, xml_text in dumps.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", screen):
            raise AppDocError(f"screen name {screen!r} must be lower_snake_case")
        tree = parse_hierarchy(xml_text, f"dump of screen {screen!r}")
        package = package or next((n.attrs["package"] for n in tree.walk() if n.attrs.get("package")), "")
        screens.append({"name": screen, "description": "", "xml": f"{screen}.xml", "paths": {},
                        "elements": _skeleton_elements(screen, tree)})
    return {"app": app, "package": package, "description": "", "home": screens[0]["name"] if screens else "",
            "screens": screens, "examples": []}
