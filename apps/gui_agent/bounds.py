"""The size of a sandbox value, measured before any operation that C would walk in one call.

A list nested 29 deep with shared halves (`a = [a, a]` in a loop) has 58 list objects but 2**29
leaves: `a == b` or `str(a)` walks every leaf in one C call, between two interpreter steps. So a
value's *cost* counts what C would visit: each container and scalar once per path that reaches
it (sharing does not make it cheaper), plus a string's characters and an integer's words.
The walk stops as soon as the cost passes the budget or the nesting passes the depth, so
measuring is itself bounded, whatever the value (cycles included).
"""

from __future__ import annotations

from typing import Any

from .errors import LimitExceeded, ScriptError

SCALARS = (bool, int, float, type(None))


def cost(value: Any, budget: int, max_depth: int, scalar_types: tuple[type, ...] = ()) -> int:
    """Cost of `value` (see the module doc); LimitExceeded past `budget` or `max_depth`.

    `scalar_types`: further leaf types of cost 1 (the element references of the DSL).
    """
    total, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise LimitExceeded(f"a value is nested more than {max_depth} levels deep")
        if isinstance(item, str):
            total += 1 + len(item)
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 64
        elif isinstance(item, (list, tuple)):
            total += 1
            if total + len(item) > budget:  # each element costs at least 1: no need to walk them
                _too_large(budget)
            stack.extend((x, depth + 1) for x in item)
        elif isinstance(item, range):
            total += len(item)
        elif isinstance(item, SCALARS) or isinstance(item, scalar_types):
            total += 1
        else:
            raise ScriptError(f"values of type {type(item).__name__} are not supported in scripts")
        if total > budget:
            _too_large(budget)
    return total


def _too_large(budget: int) -> None:
    raise LimitExceeded(f"a value is larger than the size limit {budget} (items + characters, "
                        "counting every path through nested lists)")
