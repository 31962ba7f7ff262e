"""The golden file: a handful of prompts, their token ids and edgesplit's own greedy continuations.

A runtime agrees when it tokenizes each prompt to the same ids and greedily continues them with
the same ids. Where two builds' last-bit float differences flip a near-tie (the golden file keeps
the top-1/top-2 log-probability margin of every step), the divergence is reported, not failed.
"""

from __future__ import annotations

from typing import Any

from .base import Replayed

GOLDEN = "golden.json"
MAX_TOKENS = 24
NEAR_TIE = 1e-3  # nats between the best and second-best token: closer than this, builds may differ
PROMPTS: list[Any] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "user", "content": "List three fruits, separated by commas."}],
    "The quick brown fox",
]


def make_golden(engine: Any, prompts: list[Any] | None = None, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """Greedy continuations of `prompts` from `engine` (an edge.Engine), with per-step margins."""
    cases = []
    for prompt in prompts or PROMPTS:
        text, ids = engine.render(prompt), engine.tokenize(prompt)
        result = engine.generate(prompt, temperature=0, max_tokens=max_tokens, logprobs=2)
        margins = [round(lp.top[0][2] - lp.top[1][2], 6) if len(lp.top) > 1 else None
                   for lp in result.logprobs or []]
        cases.append({"prompt": prompt, "text": text, "prompt_ids": ids, "max_tokens": max_tokens,
                      "output_ids": result.token_ids, "output_text": result.text,
                      "finish_reason": result.finish_reason, "margins": margins})
    return {"engine": {"model": engine.name, "backend": engine.backend_name}, "decoding": "greedy",
            "near_tie": NEAR_TIE, "cases": cases}


def _first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _case(case: dict[str, Any], got: Replayed) -> dict[str, Any]:
    want = case["output_ids"]
    at = _first_difference(want, got.output_ids)
    margin = case["margins"][at] if at is not None and at < len(case["margins"]) else None
    row = {"tokens_equal": got.prompt_ids is None or got.prompt_ids == case["prompt_ids"],
           "exact": at is None, "agreed_tokens": len(want) if at is None else at, "golden_tokens": len(want),
           "near_tie": at is not None and margin is not None and margin < NEAR_TIE}
    if at is not None:
        row["first_difference"] = {"step": at, "golden_margin": margin,
                                   "golden": want[at:at + 4], "runtime": got.output_ids[at:at + 4]}
    # text is held to account where the ids agree and are valid UTF-8 (runtimes cut or replace broken bytes)
    if got.output_text is not None and at is None and "\ufffd" not in case["output_text"]:
        row["text_equal"] = got.output_text == case["output_text"]
        if not row["text_equal"]:
            row["text"] = {"golden": case["output_text"][:120], "runtime": got.output_text[:120]}
    if got.rendered is not None and isinstance(case["prompt"], list):
        row["template_equal"] = got.rendered == case["text"]
    return row


def compare(golden: dict[str, Any], replayed: list[Replayed], runtime: str) -> dict[str, Any]:
    """Per-case agreement and a verdict: every prompt tokenized alike, every continuation equal."""
    rows = [_case(c, r) for c, r in zip(golden["cases"], replayed, strict=True)]
    agreed = sum(r["agreed_tokens"] for r in rows)
    total = sum(r["golden_tokens"] for r in rows) or 1
    passed = all(r["tokens_equal"] and (r["exact"] or r["near_tie"]) and r.get("text_equal", True)
                 and r.get("template_equal", True) for r in rows)
    return {"runtime": runtime, "cases": len(rows), "exact": sum(r["exact"] for r in rows),
            "token_agreement": round(agreed / total, 4), "passed": passed, "per_case": rows}
