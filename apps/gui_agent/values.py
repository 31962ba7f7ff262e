"""The DSL's own values: references to a doc element and to one row of a list element."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ElementRef:
    name: str


@dataclass(frozen=True)
class ItemRef:
    list_name: str
    index: int


def to_str(value: Any) -> str:
    if isinstance(value, ElementRef):
        return f"${value.name}"
    if isinstance(value, ItemRef):
        return f"${value.list_name}[{value.index}]"
    return str(value)


def kind_of(value: Any) -> str:
    if isinstance(value, ElementRef):
        return f"element ${value.name}"
    if isinstance(value, ItemRef):
        return f"row ${value.list_name}[{value.index}]"
    return f"a {type(value).__name__}"
