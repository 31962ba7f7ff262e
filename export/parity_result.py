"""Teacher-forced logit parity, one result type for GGUF and ONNX exports.

Argument order everywhere in `export/`: the reference (the source model) first, the candidate
(the bundle's runtime) second, as in `export.decode.compare` and `export.tokparity.compare`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edge.bundle import Parity


@dataclass(frozen=True)
class LogitParity:
    max_abs_logit_diff: float
    top1_agreement: float
    n_tokens: int
    max_abs_reference_logit: float = 1.0  # the scale of a relative tolerance

    def within(self, tolerance: float | None, min_top1: float | None, relative: bool = False) -> bool:
        """Both bounds hold (None: not checked); `relative` scales `tolerance` by max(1, |reference logit|)."""
        scale = max(1.0, self.max_abs_reference_logit) if relative else 1.0
        return (tolerance is None or self.max_abs_logit_diff <= tolerance * scale) and (
            min_top1 is None or self.top1_agreement >= min_top1)

    def to_manifest(self, reference: str, tolerance: float | None, min_top1: float | None) -> Parity:
        return Parity(reference=reference, max_abs_logit_diff=self.max_abs_logit_diff,
                      top1_agreement=self.top1_agreement, n_tokens=self.n_tokens, tolerance=tolerance,
                      min_top1=min_top1)

    @classmethod
    def from_manifest(cls, parity: Parity) -> LogitParity:
        """The recorded parity (its reference scale was not recorded: 1, i.e. absolute)."""
        return cls(parity.max_abs_logit_diff, parity.top1_agreement, parity.n_tokens)

    def as_dict(self) -> dict[str, float | int]:
        out = asdict(self)
        del out["max_abs_reference_logit"]
        return out

    def __str__(self) -> str:
        return (f"max |Δlogit| {self.max_abs_logit_diff:.3g}, top-1 agreement {self.top1_agreement:.3f} "
                f"over {self.n_tokens} tokens")


def compare(reference: np.ndarray, candidate: np.ndarray) -> LogitParity:
    """Parity of `candidate` logits [T, V] against `reference` over their common positions and vocabulary."""
    n, v = min(len(reference), len(candidate)), min(reference.shape[1], candidate.shape[1])
    ref, got = reference[:n, :v], candidate[:n, :v]
    return LogitParity(float(np.max(np.abs(got - ref))), float(np.mean(got.argmax(-1) == ref.argmax(-1))), n,
                       float(np.max(np.abs(ref))))
