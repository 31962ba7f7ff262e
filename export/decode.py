"""Decode-path parity: the bundle's own backend, stepping through its KV cache, against the source.

Teacher-forced logit parity runs one prefill and so never exercises the step path a user's
generation takes (cache update, position ids, the with-past graph branch). Here the reference
generates greedily (transformers `generate` with its cache, or llama.cpp for a GGUF reference);
the candidate is then driven along the *reference's* tokens through `start`/`step` (its KV cache),
and each position counts as agreeing when the candidate's pick is within `margin` of the
reference's best logit. Near-ties of tiny random models thus cannot fail an exact export, while
a broken cache (wrong positions, a stale past) moves the logits and fails `tolerance`.
The reference's top-k per step is kept in the bundle (parity/decode.npz) for `edgesplit verify`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.bundle import DecodeParityFacts

PROMPTS = (
    "The capital of France is",
    "Small language models run on laptops and phones because",
    "Once upon a time, in a quiet village by the sea,",
)
N_NEW = 32
TOP_K = 8
DECODE_FILE = "parity/decode.npz"
MARGIN = 2e-3  # a pick within this (x max(1, |best logit|)) of the reference's best is a tie, not a miss


class Stepper(Protocol):
    """What a backend's generate loop calls: prefill the prompt, then one cached token at a time."""

    def start(self, ids: list[int]) -> np.ndarray: ...

    def step(self, token: int) -> np.ndarray: ...


@dataclass
class ReferencePath:
    """One prompt's greedy continuation and the reference's top-k logits at each step."""

    prompt: list[int]
    tokens: list[int]
    top_ids: np.ndarray  # [n, k]
    top_logits: np.ndarray  # [n, k]

    @classmethod
    def from_logits(cls, prompt: Sequence[int], tokens: Sequence[int], logits: np.ndarray) -> ReferencePath:
        top = np.argsort(-logits, axis=-1)[:, :TOP_K]
        return cls(list(prompt), [int(t) for t in tokens], top, np.take_along_axis(logits, top, axis=-1))


@dataclass(frozen=True)
class DecodeReport:
    agreement: float  # share of steps whose pick is (within margin of) the reference's best
    max_abs_logit_diff: float  # over the reference's top-k ids, every step
    n_prompts: int
    n_tokens: int  # steps per prompt
    first_miss: tuple[int, int] | None  # (prompt, step) of the first disagreement

    def to_manifest(self, reference: str, min_agreement: float | None, tolerance: float | None) -> DecodeParityFacts:
        """The manifest record; its `passed` checks the bounds, its str() is the one-line summary."""
        return DecodeParityFacts(reference=reference, agreement=self.agreement,
                                 max_abs_logit_diff=self.max_abs_logit_diff, n_prompts=self.n_prompts,
                                 n_tokens=self.n_tokens, min_agreement=min_agreement, tolerance=tolerance,
                                 margin=MARGIN, first_miss=self.first_miss)


def as_report(facts: DecodeParityFacts) -> dict[str, Any]:
    """`edgesplit verify`'s decode entry: the record plus `passed` and `summary`."""
    return {**facts.model_dump(), "passed": facts.passed, "summary": str(facts)}


def greedy_path(stepper: Stepper, prompt: Sequence[int], n: int = N_NEW) -> ReferencePath:
    """A reference path from any stepper (llama.cpp as the source): greedy on its own logits."""
    rows, tokens = [], []
    logits = stepper.start(list(prompt))
    for i in range(n):
        rows.append(np.asarray(logits, dtype=np.float32).copy())
        tokens.append(int(np.argmax(logits)))
        if i + 1 < n:
            logits = stepper.step(tokens[-1])
    return ReferencePath.from_logits(prompt, tokens, np.stack(rows))


def torch_paths(model: Any, prompts: Sequence[Sequence[int]], n: int = N_NEW) -> list[ReferencePath]:
    """Reference paths from transformers `generate` (greedy, with its KV cache), exactly n new tokens."""
    import torch

    paths, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # single-token steps of a small model: extra threads only spin on shared cores
    try:
        for prompt in prompts:
            paths.append(_torch_path(model, prompt, n))
    finally:
        torch.set_num_threads(threads)
    return paths


def _torch_path(model: Any, prompt: Sequence[int], n: int) -> ReferencePath:
    import torch

    ids = torch.tensor([list(prompt)])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                             max_new_tokens=n, min_new_tokens=n, use_cache=True, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=model.config.pad_token_id or 0)
    logits = torch.cat(out.logits, dim=0).float().numpy()  # raw logits, before min_new_tokens' mask
    return ReferencePath.from_logits(prompt, out.sequences[0, -n:].tolist(), logits)


def compare(paths: Sequence[ReferencePath], stepper: Stepper) -> DecodeReport:
    """Drive `stepper` along each reference path through its cache and score every step."""
    agree, total, diff, first = 0, 0, 0.0, None
    for p, path in enumerate(paths):
        logits = stepper.start(path.prompt)
        for s, token in enumerate(path.tokens):
            got = np.asarray(logits, dtype=np.float32)
            ids, ref = path.top_ids[s], path.top_logits[s]
            diff = max(diff, float(np.abs(got[ids] - ref).max()))
            pick = int(np.argmax(got))
            hit = np.nonzero(ids == pick)[0]
            ok = hit.size > 0 and ref[hit[0]] >= ref[0] - MARGIN * max(1.0, abs(float(ref[0])))
            agree, total = agree + bool(ok), total + 1
            if not ok and first is None:
                first = (p, s)
            if s + 1 < len(path.tokens):
                logits = stepper.step(token)
    n_tokens = len(paths[0].tokens) if paths else 0
    return DecodeReport(agree / max(total, 1), diff, len(paths), n_tokens, first)


def save_paths(bundle: Path, paths: Sequence[ReferencePath]) -> None:
    path = Path(bundle) / DECODE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, prompt_ids=np.concatenate([np.asarray(p.prompt, dtype=np.int64) for p in paths]),
             prompt_lens=np.asarray([len(p.prompt) for p in paths], dtype=np.int64),
             tokens=np.asarray([p.tokens for p in paths], dtype=np.int64),
             top_ids=np.stack([p.top_ids for p in paths]), top_logits=np.stack([p.top_logits for p in paths]))


def load_paths(bundle: Path) -> list[ReferencePath]:
    data = np.load(Path(bundle) / DECODE_FILE)
    bounds = np.cumsum([0, *data["prompt_lens"].tolist()])
    flat = data["prompt_ids"].tolist()
    return [ReferencePath(flat[bounds[i]:bounds[i + 1]], data["tokens"][i].tolist(), data["top_ids"][i],
                          data["top_logits"][i]) for i in range(len(data["tokens"]))]


def has_paths(bundle: Path) -> bool:
    return (Path(bundle) / DECODE_FILE).is_file()


def encode_prompts(encode: Callable[[str], list[int]]) -> list[list[int]]:
    """The probe prompts as the source's tokenizer gives them (each at least one token)."""
    return [ids for ids in (list(encode(text)) for text in PROMPTS) if ids]
