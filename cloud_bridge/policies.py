"""When a collaboration step consults the cloud: a fixed schedule, or the local model's uncertainty.

Fast-and-Slow Generating observes that the large model is needed on few tokens, and that those
are the ones where the small model is unsure. A `Gate` consults the cloud only at steps whose local
uncertainty reaches its threshold; `Schedule` (CoGenesis) fuses fixed steps. Every policy answers
`consult(step, local_logprobs)`; build one by name with `make_policy("gated", metric=..., threshold=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from edge.errors import InvalidRequestError

from .fusion import Schedule


class StepPolicy(Protocol):
    # the cloud's fusion weight at the steps it consults, unless CollabOptions.weight says otherwise
    cloud_weight: float

    def consult(self, step: int, local_logprobs: np.ndarray) -> bool:
        """True when step `step` (0-based) should fuse the cloud's distribution in."""
        ...


def _entropy(lp: np.ndarray) -> float:
    p = np.exp(lp)
    return float(-(p * np.where(p > 0, lp, 0.0)).sum())


def _margin(lp: np.ndarray) -> float:
    top2 = np.exp(np.partition(lp, len(lp) - 2)[-2:])
    return float(1.0 - (top2.max() - top2.min()))


def _top1(lp: np.ndarray) -> float:
    return float(1.0 - np.exp(lp.max()))


# metric name -> uncertainty of a full log-probability vector (higher: the local model is less sure)
UNCERTAINTY: dict[str, Callable[[np.ndarray], float]] = {
    "entropy": _entropy,  # nats
    "margin": _margin,  # 1 - (p1 - p2)
    "top1": _top1,  # 1 - p1
}


# from bench/collab.py (q2_k local, Q4_1 cloud, 8 instructions, the cloud picking at consulted steps):
# entropy >= 5 nats consulted 16 % of steps and recovered more of the cloud's answer than the fixed
# schedule at 37.5 %; margin >= 0.97 consulted 25 % for 80 % of its gain; top1 >= 0.9 14.5 % for 60 %
DEFAULT_THRESHOLD: dict[str, float] = {"entropy": 5.0, "margin": 0.97, "top1": 0.9}


@dataclass(frozen=True)
class Gate:
    """Consult the cloud where the local uncertainty `metric` is >= `threshold`; there the cloud
    writes the token (FS-GEN: the large model steps in on the small one's uncertain tokens)."""

    cloud_weight: ClassVar[float] = 1.0
    metric: str = "entropy"
    threshold: float | None = None  # None: the metric's DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.metric not in UNCERTAINTY:
            raise InvalidRequestError(f"unknown uncertainty metric {self.metric!r}; known: {', '.join(UNCERTAINTY)}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLD[self.metric])
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise InvalidRequestError(f"the gate threshold must be a finite number >= 0, got {self.threshold!r}")

    def uncertainty(self, local_logprobs: np.ndarray) -> float:
        return UNCERTAINTY[self.metric](np.asarray(local_logprobs, dtype=np.float64))

    def consult(self, step: int, local_logprobs: np.ndarray) -> bool:
        return self.uncertainty(local_logprobs) >= self.threshold


@dataclass(frozen=True)
class Always:
    """Every step (the cloud's distribution everywhere it is fused in)."""

    cloud_weight: ClassVar[float] = 0.5

    def consult(self, step: int, local_logprobs: np.ndarray) -> bool:
        return True


@dataclass(frozen=True)
class Never:
    """No step: the local model alone."""

    cloud_weight: ClassVar[float] = 0.5

    def consult(self, step: int, local_logprobs: np.ndarray) -> bool:
        return False


POLICIES: dict[str, Callable[..., StepPolicy]] = {
    "schedule": Schedule, "gated": Gate, "always": Always, "never": Never,
}


def make_policy(name: str, **params) -> StepPolicy:
    try:
        factory = POLICIES[name]
    except KeyError:
        raise InvalidRequestError(f"unknown collaboration policy {name!r}; known: {', '.join(POLICIES)}") from None
    return factory(**params)
