"""Racing for the tuner: interleaved rounds, early drops of dominated candidates, ties within the noise.

    cands = [Candidate("q4_1", 2, "f16", True), Candidate("q4_1", 1, "f16", True)]
    log = race(cands, measure=lambda c: ..., affords=lambda round_s: clock.affords(round_s))
    best, tied = choose(log.alive, prefer=lambda c: (c.top1, ...))

Every round measures each live candidate once, in a rotated order, so drift on a shared machine
hits all of them alike. A candidate is dropped once the leader beats it with confidence: the
leader's slowest round is faster than the candidate's fastest one and the medians differ by at
least `min_gain` (with 3 rounds each, two equal candidates look separated 1 time in 20, and the
gain bound makes even that harmless); a candidate 1.5× behind in both of two rounds goes sooner.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_ROUNDS = 3
MIN_GAIN = 0.03  # medians closer than this are a tie whatever the ranges say
GROSS_GAP = 1.5  # two rounds that far apart need no third


@dataclass(kw_only=True)
class Entrant:
    """What the race keeps of any configuration: its speed per round and why it left, if it did."""

    samples: list[float] = field(default_factory=list)  # decode tok/s, one per round
    dropped: str | None = None  # why it left the race, e.g. "round 3: behind q4_1 t2 f16 fa"

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def lo(self) -> float:
        return min(self.samples, default=0.0)

    @property
    def hi(self) -> float:
        return max(self.samples, default=0.0)

    def speeds(self) -> dict:
        return {"decode_tok_s": round(self.median, 2), "decode_tok_s_min": round(self.lo, 2),
                "decode_tok_s_max": round(self.hi, 2), "rounds": len(self.samples),
                "samples": [round(s, 2) for s in self.samples], "dropped": self.dropped}


@dataclass
class Candidate(Entrant):
    """One llama.cpp configuration and what was measured of it."""

    quant: str
    threads: int
    kv_type: str
    flash_attn: bool
    top1: float = 0.0  # next-token agreement with the source on natural text

    @property
    def name(self) -> str:
        return f"{self.quant} t{self.threads} kv {self.kv_type} {'fa' if self.flash_attn else 'no-fa'}"

    @property
    def key(self) -> tuple[str, int, str, bool]:
        return (self.quant, self.threads, self.kv_type, self.flash_attn)

    def as_dict(self) -> dict:
        return {"quant": self.quant, "threads": self.threads, "kv_type": self.kv_type, "flash_attn": self.flash_attn,
                "top1": round(self.top1, 4), **self.speeds()}


@dataclass(kw_only=True)
class RaceResult:
    """What a tuner's race decided: the chosen entrant and those within the noise of the fastest."""

    best: Entrant | None = None
    tied: list = field(default_factory=list)  # entrants within the noise of the fastest (best included)
    rounds: int = 0
    stopped: str = ""  # why the race ended
    elapsed_s: float = 0.0

    @property
    def tie(self) -> bool:
        return len(self.tied) > 1 or not self.rounds

    def race_verdict(self, chosen_for: str) -> str:
        """Winner or tie in words; `chosen_for` says how a tie was broken."""
        b = self.best
        assert b is not None
        if not self.rounds:
            return (f"tie: no round of decoding fitted in the budget, so no speed is known; chose {b.name} "
                    f"for {chosen_for} (raise --budget-s)")
        if not self.tie:
            return f"winner: {b.name} ({b.median:.1f} tok/s) is ahead of every other candidate beyond the noise"
        others = ", ".join(c.name for c in self.tied if c is not b)
        return f"tie: {b.name} ({b.median:.1f} tok/s) is within the noise of {others}; chosen for {chosen_for}"


class LoadedModels:
    """A runner's models, one per candidate key, closed when the candidate drops or the race ends."""

    def __init__(self) -> None:
        self.loaded: dict[tuple, object] = {}

    def drop(self, c) -> None:  # a Candidate or any entrant with a `key`
        model = self.loaded.pop(c.key, None)
        if model is not None:
            model.close()

    def close(self) -> None:
        for model in self.loaded.values():
            model.close()
        self.loaded.clear()


