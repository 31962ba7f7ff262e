"""The lossless acceptance rule: which draft tokens the target model keeps.

Greedy: a draft token is kept while it equals the verifier's argmax, and the first mismatch is
replaced by that argmax, so the output is token for token what plain greedy decoding writes.
Sampling (standard speculative sampling): our drafts are deterministic, so the draft distribution
q is one-hot at the draft token x; accept x with probability min(1, p(x)/q(x)) = p(x), else draw
from the residual max(p - q, 0), i.e. p with x removed and renormalised. The emitted token then
has exactly the target distribution p (Leviathan et al. 2023, Chen et al. 2023).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..sampling import Sampler

Allowed = Callable[[int], "np.ndarray | None"]  # row index -> grammar mask for that row (None: free)


def accept_draft(rows: np.ndarray, draft: Sequence[int], sampler: Sampler,
                 allowed: Allowed | None = None) -> list[int]:
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


def _judge(row: np.ndarray, tok: int, sampler: Sampler, mask: np.ndarray | None) -> tuple[int, bool]:
    """(token to emit, whether it is the draft token) for one position."""
    if sampler.params.greedy:
        pick = sampler(row, mask)
        return pick, pick == tok
    ids, probs = sampler.distribution(row, mask)
    hit = np.flatnonzero(ids == tok)
    p_tok = float(probs[hit[0]]) if hit.size else 0.0
    if sampler.rng.random() < p_tok:
        return tok, True
    residual = probs.copy()
    if hit.size:
        residual[hit[0]] = 0.0
    total = residual.sum()
    if total <= 0.0:  # p was (numerically) one-hot at the draft token
        return tok, True
    return int(ids[sampler.rng.choice(len(ids), p=residual / total)]), False
