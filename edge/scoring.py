"""Memo of scored prompt positions, so re-scoring a prompt that extends an earlier one is cheap.

Collaboration's batched verification scores the same long prompt prefix again and again, each
time a little longer. A position's score depends only on the token ids up to it (and top-k), so it
is remembered under a digest of that prefix; an LRU bounds the memory.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 16_384


def prefix_keys(ids: Sequence[int], salt: int) -> Iterator[bytes]:
    """A digest of ids[:j + 1] for every j (one pass; `salt` keeps different top-k apart)."""
    h = hashlib.blake2b(salt.to_bytes(4, "little"), digest_size=16)
    for tok in ids:
        h.update(int(tok).to_bytes(4, "little", signed=True))
        yield h.digest()


class ScoreMemo(Generic[T]):
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._items: OrderedDict[bytes, T] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: bytes) -> T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: bytes, value: T) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
