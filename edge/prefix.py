"""Shared token prefixes: how long two token sequences agree, and which cached entry agrees longest.

Both prompt caches (llama.cpp's saved states in edge/prompt_cache, ONNX Runtime's past K/V in
edge/backends/onnx_prefix.py) pick what to reuse by this one rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if len(diff) else n


def longest_shared(items: Iterable[T], ids: Sequence[int],
                   tokens: Callable[[T], Sequence[int]]) -> tuple[T | None, int]:
    """The item whose tokens share the longest prefix with `ids`, and that length (None, 0: none)."""
    best, best_n = None, 0
    for item in items:
        n = common_prefix(tokens(item), ids)
        if n > best_n:
            best, best_n = item, n
    return best, best_n