def beats(a: Entrant, b: Entrant, min_gain: float = MIN_GAIN) -> bool:
    """`a` is faster than `b` beyond the noise: ranges apart after MIN_ROUNDS rounds each, or, after
    two, a gap of GROSS_GAP× between a's slowest and b's fastest round (a small budget's early cut)."""
    n = min(len(a.samples), len(b.samples))
    if n >= 2 and a.lo > GROSS_GAP * b.hi:
        return True
    return n >= MIN_ROUNDS and a.lo > b.hi and a.median >= (1 + min_gain) * b.median


@dataclass
class RaceLog:
    alive: list[Entrant]
    dropped: list[Entrant]
    rounds: int = 0
    stopped: str = ""  # why the race ended


def _drop_dominated(alive: list[Entrant], dropped: list[Entrant], rnd: int, min_gain: float) -> list[Entrant]:
    leader = max(alive, key=lambda c: c.median)
    keep = []
    for c in alive:
        if c is not leader and beats(leader, c, min_gain):
            c.dropped = f"round {rnd}: behind {leader.name} beyond the noise"
            dropped.append(c)
        else:
            keep.append(c)
    return keep


class _Timer:
    """How long a measurement takes: each candidate's last one; for a first one (a model load and
    warm-up included) the longest first one so far."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}
        self.first = 0.0

    def estimate(self, c: Entrant) -> float:
        return self.last.get(id(c), self.first)

    def timed(self, c: Entrant, measure: Callable[[Entrant], float | None]) -> float | None:
        t0 = time.perf_counter()
        speed = measure(c)
        took = time.perf_counter() - t0
        if id(c) not in self.last:
            self.first = max(self.first, took)
        self.last[id(c)] = took
        return speed


def _round(alive: list[Entrant], k: int, measure: Callable[[Entrant], float | None],
           affords: Callable[[float], bool], timer: _Timer) -> bool:
    """One measurement of each candidate, rotated by `k` so none always runs first; a round the
    budget cuts short is taken back whole, so every candidate keeps the same number of rounds."""
    order = alive[k % len(alive):] + alive[:k % len(alive)]
    for i, c in enumerate(order):
        speed = timer.timed(c, measure) if affords(timer.estimate(c)) else None
        if speed is None:
            for done in order[:i]:
                done.samples.pop()
            return False
        c.samples.append(speed)
    return True


def race(candidates: list[Entrant], measure: Callable[[Entrant], float | None],
         affords: Callable[[float], bool], max_rounds: int = 12, min_gain: float = MIN_GAIN,
         on_drop: Callable[[Entrant], None] | None = None) -> RaceLog:
    """Interleaved rounds until one candidate is left (after MIN_ROUNDS), `max_rounds`, or the budget.

    `affords(seconds)` says whether that much more work fits the budget; `measure` returns None
    when the budget cut its measurement short.
    """
    log, timer = RaceLog(list(candidates), []), _Timer()
    while log.rounds < max_rounds:
        if log.rounds >= MIN_ROUNDS and len(log.alive) == 1:
            log.stopped = "one candidate left"
            return log
        if not affords(sum(map(timer.estimate, log.alive))) or not _round(log.alive, log.rounds, measure, affords,
                                                                          timer):
            log.stopped = f"budget spent after {log.rounds} rounds"
            return log
        log.rounds += 1
        before = set(map(id, log.alive))
        log.alive = _drop_dominated(log.alive, log.dropped, log.rounds, min_gain)
        for c in log.dropped:
            if id(c) in before and on_drop is not None:
                on_drop(c)
    log.stopped = f"{max_rounds} rounds"
    return log


def choose(alive: list[Entrant], prefer: Callable[[Entrant], tuple],
           min_gain: float = MIN_GAIN) -> tuple[Entrant, list[Entrant]]:
    """The chosen candidate and every one it does not beat beyond the noise (itself included).

    Among those tied with the fastest, `prefer` picks (higher quality, simpler); a lone survivor
    ahead of all others beyond the noise wins outright.
    """
    leader = max(alive, key=lambda c: c.median)
    tied = [c for c in alive if c is leader or not beats(leader, c, min_gain)]
    return max(tied, key=prefer), tied
