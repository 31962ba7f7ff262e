"""Draft-free speculative decoding, independent of the backend.

A drafter guesses the next few tokens from what is already there (the prompt and the text so far,
or a table of the model's own recent top candidates); the backend's `Verifier` runs the last token
plus the draft through the model in one batched pass; the acceptance rule keeps the longest prefix
the model itself would have produced (greedy: token for token; sampling: the same distribution);
the controller measures acceptance and cost and stops drafting when it does not pay.
"""

from __future__ import annotations

from .accept import accept_draft
from .controller import Controller
from .drafters import Draft, Drafter, NgramDrafter, RecycleDrafter, make_drafter
from .loop import Verifier, speculate
from .stats import SpecStats

__all__ = ["Controller", "Draft", "Drafter", "NgramDrafter", "RecycleDrafter", "SpecStats", "Verifier",
           "accept_draft", "make_drafter", "speculate"]
