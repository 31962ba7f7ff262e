"""What one batched cloud call can stand in for: a listed prompt, and the rows its echo holds.

A batched call serves a step only where the cloud sees exactly what that step's own per-token call
would show it: the same text, tokenized to the same ids (BPE writes "\\n\\n" as one token at a text's
end and as two before a word).
"""

from __future__ import annotations

from typing import NamedTuple

MAX_LISTED = 16  # prompts per listed call (edgesplit's server takes up to 16; OpenAI's legacy API more)


class Prompt(NamedTuple):
    text: str  # what a per-token call at `step` would send
    ids: list[int]  # how the cloud tokenizes it (the shared tokenizer)
    step: int


def serves(last: Prompt, step: Prompt) -> bool:
    """Whether the echo of `last` holds `step`'s row as a per-token call would see it."""
    return last.text.startswith(step.text) and last.ids[:len(step.ids)] == step.ids
