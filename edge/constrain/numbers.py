"""Integer ranges as grammar, in size linear in the number of digits.

A same-length range [a, b] is the common prefix, then (a's digit, then anything >= a's rest) |
(a digit strictly between, then any digits) | (b's digit, then anything <= b's rest). The
"anything >= / <= rest" parts are chains with one branch per digit, built iteratively and cut
into rules every few digits, and "any k digits" is a shared chain of rules; so a bound of n
digits costs O(n) elements, where expanding every branch costs O(2^n).
"""

from __future__ import annotations

import math
from typing import Protocol

from ..errors import SchemaError
from .grammar import Expr, Lit, Ref, Rep, alt, chars, seq
from .limits import HOIST_DEPTH, MAX_INT_DIGITS

DIGIT = chars("0-9")


class RuleSink(Protocol):
    """Where a compiler keeps named rules (schema.py's compiler is one)."""

    rules: dict[str, Expr]

    def fresh(self, prefix: str, expr: Expr) -> Ref: ...


def int_bound(value: object, key: str, path: str) -> int | float:
    """A numeric bound, checked: finite, a number, and of at most MAX_INT_DIGITS digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"`{key}` at {path} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"`{key}` at {path} is {value}: a bound must be a finite number")
    if abs(int(value)).bit_length() > MAX_INT_DIGITS * 3.33:
        raise SchemaError(f"`{key}` at {path} has more than {MAX_INT_DIGITS} digits (MAX_INT_DIGITS)")
    return value


def int_range(lo: int, hi: int, sink: RuleSink) -> Expr:
    """Digits of exactly the integers in [lo, hi]: no leading zeros, no '-0', '-' for negatives."""
    parts = []
    if lo < 0:
        neg_hi, neg_lo = -lo, max(1, -hi)
        if neg_lo <= neg_hi:
            parts.append(seq(Lit("-"), _nonneg(neg_lo, neg_hi, sink)))
    if hi >= 0:
        parts.append(_nonneg(max(lo, 0), hi, sink))
    return alt(*parts)


def _nonneg(lo: int, hi: int, sink: RuleSink) -> Expr:
    a, b = str(lo), str(hi)
    if len(a) == len(b):
        return _same_len(a, b, sink)
    out = [_same_len(a, "9" * len(a), sink)]
    if len(b) - len(a) > 1:  # every number of a length strictly between
        out.append(seq(chars("1-9"), Rep(DIGIT, len(a), len(b) - 2)))
    out.append(_same_len("1" + "0" * (len(b) - 1), b, sink))
    return alt(*out)


def _same_len(a: str, b: str, sink: RuleSink) -> Expr:
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if i == len(a):
        return Lit(a)
    rest = len(a) - i - 1
    options = [seq(Lit(a[i]), _at_least(a[i + 1:], sink))]
    if int(b[i]) - int(a[i]) > 1:
        options.append(seq(_digits(int(a[i]) + 1, int(b[i]) - 1), _any(rest, sink)))
    options.append(seq(Lit(b[i]), _at_most(b[i + 1:], sink)))
    return seq(Lit(a[:i]), alt(*options))


def _at_least(s: str, sink: RuleSink) -> Expr:
    """Strings of len(s) digits that are >= s."""
    return _chain(s, sink, lambda d: (d + 1, 9), "0")


def _at_most(s: str, sink: RuleSink) -> Expr:
    """Strings of len(s) digits that are <= s."""
    return _chain(s, sink, lambda d: (0, d - 1), "9")


def _chain(s: str, sink: RuleSink, other, free: str) -> Expr:
    """From the last digit back: this digit then the rest's chain | a freer digit then anything."""
    k = len(s.rstrip(free))  # past the last digit that is not `free`, every digit string qualifies
    acc: Expr = _any(len(s) - k, sink)
    for i in range(k - 1, -1, -1):
        lo, hi = other(int(s[i]))
        options = [seq(Lit(s[i]), acc)]
        if lo <= hi:
            options.append(seq(_digits(lo, hi), _any(len(s) - i - 1, sink)))
        acc = alt(*options)
        if (k - i) % HOIST_DEPTH == 0:
            acc = sink.fresh("int", acc)
    return acc


def _digits(lo: int, hi: int) -> Expr:
    return Lit(str(lo)) if lo == hi else chars(f"{lo}-{hi}")


def _any(n: int, sink: RuleSink) -> Expr:
    """Exactly n digits: a shared chain `digits-n ::= [0-9] digits-(n-1)`, linear in total."""
    if n <= HOIST_DEPTH:
        return Rep(DIGIT, n, n) if n else Lit("")
    made = n
    while made > HOIST_DEPTH and f"digits-{made}" not in sink.rules:
        made -= 1
    for k in range(made + 1, n + 1):  # bottom-up from the longest one made, so this never recurses deeply
        sink.rules[f"digits-{k}"] = seq(DIGIT, _any(k - 1, sink))
    return Ref(f"digits-{n}")
