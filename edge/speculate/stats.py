"""What speculation did in one generation (on `GenerationResult.speculation`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SpecStats:
    mode: str = "auto"
    steps: int = 0  # verifier passes
    draft_steps: int = 0  # passes that carried a draft
    drafted: int = 0  # draft tokens verified
    accepted: int = 0  # draft tokens the model agreed with
    emitted: int = 0  # tokens from verifier passes (accepted drafts + one each); the first comes from the prompt
    probes: int = 0  # drafts sent while the controller judged drafting not worth it
    cut_by_grammar: int = 0  # draft tokens the grammar forbade before verification
    handed_off: int = 0  # tokens the backend's plain decoder wrote after drafting stopped paying
    drafted_by: Counter = field(default_factory=Counter)
    accepted_by: Counter = field(default_factory=Counter)

    def record(self, source: str | None, n_draft: int, n_accepted: int) -> None:
        self.steps += 1
        self.emitted += n_accepted + 1
        if n_draft:
            self.draft_steps += 1
            self.drafted += n_draft
            self.accepted += n_accepted
            self.drafted_by[source] += n_draft
            self.accepted_by[source] += n_accepted

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted tokens (0 when nothing was drafted)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def mean_accepted_length(self) -> float:
        """Draft tokens accepted per pass that carried a draft."""
        return self.accepted / self.draft_steps if self.draft_steps else 0.0

    @property
    def tokens_per_step(self) -> float:
        """Tokens produced per verifier pass (1.0 = no gain over plain decoding)."""
        return self.emitted / self.steps if self.steps else 0.0

    def as_dict(self) -> dict:
        return {"mode": self.mode, "steps": self.steps, "draft_steps": self.draft_steps, "drafted": self.drafted,
                "accepted": self.accepted, "emitted": self.emitted, "probes": self.probes,
                "cut_by_grammar": self.cut_by_grammar, "handed_off": self.handed_off,
                "acceptance_rate": round(self.acceptance_rate, 4),
                "mean_accepted_length": round(self.mean_accepted_length, 4),
                "tokens_per_step": round(self.tokens_per_step, 4),
                "drafted_by": dict(self.drafted_by), "accepted_by": dict(self.accepted_by)}
