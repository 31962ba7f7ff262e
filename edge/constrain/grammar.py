"""A small grammar IR shared by every constrained-output path.

JSON schemas compile to this IR once (schema.py); llama.cpp receives it as GBNF (gbnf.py) and
backends without a native grammar engine can match it token by token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Chars:
    """One character from inclusive code-point ranges (or outside them when `negated`)."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False

    def matches(self, ch: str) -> bool:
        c = ord(ch)
        inside = any(lo <= c <= hi for lo, hi in self.ranges)
        return inside != self.negated


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Expr, ...]


@dataclass(frozen=True)
class Rep:
    item: Expr
    min: int = 0
    max: int | None = None  # None = unbounded


@dataclass(frozen=True)
class Ref:
    name: str


Expr = Lit | Chars | Seq | Alt | Rep | Ref


@dataclass
class Grammar:
    rules: dict[str, Expr]
    root: str = "root"


def chars(spec: str, negated: bool = False) -> Chars:
    """Chars from a compact spec like 'a-z0-9_' (a '-' between two chars is a range)."""
    ranges, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            ranges.append((ord(spec[i]), ord(spec[i + 2])))
            i += 3
        else:
            ranges.append((ord(spec[i]), ord(spec[i])))
            i += 1
    return Chars(tuple(ranges), negated)


def seq(*items: Expr) -> Expr:
    flat = tuple(i for i in items if not (isinstance(i, Lit) and i.text == ""))
    return flat[0] if len(flat) == 1 else Seq(flat)


def alt(*options: Expr) -> Expr:
    uniq = tuple(dict.fromkeys(options))
    return uniq[0] if len(uniq) == 1 else Alt(uniq)
