"""A choice among many literal texts (enum values) as a trie, not a flat alternation.

With a flat `"a..." | "b..." | ...` llama.cpp keeps one parse stack per value and tests every
candidate token against each of them (a 20,000-value enum took 47 s per answer); a trie shares
prefixes, so only the values still possible after the text so far are alive. Built from the
sorted texts without recursion, and cut into rules every few levels to stay shallow.
"""

from __future__ import annotations

from .grammar import Expr, Lit, Rep, alt, seq
from .limits import HOIST_DEPTH
from .numbers import RuleSink


def literal_choice(texts: list[str], sink: RuleSink) -> Expr:
    """Exactly the given texts (non-empty list)."""
    words = sorted(set(texts))
    done: dict[tuple[int, int, int], tuple[Expr, int]] = {}  # (lo, hi, depth) -> (expr, height)
    stack: list[tuple[int, int, int, tuple | None]] = [(0, len(words), 0, None)]
    while stack:
        lo, hi, d, plan = stack.pop()
        if plan is None:  # first visit: split words[lo:hi] after their common prefix
            d2 = _common(words[lo], words[hi - 1], d)
            ends = len(words[lo]) == d2  # sorted: a word that ends here comes first
            kids = _runs(words, lo + 1 if ends else lo, hi, d2)
            stack.append((lo, hi, d, (d2, ends, kids)))
            stack.extend((a, b, d2, None) for a, b in kids)
            continue
        d2, ends, kids = plan
        subs = [done.pop((a, b, d2)) for a, b in kids]
        expr, height = _node(Lit(words[lo][d:d2]), [e for e, _ in subs], ends)
        height += max((h for _, h in subs), default=0)
        if height >= HOIST_DEPTH:
            expr, height = sink.fresh("enum", expr), 0
        done[(lo, hi, d)] = (expr, height)
    return done[(0, len(words), 0)][0]


def _node(prefix: Lit, subs: list[Expr], ends: bool) -> tuple[Expr, int]:
    if not subs:
        return prefix, 0
    branch = alt(*subs)
    return seq(prefix, Rep(branch, 0, 1) if ends else branch), 1


def _common(a: str, b: str, start: int) -> int:
    n = min(len(a), len(b))
    i = start
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _runs(words: list[str], lo: int, hi: int, d: int) -> list[tuple[int, int]]:
    """Index ranges of words[lo:hi] sharing the character at position d."""
    runs, start = [], lo
    for i in range(lo + 1, hi + 1):
        if i == hi or words[i][d] != words[start][d]:
            runs.append((start, i))
            start = i
    return runs
