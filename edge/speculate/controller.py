"""When and how much to draft: measured acceptance against measured cost.

Per draft source the controller keeps an estimate `a` of the chance that the next draft token is
accepted (a moving average of accepted / tried tokens); a draft of k tokens then yields
E(k) = 1 + a + ... + a^k tokens per verifier pass. It also times its own passes (verification,
acceptance and drafting together): c(1) for one token, and the extra cost of k further tokens in
a batch as b + e*k, fitted to the passes it has seen. It drafts k tokens only where E(k) / c(k + 1)
beats 1 / c(1) by a margin, else not at all, with a rare one-token probe so that a source that
starts paying again is noticed, and a rare plain pass so that c(1) follows the machine's load. After `handoff_after` steps in a row without
a draft worth sending (probes do not count) it tells the loop to hand the rest of the generation to
the backend's plain decoder, whose per-token cost is below a one-token verifier pass, for a
stretch of `plain_stretch` tokens (doubling each time) before speculation resumes and probes again:
free text often turns into copied text later (an answer's prose, then its code).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Ema:
    value: float
    seen: int = 0  # 0: the first observation replaces `value`
    weight: float = 0.15  # ~7 observations of memory: text changes character within a generation

    def add(self, x: float) -> None:
        self.value = x if not self.seen else self.value + self.weight * (x - self.value)
        self.seen += 1


@dataclass
class _Median:
    """Median of the last timings: on a shared CPU one pass in ten can be preempted and take 10x."""

    window: deque = field(default_factory=lambda: deque(maxlen=15))

    def add(self, x: float) -> None:
        self.window.append(x)

    @property
    def seen(self) -> int:
        return len(self.window)

    @property
    def value(self) -> float:
        return statistics.median(self.window)


@dataclass
class _BatchCost:
    """A verifier pass's time beyond a one-token pass, for k draft tokens, as b + e*k.

    Fitted to the median per draft length: on a CPU the first extra token costs most (2 cores,
    Q4_1: ~0.7 one-token passes, then ~0.2 per token), so one per-token figure made long drafts look
    dearer than they are and short ones cheaper. A length counts from `min_seen` passes on, so one
    preempted pass cannot bend the line."""

    min_seen: int = 3
    by_len: dict[int, _Median] = field(default_factory=dict)
    _line: tuple[float, float] | None = None  # fitted on demand after each pass (read at every step)

    @property
    def seen(self) -> bool:
        return bool(self.by_len)

    def add(self, k: int, extra: float) -> None:
        self.by_len.setdefault(k, _Median()).add(extra)
        self._line = None

    def line(self) -> tuple[float, float]:
        """(b, e): the least-squares line through the lengths seen enough, both kept >= 0."""
        if self._line is None:
            self._line = self._fit()
        return self._line

    def _fit(self) -> tuple[float, float]:
        pts = [(k, m.value) for k, m in self.by_len.items() if m.seen >= self.min_seen]
        if len(pts) < 2:  # one length (or none seen enough): a line through the origin
            pts = pts or [(k, m.value) for k, m in self.by_len.items()]
            return 0.0, statistics.median(m / k for k, m in pts)
        n, sk, sm = len(pts), sum(k for k, _ in pts), sum(m for _, m in pts)
        skk, skm = sum(k * k for k, _ in pts), sum(k * m for k, m in pts)
        e = (n * skm - sk * sm) / (n * skk - sk * sk)
        b = (sm - e * sk) / n
        if e < 0:
            return max(0.0, sm / n), 0.0
        if b < 0:
            return 0.0, skm / skk
        return b, e


@dataclass
class Controller:
    max_draft: int = 8
    margin: float = 0.05  # drafting must promise this much more throughput than plain decoding
    probe_every: int = 16  # plain steps between one-token probes of a source judged not worth it
    plain_every: int = 32  # drafting steps between plain passes that re-measure c(1)
    # untried sources start hopeful: at 0.5 a 2-core CPU's dear batched pass (~0.4 one-token passes per
    # extra token) never looked worth a try, and prompt-lookup drafts were never sent (measured: 0.8-0.9)
    prior_accept: float = 0.8
    prior_extra: float = 0.12  # cost of one more token in a batch, in 1-token passes, until measured
    handoff_after: int = 24  # steps without a draft worth sending before decoding goes plain (0: never)
    plain_stretch: int = 32  # tokens of the first plain stretch; each later one is twice as long
    _accept: dict[str, _Ema] = field(default_factory=dict)
    _c1: _Median = field(default_factory=_Median)
    _extra: _BatchCost = field(default_factory=_BatchCost)
    _idle: dict[str, int] = field(default_factory=dict)
    _since_plain: int = 0
    _since_worth: int = 0  # verifier passes since the last draft judged worth sending
    _worth: bool = False  # the current step's draft was judged worth sending

    def new_text(self) -> None:
        """A new generation: acceptance goes halfway back to the prior, costs are kept.

        Forgetting it all would throw away what the last texts taught; keeping it all would let
        one text of free prose stop the drafting of the next, grounded one."""
        for ema in self._accept.values():
            ema.value = 0.5 * (ema.value + self.prior_accept)
        self.new_stretch()

    def new_stretch(self) -> None:
        """Speculation resumes after a plain stretch: the handoff count and the probes start again."""
        self._idle.clear()
        self._since_worth, self._worth = 0, False

    def hand_off(self) -> bool:
        """Whether drafting has not paid for so long that the rest should decode plainly."""
        return 0 < self.handoff_after <= self._since_worth

    def budget(self, source: str) -> tuple[int, bool]:
        """(draft tokens worth sending from `source` now, whether that is a probe); 0: decode plainly."""
        if self._since_plain >= self.plain_every:
            return 0, False
        k = self.best_length(source)
        if k:
            self._idle[source] = 0
            self._worth = True
            return k, False
        self._idle[source] = self._idle.get(source, 0) + 1
        if self._idle[source] >= self.probe_every:
            self._idle[source] = 0
            return 1, True
        return 0, False

    def best_length(self, source: str) -> int:
        a = self.acceptance(source)
        c1 = self._c1.value if self._c1.seen else 1.0
        b, e = self._extra.line() if self._extra.seen else (0.0, self.prior_extra * c1)
        best_k, best, gain = 0, (1.0 + self.margin) / c1, 1.0
        for k in range(1, self.max_draft + 1):
            gain += a ** k
            rate = gain / (c1 + b + k * e)
            if rate > best:
                best_k, best = k, rate
        return best_k

    def acceptance(self, source: str) -> float:
        ema = self._accept.get(source)
        return ema.value if ema is not None else self.prior_accept

    def record(self, source: str | None, n_draft: int, n_accepted: int, seconds: float) -> None:
        """One verifier pass: `n_draft` draft tokens of which `n_accepted` kept, in `seconds`."""
        self._since_worth = 0 if self._worth else self._since_worth + 1
        self._worth = False
        if n_draft == 0:
            self._c1.add(seconds)
            self._since_plain = 0
            return
        self._since_plain += 1
        if self._c1.seen:
            self._extra.add(n_draft, max(0.0, seconds - self._c1.value))
        ema = self._accept.setdefault(source or "?", _Ema(self.prior_accept, seen=1))
        tried = n_accepted + (1 if n_accepted < n_draft else 0)
        for i in range(tried):  # each tried token is one Bernoulli observation
            ema.add(1.0 if i < n_accepted else 0.0)
