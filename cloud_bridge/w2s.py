"""Weak-to-strong fusion (Emulated Fine-Tuning / dynamic logit fusion).

A small tuned model and its small base share a tokenizer; their difference is what tuning taught.
Added to the cloud's base distribution, it steers the big model the same way without tuning it:

    fused(t) = lp_cloud(t) + alpha * (lp_tuned(t) - lp_base(t))    over U = top-k(cloud) ∪ top-k(tuned)

renormalised over U; a token missing from the cloud's top-k gets its k-th logprob. `alpha` is fixed,
or "dynamic": per step, the alpha in `grid` whose fused distribution moves away from the cloud by
as much (KL) as tuning moved the small model away from its base (the dynamic-fusion idea of
matching the expert's shift, solved by a grid search instead of an optimiser).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.errors import InvalidRequestError
from edge.sampling import top_logprobs

if TYPE_CHECKING:
    from edge import Engine

GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


@dataclass(frozen=True)
class WeakToStrong:
    """The local base model beside the tuned one, and how much of their difference to add."""

    base: Engine
    alpha: float | str = 1.0  # a number, or "dynamic"
    grid: Sequence[float] = GRID

    def __post_init__(self) -> None:
        if isinstance(self.alpha, str) and self.alpha != "dynamic":
            raise InvalidRequestError(f"alpha must be a number or 'dynamic', got {self.alpha!r}")


def _normalised(scores: np.ndarray) -> np.ndarray:
    m = scores.max()
    return scores - m - np.log(np.exp(scores - m).sum())


def _kl(p_lp: np.ndarray, q_lp: np.ndarray) -> float:
    return float((np.exp(p_lp) * (p_lp - q_lp)).sum())


def support(cloud: dict[int, float], tuned: np.ndarray, k: int) -> np.ndarray:
    return np.array(sorted(set(cloud) | {t for t, _ in top_logprobs(tuned, k)}), dtype=np.int64)


def w2s_scores(cloud: dict[int, float], tuned: np.ndarray, base: np.ndarray, alpha: float,
               ids: np.ndarray) -> np.ndarray:
    """Renormalised fused logprobs on `ids` (tuned, base: full log-probability vectors)."""
    floor = min(cloud.values())
    c = np.array([cloud.get(int(t), floor) for t in ids], dtype=np.float64)
    return _normalised(c + alpha * (tuned[ids] - base[ids]))


def dynamic_alpha(cloud: dict[int, float], tuned: np.ndarray, base: np.ndarray, ids: np.ndarray,
                  grid: Sequence[float] = GRID) -> float:
    """The alpha whose fused-vs-cloud KL best matches the tuned-vs-base KL on `ids`."""
    target = _kl(_normalised(tuned[ids]), _normalised(base[ids]))
    cloud_lp = w2s_scores(cloud, tuned, base, 0.0, ids)
    return min(grid, key=lambda a: (abs(_kl(w2s_scores(cloud, tuned, base, a, ids), cloud_lp) - target), a))


def w2s_fuse(cloud: dict[int, float], tuned: np.ndarray, base: np.ndarray, k: int,
             alpha: float | str, grid: Sequence[float] = GRID) -> tuple[dict[int, float], float]:
    """(fused {token: logprob}, the alpha used) for one step."""
    ids = support(cloud, tuned, k)
    a = dynamic_alpha(cloud, tuned, base, ids, grid) if alpha == "dynamic" else float(alpha)
    return {int(t): float(v) for t, v in zip(ids, w2s_scores(cloud, tuned, base, a, ids), strict=True)}, a
