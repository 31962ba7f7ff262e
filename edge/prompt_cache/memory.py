"""In-memory LRU of saved sequence states, keyed by their token prefix and bounded by bytes.

Several prefixes live side by side, so an app's long prompt and a chat do not evict each other
on every alternation (llama.cpp's own KV cache holds only the last one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from ..prefix import longest_shared


@dataclass(frozen=True)
class Entry:
    tokens: tuple[int, ...]
    state: bytes


class StateLRU:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], Entry] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, prompt: Sequence[int]) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with `prompt`, and that length (marked as used)."""
        best, best_n = longest_shared(self._entries.values(), prompt, lambda e: e.tokens)
        if best is not None:
            self._entries.move_to_end(best.tokens)
        return best, best_n

    def covers(self, tokens: Sequence[int]) -> bool:
        """True if some entry already starts with all of `tokens` (saving them again adds nothing)."""
        n = len(tokens)
        return any(len(e.tokens) >= n and e.tokens[:n] == tuple(tokens) for e in self._entries.values())

    def put(self, tokens: Sequence[int], state: bytes) -> None:
        """Add a state; entries it extends are dropped, then the least recently used until it fits."""
        key = tuple(tokens)
        if len(state) > self.max_bytes:
            return
        for old in [e for e in self._entries.values() if key[: len(e.tokens)] == e.tokens]:
            self._drop(old.tokens)
        self._entries[key] = Entry(key, state)
        self.bytes += len(state)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[int, ...]) -> None:
        self.bytes -= len(self._entries.pop(key).state)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
