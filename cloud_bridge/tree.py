"""Tree drafts for batched verification: several candidate continuations, one listed cloud call.

A linear draft keeps tokens only while the fused pick is the local model's own greedy token. Where
a weak local model and the cloud disagree (every step fused, a q2_k local copy) that is little more
than one token a call. A tree grows the local model's likeliest continuations best first (by the
sum of local logprobs along a path, the greedy child of a step the policy does not consult being
certain); one `/v1/completions` call scores its consulted nodes, and the walk follows the fused
picks down the tree as far as they stay in it. The picks, and so the answer, are exactly per-token
fusion's at temperature 0.

- Where the endpoint echoes a list of prompts (edgesplit, vLLM), the call lists up to `budget`
  paths, each echoed: one path's echo scores every consulted node along it.
- Elsewhere it lists up to `budget` consulted nodes, each with its own per-token prompt.

Each listed prompt is a whole outbound text (exactly what some node's per-token call would send),
so a tree trades bytes for calls (reported by `bench/collab.py`); it needs an endpoint that takes a
list of prompts and is not used otherwise.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.sampling import log_softmax

from .listed import Prompt, serves

if TYPE_CHECKING:
    from .logit_mode import LogitSession
    from .pseudonym import Pseudonymizer

Path = tuple[int, ...]  # the drafted tokens after the answer so far
PURPOSE_TREE = "cogenesis logits: next-token logprobs for each candidate continuation of a context-free prompt"
PURPOSE_TREE_PATHS = "cogenesis logits: score candidate continuations of a context-free prompt, token by token"
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
    """Grow a tree after `out` and score its consulted nodes in one listed call; None where no list
    can be sent (no lists at the endpoint, the cloud failed before).

    Where the endpoint echoes a list (edgesplit, vLLM), `budget` bounds the listed paths: one echoed
    path scores every consulted node along it, so the tree holds far more nodes than prompts. Elsewhere
    it bounds the consulted nodes, each listed with its own prompt."""
    client = s.cg.client
    room = s.opts.max_tokens - len(out)
    if client is None or client.prompt_lists is False or s.res.cloud_error is not None or room <= 0:
        return None
    by_paths = client.echo_lists is not False and client.echo_scoring is not False
    root, nodes, prompts = _grow(s, out, budget, room, by_paths)
    # a node the leak guard refuses gets no row: the walk ends there, and its per-token call fails
    # as per-token fusion's would
    refused = {p for p, text in prompts.items() if text is not None and s.refused(text)}
    # the walk starts at the root: where its per-token call fails, no list is worth sending
    sendable = [] if () in refused else [(p, text) for p, text in prompts.items()
                                         if text is not None and p not in refused]
    clouds: dict[Path, dict[int, float] | None] = {p: None for p, text in prompts.items() if text is None}
    if sendable:
        got = _score_paths(s, sendable, budget) if by_paths else None
        if got is None and s.res.cloud_error is None:
            got = _score_nodes(s, sendable[:budget])
        clouds.update(got or {})
        if got is not None and s.res.cloud_error is None:
            # a node the call brought no row for ends the tree (the next call starts there), where
            # walking on would cost a per-token call
            nodes = {n for n in nodes if all(n[:i] in clouds or n[:i] not in prompts for i in range(len(n) + 1))}
    # a tree is walked even without a call (none consulted, lists refused, the cloud down): its
    # steps then ask per token, and its root row stays the one evaluated with the prompt
    return Tree(root, nodes, clouds)


def _grow(s: LogitSession, out: list[int], budget: int, room: int,
          by_paths: bool) -> tuple[np.ndarray, set[Path], dict[Path, str | None]]:
    """The root row, the grown nodes and each consulted node's outbound prompt (None: not to be
    sent), best first, until `budget` leaves (by_paths) or consulted nodes are grown."""
    prompts: dict[Path, str | None] = {}
    nodes: set[Path] = set()
    parents: set[Path] = set()  # grown nodes with a grown child: growing another child adds a leaf
    # each entry carries the mapping after its parent's call; a node forks it when it is grown, so
    # it holds exactly what the per-token path would have mapped before that node's own call
    frontier: list[tuple[float, Path, Pseudonymizer]] = [(0.0, (), s.cg.pseud)]
    evaluated, leaves, root = 0, 0, None
    while frontier and evaluated < budget * MAX_NODES_PER_LISTED and (by_paths or len(prompts) < budget):
        score, path, parent = heapq.heappop(frontier)
        new_leaf = not path or path[:-1] in parents
        if by_paths and new_leaf and leaves >= budget:
            continue  # only the ends of the paths held may grow now
        lp = log_softmax(s.engine.next_token_logits(s.local_prompt + out + list(path)))
        evaluated, leaves = evaluated + 1, leaves + new_leaf
        root = lp if root is None else root
        nodes.add(path)
        parents.update([path[:-1]] if path else [])
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
    return root, nodes, prompts  # type: ignore[return-value]


def _score_nodes(s: LogitSession, sendable: list[tuple[Path, str]]) -> dict[Path, dict[int, float]] | None:
    """Each node's own per-token prompt, listed in one call; None where the call failed or was refused."""
    from .logit_mode import FAILED

    tops = s.ask([text for _, text in sendable], lambda c, ps: c.top_logprobs_many(ps, s.opts.top_k, PURPOSE_TREE))
    if tops is FAILED or tops is None:
        return None
    return {p: s.tokens.to_ids(top) for (p, _), top in zip(sendable, tops, strict=True)}  # type: ignore[arg-type]


def _score_paths(s: LogitSession, sendable: list[tuple[Path, str]], budget: int) -> dict[Path, dict[int, float]] | None:
    """The consulted nodes' rows from one call echoing up to `budget` of their prompts; None where the call
    failed or the endpoint cannot echo a list.

    A node's row is read off an echo that holds it as its own per-token call would be seen (the same
    text, the same tokens; "\n\n" at a text's end is not the "\n\n" before a word). Nodes are taken
    best first (the walk always reaches the root), each not yet held by the echo that holds the most
    nodes not yet held; nodes left when the list is full get no row."""
    from .logit_mode import FAILED

    steps = [Prompt(text, s.engine.tokenize(text), i) for i, (_, text) in enumerate(sendable)]
    holds = {a.step: [b.step for b in steps if serves(a, b)] for a in steps}
    listed: list[Prompt] = []
    held: dict[int, Prompt] = {}  # step -> the listed prompt whose echo holds its row
    for step in steps:  # best first: the order they were grown in
        if step.step in held:
            continue
        if len(listed) == budget:
            break
        best = max((a for a in steps if step.step in holds[a.step]),
                   key=lambda a: sum(b not in held for b in holds[a.step]))
        listed.append(best)
        held.update((b, best) for b in holds[best.step] if b not in held)
    rows = s.ask([p.text for p in listed], lambda c, ps: c.score_many(ps, s.opts.top_k, PURPOSE_TREE_PATHS))
    if rows is FAILED or rows is None:
        return None
    at = {p.step: dict(r or []) for p, r in zip(listed, rows, strict=True)}  # type: ignore[arg-type]
    found: dict[Path, dict[int, float]] = {}
    for step, by in held.items():
        top = at[by.step].get(len(steps[step].text))
        if top is not None:
            found[sendable[step][0]] = s.tokens.to_ids(top)
    return found
