"""Prefix reuse for the ONNX Runtime loop: a small LRU of decoder K/V states keyed by their tokens.

A state holds the past K/V of `ids` and the next-token logits after them. A new prompt continues
from the state with the longest common token prefix; a shorter match is sliced to the common length.

Traced graphs' states hold the present OrtValues a run returned (ORT never writes them again, so
a state is shared, never copied). Fused graphs decode in one shared buffer written in place
(onnx_kv.SharedKV): their live state is `in_buffer` (its K/V are the buffer's first len(ids)
positions, `past` empty) and is copied out into `past` before a diverging prompt overwrites it,
so a cached state never aliases memory a later run writes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..prefix import longest_shared

DEFAULT_MAX_BYTES = 256 << 20  # a few long prompts of a ~100M model; a device has little RAM to spare
DEFAULT_MAX_STATES = 4  # an app's prompt and a chat (and a couple more) must not evict each other


@dataclass(eq=False)
class PastState:
    """K/V of `ids` (name -> [batch, heads, len(ids), head_dim]) and the logits after the last one.

    `in_buffer`: the K/V are the shared buffer's first len(ids) positions and `past` is empty; the
    owner copies them into `past` (and clears `in_buffer`) before the buffer is overwritten.
    """

    ids: list[int]
    past: dict[str, Any]
    logits: np.ndarray | None = None
    key: int = 0  # set by PrefixCache.put
    in_buffer: bool = False


def slice_past(past: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """The first n positions of every past tensor, as contiguous arrays ready to bind."""
    out = {}
    for name, value in past.items():
        arr = value if isinstance(value, np.ndarray) else value.numpy()
        out[name] = np.ascontiguousarray(arr[:, :, :n, :])
    return out


class PrefixCache:
    """LRU of PastStates, bounded by bytes (len(ids) * bytes_per_token) and by count."""

    def __init__(self, bytes_per_token: int, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_states: int = DEFAULT_MAX_STATES) -> None:
        self.bytes_per_token = max(1, bytes_per_token)
        self.max_bytes, self.max_states = max_bytes, max_states
        self._states: OrderedDict[int, PastState] = OrderedDict()
        self._next_key = 1

    def __len__(self) -> int:
        return len(self._states)

    @property
    def nbytes(self) -> int:
        return sum(len(s.ids) for s in self._states.values()) * self.bytes_per_token

    def holds(self, state: PastState) -> bool:
        """Whether `state` itself (not only its key) is cached now."""
        return self._states.get(state.key) is state

    def best(self, ids: list[int]) -> tuple[PastState | None, int]:
        """The state sharing the longest token prefix with `ids`, and that length (0: none)."""
        best, best_n = longest_shared(self._states.values(), ids, lambda s: s.ids)
        if best is not None:
            self._states.move_to_end(best.key)
        return best, best_n

    def put(self, state: PastState) -> None:
        """Add (or refresh) `state` as the most recent; drop the states it extends, then the oldest."""
        if not state.key:
            state.key, self._next_key = self._next_key, self._next_key + 1
        for other in list(self._states.values()):  # a state whose ids `state` extends is redundant
            if other is not state and len(other.ids) <= len(state.ids) and state.ids[:len(other.ids)] == other.ids:
                del self._states[other.key]
        self._states[state.key] = state
        self._states.move_to_end(state.key)
        while len(self._states) > 1 and (len(self._states) > self.max_states or self.nbytes > self.max_bytes):
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._states.clear()


class EncoderCache:
    """The last few encoder results (and first decoder step) keyed by the encoder's input ids."""

    def __init__(self, max_entries: int = DEFAULT_MAX_STATES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def get(self, ids: list[int]) -> Any:
        key = tuple(ids)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, ids: list[int], value: Any) -> None:
        self._items[tuple(ids)] = value
        self._items.move_to_end(tuple(ids))
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
