"""Render the grammar IR as llama.cpp GBNF text."""

from __future__ import annotations

from .grammar import Alt, Chars, Expr, Grammar, Lit, Ref, Rep, Seq


def _esc_char(c: int, in_class: bool) -> str:
    ch = chr(c)
    specials = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
    if ch in specials:
        return specials[ch]
    if (in_class and ch in "]-^") or (not in_class and ch == '"'):
        return "\\" + ch
    if c < 0x20 or c == 0x7F:
        return f"\\x{c:02X}"
    return ch


def _render(e: Expr) -> str:
    match e:
        case Lit(text):
            return '"' + "".join(_esc_char(ord(c), False) for c in text) + '"'
        case Chars(ranges, negated):
            body = "".join(
                _esc_char(lo, True) if lo == hi else f"{_esc_char(lo, True)}-{_esc_char(hi, True)}"
                for lo, hi in ranges
            )
            return f"[{'^' if negated else ''}{body}]"
        case Seq(items):
            return "(" + " ".join(_render(i) for i in items) + ")"
        case Alt(options):
            return "(" + " | ".join(_render(o) for o in options) + ")"
        case Rep(item, lo, hi):
            inner = _render(item)
            if (lo, hi) == (0, None):
                return f"{inner}*"
            if (lo, hi) == (1, None):
                return f"{inner}+"
            if (lo, hi) == (0, 1):
                return f"{inner}?"
            return f"{inner}{{{lo},{'' if hi is None else hi}}}"
        case Ref(name):
            return name
    raise TypeError(f"not a grammar expression: {e!r}")


def to_gbnf(grammar: Grammar) -> str:
    order = [grammar.root] + [n for n in grammar.rules if n != grammar.root]
    return "\n".join(f"{name} ::= {_render(grammar.rules[name])}" for name in order) + "\n"
