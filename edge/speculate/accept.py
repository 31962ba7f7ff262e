"""The lossless acceptance rule: which draft tokens the target model keeps.

At each position the target's own sampler draws a token from its row (greedy: the argmax); the
draft token is kept while it equals that draw, and the first mismatch is replaced by the draw.
Greedy output is therefore token for token what plain greedy decoding writes. With temperature
> 0 this is standard speculative sampling for a deterministic draft (q one-hot at x): x is kept
with probability min(1, p(x)/q(x)) = p(x), and a rejected position holds a draw from p given
"not x", which is the residual max(p - q, 0) renormalised (Leviathan et al. 2023). Drawing once per
emitted position, whatever the draft, keeps a seeded generation reproducible: the output does not
depend on what was drafted (which depends on timing and on earlier requests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..sampling import Allowed, Sampler

AllowedAt = Callable[[int], Allowed]  # row index -> what the grammar allows at that row (None: free)


def accept_draft(rows: np.ndarray, draft: Sequence[int], sampler: Sampler,
                 allowed: AllowedAt | None = None) -> list[int]:
    """Tokens to emit: the kept prefix of `draft`, then one token drawn from the verifier.

    `rows[i]` are the target's logits for the token after draft[:i] (row 0: after the last
    accepted token), so `rows` has len(draft) + 1 rows; emitted token i comes from row i.
    """
    out: list[int] = []
    for i, tok in enumerate(draft):
        mask = allowed(i) if allowed is not None else None
        pick, kept = _judge(rows[i], int(tok), sampler, mask)
        out.append(pick)
        if not kept:
            return out
    mask = allowed(len(draft)) if allowed is not None else None
    out.append(sampler(rows[len(draft)], mask))  # every draft token kept: the bonus token
    return out


def _judge(row: np.ndarray, tok: int, sampler: Sampler, mask: Allowed) -> tuple[int, bool]:
    """(token to emit, whether it is the draft token) for one position."""
    pick = sampler(row, mask)
    return pick, pick == tok
