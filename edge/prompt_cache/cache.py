"""The prompt-cache policy, independent of the runtime: what to restore before a prefill, what to keep.

Before a prompt is evaluated, `prepare` puts the best saved state in the runtime's KV cache:
the longest common prefix among the KV cache itself, the in-memory LRU and the disk store.
What would be lost (the current KV content, when the new prompt diverges from it) is saved to
the LRU first. Which prefixes go to disk: a prefix of at least `disk_min_tokens` that two prompts
share, also across processes (recent long prompts are remembered as "sightings" on disk). Such a
shared prefix is by construction the fixed part of an app's prompt (rules, doc, instructions);
a chat's changing tail never repeats, so it stays in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..prefix import common_prefix
from .disk import DiskStore
from .memory import StateLRU


class StateAdapter(Protocol):
    """What a backend exposes to the cache: its evaluated tokens and a way to save/restore them."""

    def evaluated(self) -> list[int]: ...
    def snapshot(self) -> bytes: ...
    def restore(self, tokens: Sequence[int], state: bytes) -> bool: ...
    def truncate(self, n: int) -> None: ...
    def eval(self, tokens: Sequence[int]) -> None: ...


@dataclass
class Limits:
    memory_bytes: int = 256 << 20
    disk_bytes: int = 512 << 20
    min_tokens: int = 32  # shorter prefixes are cheaper to evaluate than to save and restore
    disk_min_tokens: int = 128
    sightings: int = 16


@dataclass
class Stats:
    """Counters for tests and benchmarks (never asserted on time)."""

    requests: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    disk_writes: int = 0
    reused_tokens: int = 0  # prompt tokens not evaluated, summed
    last_reused: int = 0
    by_source: dict = field(default_factory=dict)


TOTALS = Stats()  # over every cache in this process: tests read it without reaching into a backend


def totals() -> Stats:
    """A copy of this process's prompt-cache counters."""
    return Stats(**{**vars(TOTALS), "by_source": dict(TOTALS.by_source)})


class PromptCache:
    def __init__(self, adapter: StateAdapter, fingerprint: str, disk: DiskStore | None,
                 limits: Limits | None = None, meta: dict | None = None) -> None:
        self.adapter, self.fp, self.disk = adapter, fingerprint, disk
        self.limits = limits or Limits()
        self.memory = StateLRU(self.limits.memory_bytes)
        self.meta = meta or {}
        self.stats = Stats()

    def prepare(self, prompt: Sequence[int]) -> int:
        """Restore the best saved prefix of `prompt`; returns how many prompt tokens need no eval."""
        prompt = list(prompt)
        current = self.adapter.evaluated()
        here = common_prefix(current, prompt)
        # what the new prompt would overwrite, if worth keeping (a chat's next turn loses a token or two)
        if len(current) - here >= self.limits.min_tokens and not self.memory.covers(current):
            self.memory.put(current, self.adapter.snapshot())
        entry, in_memory = self.memory.best(prompt)
        source, reused = "kv", here
        if entry is not None and in_memory >= max(here + self.limits.min_tokens, self.limits.min_tokens):
            if self.adapter.restore(entry.tokens, entry.state):
                source, reused = "memory", in_memory
        disk_hit = self._from_disk(prompt, reused)
        if disk_hit is not None:
            source, reused = "disk", disk_hit
        self._count(source, min(reused, len(prompt) - 1))
        self._persist(prompt)
        return min(common_prefix(self.adapter.evaluated(), prompt), len(prompt) - 1)

    def _from_disk(self, prompt: list[int], reused: int) -> int | None:
        if self.disk is None or reused >= len(prompt) - self.limits.min_tokens:
            return None
        hit = self.disk.best(self.fp, prompt, max(reused + self.limits.min_tokens, self.limits.disk_min_tokens))
        if hit is None or not self.adapter.restore(*hit):
            return None
        return common_prefix(hit[0], prompt)

    def _persist(self, prompt: list[int]) -> None:
        """Save the fixed part of `prompt` to disk once another prompt (this process's or not) shares it.

        Sightings hold prompts only: KV contents also hold generated tokens, which no prompt repeats.
        """
        if self.disk is None or len(prompt) < self.limits.disk_min_tokens:
            return
        seen = self.disk.sightings(self.fp)
        shared = min(max([_branch(s, prompt) for s in seen] + [0]), len(prompt) - 1)
        # a saved prefix within min_tokens of this one serves it as well (prompts differ in their tails)
        if shared >= self.limits.disk_min_tokens and self.disk.covered(self.fp, prompt) < shared - self.limits.min_tokens:
            kv = self.adapter.evaluated()
            self.adapter.truncate(min(common_prefix(kv, prompt), shared))
            self.adapter.eval(prompt[len(self.adapter.evaluated()):shared])  # the prefill would do it anyway
            self.disk.write(self.fp, prompt[:shared], self.adapter.snapshot(), self.meta)
            self.stats.disk_writes += 1
            TOTALS.disk_writes += 1
        if not any(s == tuple(prompt) for s in seen):
            self.disk.add_sighting(self.fp, prompt, self.limits.sightings)

    def _count(self, source: str, reused: int) -> None:
        for s in (self.stats, TOTALS):
            s.requests += 1
            s.memory_hits += source == "memory"
            s.disk_hits += source == "disk"
            s.reused_tokens += max(reused, 0)
            s.last_reused = max(reused, 0)
            s.by_source[source] = s.by_source.get(source, 0) + 1


def _branch(other: Sequence[int], prompt: Sequence[int]) -> int:
    """Tokens `prompt` shares with another prompt it repeats or branches from; 0 if it only extends it.

    A chat's next turn extends the last one: that is not a second sighting of a fixed part.
    """
    n = common_prefix(other, prompt)
    return n if n < len(other) or len(other) == len(prompt) else 0
