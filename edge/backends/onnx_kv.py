"""Shared past/present K/V buffers for fused-attention graphs (onnxruntime's GroupQueryAttention).

GroupQueryAttention writes only the new positions when its past and present are the same memory
(it compares the pointers) and reads the real length from seqlens_k (the mask's sum - 1), so the
past may be longer than the tokens in it. One preallocated buffer per past tensor, bound as both
past_key_values.{i}.* and present.{i}.* through one IOBinding, replaces the one-position-longer
present that ORT would allocate, and fill with a copy of the whole past, at every step.
onnxruntime-genai's `past_present_share_buffer` runs the same way.

    kv = SharedKV(session, past_names, present_names, head_dim, limit=2048)
    rows = kv.run([5, 9, 2])   # prefill: logits [3, V]; kv.length == 3
    rows = kv.run([7])         # position 3 written in place
    saved = kv.snapshot(2)     # the first 2 positions as owned arrays (later runs overwrite the buffer)
    kv.load(saved, 2)          # back into the buffer; kv.length == 2

The buffers are numpy (host) memory: only for sessions whose K/V stay on the host (CPU, XNNPACK).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ContextOverflowError

DEFAULT_CAPACITY = 256  # positions first allocated; doubled (with a copy) when a run needs more
HOST_PROVIDERS = frozenset({"CPUExecutionProvider", "XnnpackExecutionProvider"})


def _pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


class SharedKV:
    """The K/V of one sequence in buffers of `capacity` positions that GQA appends to in place.

    `length` positions are valid; a run appends after them. The capacity grows by doubling, never
    past `limit` (the context); a run that would pass it raises ContextOverflowError.
    """

    def __init__(self, session: Any, past_names: list[str], present_names: list[str], head_dim: int | None,
                 limit: int, capacity: int = DEFAULT_CAPACITY, bind_logits: bool = True) -> None:
        import onnxruntime as ort

        self.session, self.limit, self.head_dim = session, limit, head_dim
        self.names = list(zip(past_names, present_names, strict=True))
        self.min_capacity, self.length = max(1, capacity), 0
        self.buffers: dict[str, np.ndarray] = {}
        meta = next(o for o in session.sess.get_outputs() if o.name == "logits")
        vocab = meta.shape[-1]
        # a preallocated logits OrtValue is read without the 61 output wrappers get_outputs() makes
        self._vocab = vocab if bind_logits and isinstance(vocab, int) else None
        self._logits_dtype = np.float16 if "float16" in meta.type else np.float32
        self._positions = "position_ids" in session.inputs
        self._ones = np.ones((1, limit), dtype=np.int64)
        self._ids1 = np.zeros((1, 1), dtype=np.int64)  # a step's token, bound once per binding
        self._io: Any = None
        self._step_bound = False  # input_ids and logits bound to the one-token arrays
        self._logits: np.ndarray | None = None  # a step's logits [1, 1, V]
        self._wrap = ort.OrtValue.ortvalue_from_numpy

    @property
    def capacity(self) -> int:
        return next(iter(self.buffers.values())).shape[2] if self.buffers else 0

    def reserve(self, total: int) -> None:
        """Room for `total` positions: a doubled buffer with the valid positions copied over."""
        if total > self.limit:
            raise ContextOverflowError(f"the sequence needs {total} positions but the context holds {self.limit}: "
                                       "shorten the prompt or load with a larger n_ctx")
        if total <= self.capacity:
            return
        size = min(self.limit, max(self.min_capacity, 2 * self.capacity, _pow2(total)))
        old, n = self.buffers, self.length
        self.buffers = {p: self.session.empty_past(p, 1, size, self.head_dim) for p, _ in self.names}
        for name, buf in old.items():
            self.buffers[name][:, :, :n] = buf[:, :, :n]
        self._bind()

    def _bind(self) -> None:
        """One IOBinding for these buffers: each past and its present bound to the same OrtValue."""
        io = self.session.sess.io_binding()
        io.bind_output("logits")  # bound first: index 0 of get_outputs() when not preallocated
        for past, present in self.names:
            value = self._wrap(self.buffers[past])
            io.bind_ortvalue_input(past, value)
            io.bind_ortvalue_output(present, value)
        self._io, self._step_bound = io, False

    def truncate(self, n: int) -> None:
        """Keep the first n positions; the next run writes over the rest."""
        self.length = min(n, self.length)

    def load(self, past: dict[str, Any], n: int) -> None:
        """The first n positions of `past` (arrays or OrtValues, [1, heads, >= n, dim]) into the buffer."""
        self.reserve(n)
        for name, buf in self.buffers.items():
            value = past[name]
            buf[:, :, :n] = (value if isinstance(value, np.ndarray) else value.numpy())[:, :, :n]
        self.length = n

    def snapshot(self, n: int) -> dict[str, np.ndarray]:
        """Owned copies of the first n positions, for a cache entry later runs must not overwrite."""
        return {name: buf[:, :, :n].copy() for name, buf in self.buffers.items()}

    def run(self, new: list[int]) -> np.ndarray:
        """Logits [len(new), V] after appending `new`; a one-token run's row is reused by the next one."""
        n = len(new)
        total = self.length + n
        self.reserve(total)
        io, logits = self._io, self._logits
        if n == 1:
            self._ids1[0, 0] = new[0]
        ids = self._ids1 if n == 1 else np.asarray([new], dtype=np.int64)
        if n != 1 or not self._step_bound:  # a step rebinds only the mask
            io.bind_ortvalue_input("input_ids", self._wrap(ids))
            logits = self._bind_logits(n)
            self._step_bound = n == 1
        io.bind_cpu_input("attention_mask", self._ones[:, :total])
        if self._positions:
            positions = np.arange(self.length, total, dtype=np.int64)[None]
            io.bind_cpu_input("position_ids", positions)
        if self._vocab is None:  # ORT allocates logits of this run's shape
            io.bind_output("logits")
        self.session.sess.run_with_iobinding(io)
        self.length = total
        if self._vocab is None:
            return io.get_outputs()[0].numpy()[0]
        return logits[0]

    def _bind_logits(self, n: int) -> np.ndarray | None:
        """A new logits array the run writes into (None: ORT allocates them: a symbolic vocab, or
        bind_logits off); a step's is kept for the steps after it."""
        if self._vocab is None:
            return None
        logits = np.empty((1, n, self._vocab), dtype=self._logits_dtype)
        self._io.bind_ortvalue_output("logits", self._wrap(logits))
        if n == 1:
            self._logits = logits
        return logits
