"""Tree drafts for batched verification: several candidate continuations, one listed cloud call.

A linear draft keeps tokens only while the fused pick is the local model's own greedy token. Where
a weak local model and the cloud disagree (every step fused, a q2_k local copy) that is little more
than one token a call. A tree grows the local model's likeliest continuations best first (by the
sum of local logprobs along a path, the greedy child of a step the policy does not consult being
certain), until it holds `budget` consulted nodes; one `/v1/completions` call lists each consulted
node's own per-token prompt, and the walk follows the fused picks down the tree as far as they stay
in it. The picks, and so the answer, are exactly per-token fusion's at temperature 0.

Each listed prompt is a whole outbound text, so a tree trades bytes for calls (reported by
`bench/collab.py`); it needs an endpoint that takes a list of prompts and is not used otherwise.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.sampling import log_softmax

if TYPE_CHECKING:
    from .logit_mode import LogitSession
    from .pseudonym import Pseudonymizer

Path = tuple[int, ...]  # the drafted tokens after the answer so far
PURPOSE_TREE = "cogenesis logits: next-token logprobs for each candidate continuation of a context-free prompt"
MAX_NODES_PER_LISTED = 4  # local steps evaluated per listed prompt, at most (unconsulted chains are free)


@dataclass
class Tree:
    """The drafted nodes and the cloud's top-k at each consulted one (None: not to be sent)."""

    root: np.ndarray  # the local logprobs after the answer so far
    nodes: set[Path]  # every path whose next step the tree knows how to judge
    clouds: dict[Path, dict[int, float] | None]

    def __contains__(self, path: Path) -> bool:
        return path in self.nodes


def tree_run(s: LogitSession, out: list[int], budget: int) -> Tree | None:
    """Grow a tree of up to `budget` consulted nodes after `out` and score them in one listed call;
    None where no list can be sent (no lists at the endpoint, the cloud failed before)."""
    client = s.cg.client
    room = s.opts.max_tokens - len(out)
    if client is None or client.prompt_lists is False or s.res.cloud_error is not None or room <= 0:
        return None
    prompts: dict[Path, str | None] = {}
    nodes: set[Path] = set()
    # each entry carries the mapping after its parent's call; a node forks it when it is grown, so
    # it holds exactly what the per-token path would have mapped before that node's own call
    frontier: list[tuple[float, Path, Pseudonymizer]] = [(0.0, (), s.cg.pseud)]
    evaluated, root = 0, None
    while frontier and len(prompts) < budget and evaluated < budget * MAX_NODES_PER_LISTED:
        score, path, parent = heapq.heappop(frontier)
        lp = log_softmax(s.engine.next_token_logits(s.local_prompt + out + list(path)))
        evaluated += 1
        root = lp if root is None else root
        nodes.add(path)
        state = parent.fork()
        if s.consult(len(out) + len(path), lp):
            prompts[path] = s.outbound(out + list(path), state)  # teaches `state`: it is this node's own fork
            children, certain = np.argsort(-lp, kind="stable")[: s.opts.top_k], False
        else:
            children, certain = [int(np.argmax(lp))], True  # an unconsulted step picks its greedy token
        if len(path) + 1 >= room:
            continue  # a pick here ends the answer: nothing after it to judge
        for tok in map(int, children):
            if s.engine.is_end_of_generation(tok):
                continue
            heapq.heappush(frontier, (score if certain else score - float(lp[tok]), (*path, tok), state))
    sendable = [(p, text) for p, text in prompts.items() if text is not None]
    clouds: dict[Path, dict[int, float] | None] = {p: None for p, text in prompts.items() if text is None}
    if sendable:
        from .logit_mode import FAILED

        texts = [text for _, text in sendable]
        tops = s.ask(texts, lambda c, ps: c.top_logprobs_many(ps, s.opts.top_k, PURPOSE_TREE))
        if tops is not FAILED and tops is not None:
            clouds.update((p, s.tokens.to_ids(top)) for (p, _), top in zip(sendable, tops, strict=True))  # type: ignore[arg-type]
    # a tree is walked even without a call (none consulted, lists refused, the cloud down): its
    # steps then ask per token, and its root row stays the one evaluated with the prompt
    return Tree(root, nodes, clouds)  # type: ignore[arg-type]
