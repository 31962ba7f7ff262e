"""Training rows -> token ids with the prompt masked, laid out exactly as the agent prompts at inference.

A row carries the agent's own prompt messages (built by `apps.gui_agent.agent.build_messages`
when the data was generated) and the completion. The prompt is rendered by edge's chat-template
renderer, the one the Engine uses, with add_generation_prompt; the target is what the template
adds after it for the assistant turn, up to and including the end-of-turn token. Only target
tokens carry a loss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from edge import chat
from edge.errors import ExportError

IGNORE = -100  # label of a token without a loss (prompt and padding)


class DataError(ExportError):
    """Training data that cannot be laid out for the model."""


@dataclass(frozen=True)
class Example:
    ids: tuple[int, ...]
    n_prompt: int  # the first n_prompt ids carry no loss
    group: str = ""  # examples of one group share their prompt up to the last message

    @property
    def labels(self) -> list[int]:
        return [IGNORE] * self.n_prompt + list(self.ids[self.n_prompt:])


def split_turn(messages: list[dict], completion: str, template: str | None, bos: str, eos: str,
               end_token: str | None) -> tuple[str, str]:
    """(prompt text, target text) of one example, both rendered by the model's chat template."""
    prompt = chat.render(messages, template, bos_token=bos, eos_token=eos)
    full = chat.render([*messages, {"role": "assistant", "content": completion}], template, bos_token=bos,
                       eos_token=eos, add_generation_prompt=False)
    if not full.startswith(prompt):
        raise DataError("the chat template renders the prompt differently once an answer follows it, so the "
                        "training prompt would not be the inference prompt; use a model with a prefix-stable "
                        "template (ChatML-like)")
    target = full[len(prompt):]
    if end_token and end_token in target:
        target = target[:target.index(end_token) + len(end_token)]  # nothing after the end of the turn is learnt
    return prompt, target


def encode(rows: list[dict], tokenizer: Any, template: str | None, max_len: int) -> tuple[list[Example], int]:
    """(examples, number dropped as longer than max_len). Prompt and target are tokenized apart, as at inference."""
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    add_bos = bool(getattr(tokenizer, "add_bos_token", False)) and tokenizer.bos_token_id is not None
    out, dropped = [], 0
    for r in rows:
        prompt, target = split_turn(r["messages"], r["completion"], template, bos, eos, tokenizer.eos_token)
        p = tokenizer.encode(prompt, add_special_tokens=False)
        if add_bos and not prompt.startswith(bos):
            p = [tokenizer.bos_token_id, *p]
        t = tokenizer.encode(target, add_special_tokens=False)
        if len(p) + len(t) > max_len:
            dropped += 1
            continue
        out.append(Example(tuple(p + t), len(p), _group(r["messages"])))
    if not out:
        raise DataError(f"no training example fits in {max_len} tokens ({dropped} dropped); raise --max-len")
    return out, dropped


def _group(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages[:-1], sort_keys=True).encode()).hexdigest()[:12]


def shared_prefix(examples: list[Example]) -> dict[str, int]:
    """Per group, how many leading ids all its examples share (always short of the first answer token)."""
    first: dict[str, Example] = {}
    length: dict[str, int] = {}
    for e in examples:
        ref = first.setdefault(e.group, e)
        n, i = min(length.get(e.group, len(ref.ids)), e.n_prompt - 1), 0
        while i < n and e.ids[i] == ref.ids[i]:
            i += 1
        length[e.group] = i
    return length


def digest(rows: list[dict]) -> str:
    """A hash of the training rows: a resumed run must train on the same data."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r["messages"], r["completion"]], sort_keys=True).encode())
    return h.hexdigest()[:16]


def batch(examples: list[Example], pad_id: int, prefix: int = 0) -> dict:
    """Tensors of one batch: the shared `prefix` ids (1 x P), then the right-padded rest of each
    example (input_ids, labels with IGNORE on prompt and padding) and the mask over prefix + rest."""
    import torch

    head, rest = list(examples[0].ids[:prefix]), [e.ids[prefix:] for e in examples]
    width = max(len(r) for r in rest)
    ids = [list(r) + [pad_id] * (width - len(r)) for r in rest]
    mask = [[1] * (prefix + len(r)) + [0] * (width - len(r)) for r in rest]
    labels = [e.labels[prefix:] + [IGNORE] * (width - len(r)) for e, r in zip(examples, rest, strict=True)]
    return {"prefix": torch.tensor([head], dtype=torch.long), "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}
