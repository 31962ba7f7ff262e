"""Logit mode's decoding: the local model writes, the cloud's distribution is fused in where the
step policy asks, token by token or verified a run at a time.

Per token: the Engine's own generation with a logits hook; each consulted step is one cloud call.
Batched (`CollabOptions.batch = n`, temperature 0): one call judges a run of up to n tokens,
drafted by the local model (an echo call scores it, or one call listing each step's prompt) or by the cloud (its own continuation with its
top-k per token), see `runs`. The run is kept up to the first step whose pick (fused where the policy
consults, else the local argmax) differs from the drafted token, which is replaced by that pick.
That is exactly what per-token fusion picks at temperature 0, with one call per run instead of one
per consulted step. Local runs with no consulted step cost no call at all. A step whose boundary
the cloud's tokenization does not share, or an endpoint that cannot score an echoed prompt, falls
back to a per-token call.

Only the de-identified, context-free cloud prompt and the de-identified generated text leave.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from edge.sampling import log_softmax, top_logprobs

from .errors import LedgerDamagedError
from .fusion import TokenMap, fuse
from .listed import MAX_LISTED, Prompt, serves
from .runs import DraftChooser, Run, cloud_run, local_run
from .tree import Tree, tree_run
from .w2s import w2s_fuse

if TYPE_CHECKING:
    from .client import CloudClient
    from .cogenesis import CoGenesis, CollabOptions, CollabResult
    from .pseudonym import Pseudonymizer

T = TypeVar("T")
P = TypeVar("P", str, list[str])
FAILED = object()  # what `LogitSession.ask` returns when the cloud failed
UNKNOWN = object()  # a step's cloud top-k that no batched call brought: ask per token

PURPOSE_STEP = "cogenesis logits: next-token logprobs for a context-free prompt"
PURPOSE_RUN = "cogenesis logits: score a drafted run of a context-free prompt"
PURPOSE_LISTED = "cogenesis logits: next-token logprobs for each step of a drafted run of a context-free prompt"


class LogitSession:
    """One logit-mode answer: the prompts, the options, and the result being filled in."""

    def __init__(self, cg: CoGenesis, res: CollabResult, local_prompt: list[int], cloud_prompt: str,
                 opts: CollabOptions) -> None:
        self.cg, self.engine, self.res, self.opts = cg, cg.engine, res, opts
        self.local_prompt, self.cloud_prompt = local_prompt, cloud_prompt
        self.tokens = TokenMap(self.engine)
        self._kept = [0, 0]  # tokens kept, runs walked: sizes a listed call to how far runs get

    # -- what may leave ------------------------------------------------------------------------
    def outbound(self, generated: list[int], pseud: Pseudonymizer | None = None) -> str | None:
        """The cloud prompt for the step after `generated`, or None when it is not safe to send.

        It maps what it finds (the conversation's pseudonymizer learns): a batched run tries its
        future steps on `pseud`, a fork, so that only the steps it keeps teach the real one, in the
        order per-token fusion would."""
        pseud = pseud or self.cg.pseud
        text = self.engine.decode_bytes(generated).decode("utf-8", "ignore")
        if self.cg.pseud_tail_unsafe(text, pseud):
            return None
        prefix, _ = pseud.pseudonymize(text)
        return self.cloud_prompt + prefix

    def refused(self, text: str) -> bool:
        """Whether the leak guard refuses `text` (a private value the mapping missed, as in "Bauerton").
        A batched call leaves such a step out: if the walk gets there, its per-token call fails as
        per-token fusion's would; refusing the whole list would end the cloud's part steps too early."""
        from .cogenesis import LeakGuardError

        try:
            self.cg.guard(text)
        except LeakGuardError:
            return True
        return False

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, LedgerDamagedError):
            raise exc
        self.res.cloud_error = str(exc)

    def ask(self, prompt: P, request: Callable[[CloudClient, P], T]) -> T | object:
        """Guard the outbound `prompt` (or each of a list), then send it with `request(client, prompt)`;
        FAILED when the cloud failed (recorded in the result: the answer carries on locally)."""
        from .cogenesis import CLOUD_FAILURES

        try:
            for text in [prompt] if isinstance(prompt, str) else prompt:
                self.cg.guard(text)
            return request(self.cg.client, prompt)  # type: ignore[arg-type]
        except CLOUD_FAILURES as exc:
            self._failed(exc)
            return FAILED

    def cloud_step(self, generated: list[int]) -> dict[int, float] | None:
        prompt = self.outbound(generated)
        if prompt is None or self.res.cloud_error is not None:
            return None
        top = self.ask(prompt, lambda c, p: c.top_logprobs(p, self.opts.top_k, PURPOSE_STEP))
        return None if top is FAILED else self.tokens.to_ids(top)  # type: ignore[arg-type]

    # -- one step's fusion ---------------------------------------------------------------------
    def fused(self, generated: list[int], local_lp: np.ndarray, cloud: dict[int, float]) -> dict[int, float]:
        w2s = self.opts.w2s
        self.res.fused_steps += 1
        if w2s is None:
            return fuse(dict(top_logprobs(local_lp, self.opts.top_k)), cloud, self.opts.cloud_weight)
        base = log_softmax(w2s.base.next_token_logits(self.local_prompt + generated))
        dist, alpha = w2s_fuse(cloud, local_lp, base, self.opts.top_k, w2s.alpha, w2s.grid)
        self.res.alphas.append(alpha)
        return dist

    def consult(self, step: int, local_lp: np.ndarray) -> bool:
        return self.res.cloud_error is None and self.opts.policy.consult(step, local_lp)

    # -- per token -----------------------------------------------------------------------------
    def per_token(self) -> None:
        def hook(generated: list[int], logits: np.ndarray) -> np.ndarray:
            lp = log_softmax(logits)
            self.res.steps += 1
            if not self.consult(len(generated), lp):
                return logits
            self.res.consulted_steps += 1
            cloud = self.cloud_step(generated)
            if not cloud:
                return logits
            return _as_logits(self.fused(generated, lp, cloud), len(logits))

        o = self.opts  # top_p 1 and top_k as the fusion's: sampling sees exactly the fused top-k
        result = self.engine.generate(self.local_prompt, max_tokens=o.max_tokens, temperature=o.temperature,
                                      seed=o.seed, top_k=o.top_k, top_p=1.0, logits_hook=hook)
        self.res.text, self.res.completion_tokens = result.text, result.completion_tokens
        self.res.token_ids = result.token_ids

    # -- batched -------------------------------------------------------------------------------
    def batched(self) -> None:
        out: list[int] = []
        chooser = DraftChooser(self.opts.draft, self.opts.batch)
        while len(out) < self.opts.max_tokens:
            source, before, calls = chooser.pick(), len(out), self._calls()
            tree = tree_run(self, out, min(self.opts.batch, MAX_LISTED)) if source == "tree" else None
            if tree is not None:
                ended, source = self._walk_tree(out, tree), "tree"
            else:
                run = (cloud_run(self, out) if source == "cloud" else None) or local_run(self, out)
                ended, source = self._walk(out, run), run.source
            self.res.runs += 1
            self._kept[0] += len(out) - before
            self._kept[1] += 1
            chooser.record(source, len(out) - before, self._calls() - calls)
            if ended:
                break
        out = out[: self.opts.max_tokens]
        self.res.text, self.res.completion_tokens, self.res.token_ids = self.engine.decode(out), len(out), out

    def _calls(self) -> int:
        return self.cg.client.stats.calls if self.cg.client is not None else 0

    def _pick(self, prefix: list[int], lp: np.ndarray, greedy: int, cloud: object = UNKNOWN) -> int:
        """The token per-token fusion picks after `prefix` (temperature 0): fused where the policy
        consults, with `cloud` the step's top-k a batched call brought (UNKNOWN: one call now)."""
        self.res.steps += 1
        if not self.consult(len(prefix), lp):
            return greedy  # a step the cloud is not asked about
        self.res.consulted_steps += 1
        if cloud is UNKNOWN:
            cloud = self.cloud_step(prefix)
        else:
            self.outbound(prefix)  # what this step's per-token call would have mapped
        if not cloud:
            return greedy
        dist = self.fused(prefix, lp, cloud)  # type: ignore[arg-type]
        return min(dist, key=lambda t: (-dist[t], t))  # argmax, lowest id on a tie (as the sampler)

    def _walk(self, out: list[int], run: Run) -> bool:
        """Keep `run` up to the first step whose pick differs from it (that pick replaces it);
        True when the answer is complete."""
        for i, tok in enumerate(run.tokens):
            lp, prefix = run.row(i), out + run.tokens[:i]  # type: ignore[operator]
            pick = self._pick(prefix, lp, tok if run.local else int(np.argmax(lp)),  # type: ignore[arg-type]
                              run.clouds.get(i, UNKNOWN))
            if pick != tok or i == len(run.tokens) - 1:
                done = self.engine.is_end_of_generation(pick)
                out += run.tokens[:i] + ([] if done else [pick])  # type: ignore[operator]
                return done or (run.ended and pick == tok)
        return run.ended or not run.tokens

    def _walk_tree(self, out: list[int], tree: Tree) -> bool:
        """Follow the picks down `tree` from its root, keeping each, until one leaves it; True when
        the answer is complete.

        Rows below the root are evaluated again, one token on top of the last (per-token fusion
        feeds each generated token alone, and llama.cpp's batched and one-token kernels differ);
        the root's row is the tree's own: evaluating it again would feed the prompt's last token
        alone, where per-token fusion fed it with the rest of the prompt."""
        path: list[int] = []
        lp = tree.root
        while True:
            pick = self._pick(out + path, lp, int(np.argmax(lp)), tree.clouds.get(tuple(path), UNKNOWN))
            if self.engine.is_end_of_generation(pick):
                out += path
                return True
            path.append(pick)
            if tuple(path) not in tree or len(out) + len(path) >= self.opts.max_tokens:
                out += path
                return False
            lp = log_softmax(self.engine.next_token_logits(self.local_prompt + out + path))

    def score_run(self, out: list[int], chosen: list[int], steps: list[int]) -> dict[int, dict[int, float] | None]:
        """The cloud's top-k at each consulted step, from one echo call, or one call listing every
        step's prompt where no echo serves them all (missing keys: not aligned).

        The echo of a prompt serves step i only where the cloud sees the tokens a per-token call on
        step i's text would see (BPE merges across a boundary: "\n" + "\n" is one token at a text's
        end). The prompt scored is the longest one that serves the first step, which the walk
        always reaches: a run costs no more calls than per-token fusion would.
        """
        if not steps or self.res.cloud_error is not None:
            return {}
        trial = self.cg.pseud.fork()
        prompts = {i: self.outbound(out + chosen[:i], trial) for i in steps}  # in step order, as per token
        found: dict[int, dict[int, float] | None] = {i: None for i in steps if prompts[i] is None}
        refused = {i for i, p in prompts.items() if p is not None and self.refused(p)}  # no key: asked per token
        sendable = [Prompt(p, self.engine.tokenize(p), i) for i, p in prompts.items()
                    if p is not None and i not in refused]
        if not sendable or steps[0] in refused:
            return found  # nothing to send, or the first step (the walk reaches it) fails before any call
        last = next(s for s in reversed(sendable) if serves(s, sendable[0]))
        echo_serves = all(serves(last, s) for s in sendable) and self.cg.client.echo_scoring is not False  # type: ignore[union-attr]
        if not echo_serves and (listed := self._score_listed(sendable)) is not None:
            return {**found, **listed}
        rows = self.ask(last.text, lambda c, p: c.score(p, self.opts.top_k, PURPOSE_RUN))
        if rows is FAILED:
            return {i: None for i in steps}
        if rows is None:
            return {}
        at = {offset: top for offset, top in rows}  # type: ignore[union-attr]
        for step in sendable:
            if serves(last, step) and len(step.text) in at:
                found[step.step] = self.tokens.to_ids(at[len(step.text)])
        return found

    def _score_listed(self, sendable: list[Prompt]) -> dict[int, dict[int, float] | None] | None:
        """Every step's own per-token prompt in one call with a list of prompts, for runs one echo
        cannot serve (merged whitespace, merged punctuation); None where the endpoint takes no lists."""
        if self.cg.client is None or self.cg.client.prompt_lists is False:
            return None
        chunk = sendable[:self._listed_size()]  # steps after it, if the walk gets there, go per token
        tops = self.ask([p.text for p in chunk], lambda c, ps: c.top_logprobs_many(ps, self.opts.top_k, PURPOSE_LISTED))
        if tops is FAILED:
            return {p.step: None for p in sendable}
        if tops is None:
            return None
        return {p.step: self.tokens.to_ids(top) for p, top in zip(chunk, tops, strict=True)}  # type: ignore[arg-type]


    def _listed_size(self) -> int:
        """Prompts per listed call: twice the tokens runs kept so far, plus one. Each listed prompt is a
        whole outbound text, so steps the walk never reaches would cost bytes for nothing."""
        kept, runs = self._kept
        return MAX_LISTED if not runs else max(2, min(MAX_LISTED, math.ceil(2 * kept / runs) + 1))


def _as_logits(dist: dict[int, float], n: int) -> np.ndarray:
    out = np.full(n, -np.inf, dtype=np.float32)
    for tok, lp in dist.items():
        if 0 <= tok < n:
            out[tok] = lp
    return out
