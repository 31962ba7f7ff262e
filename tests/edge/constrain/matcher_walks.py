"""Random walks through the token matcher over a printable-ASCII vocabulary (schema tests' shared sampler)."""

from __future__ import annotations

import random

from edge.constrain.matcher import CompiledGrammar, GrammarMatcher, Vocabulary

PIECES = [chr(c) for c in range(32, 127)]
END = len(PIECES)  # the end-of-generation token
VOCAB = Vocabulary.from_texts([*PIECES, None], [END])


def walk(compiled: CompiledGrammar, rng: random.Random, max_steps: int) -> str | None:
    """One string the grammar accepts, drawn token by token; None if it did not finish in max_steps."""
    m, text = GrammarMatcher(compiled), ""
    for _ in range(max_steps):
        allowed = [int(t) for t in m.allowed().nonzero()[0]]
        if END in allowed and (len(allowed) == 1 or rng.random() < 0.3):
            return text
        tok = rng.choice([t for t in allowed if t != END])
        m.accept(tok)
        text += PIECES[tok]
    return None
