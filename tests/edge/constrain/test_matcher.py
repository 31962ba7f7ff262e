"""The token-level grammar matcher over the shared grammar IR."""

from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import pytest

from edge.constrain import schema_to_grammar
from edge.constrain.matcher import CompiledGrammar, GrammarMatcher, Vocabulary
from edge.errors import InvalidRequestError

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"enum": ["admin", "user"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
        "score": {"type": "number"},
        "ok": {"type": "boolean"},
    },
    "required": ["name", "age"],
}
# single characters plus multi-character tokens that cross grammar elements
PIECES = [chr(c) for c in range(32, 127)] + ["\n", "é", '{"', '": ', '", "', '"}', "name", "admin", "12", "]}", ", "]
EOS = len(PIECES)


def _vocab(pieces=PIECES):
    return Vocabulary.from_texts([*pieces, None], [len(pieces)])


def _walk(schema, seed, vocab=None):
    vocab = vocab or _vocab()
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar(schema), vocab))
    rng, text = random.Random(seed), ""
    for _ in range(400):
        allowed = np.flatnonzero(m.allowed())
        if EOS in allowed and (len(allowed) == 1 or rng.random() < 0.3):
            return text, m
        tok = int(rng.choice([t for t in allowed if t != EOS]))
        m.accept(tok)
        text += PIECES[tok]
    raise AssertionError(f"no end after 400 tokens: {text!r}")


@pytest.mark.parametrize("seed", range(12))
def test_random_walks_produce_valid_json(seed):
    text, m = _walk(PERSON, seed)
    assert m.complete
    jsonschema.validate(json.loads(text), PERSON)


@pytest.mark.parametrize("seed", range(4))
def test_recursive_any_value_schema(seed):
    text, _ = _walk({}, seed)
    json.loads(text)


def test_start_mask_and_end_of_generation():
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar(PERSON), _vocab()))
    allowed = {PIECES[i] for i in np.flatnonzero(m.allowed()) if i != EOS}
    assert allowed == {"{", '{"'}
    assert not m.allowed()[EOS]
    for piece in ['{"', "name", '": ', '"', "A", '", "']:
        m.accept(PIECES.index(piece))
    assert m.allowed()[PIECES.index("a")] and not m.allowed()[PIECES.index("}")]


def test_a_disallowed_token_is_rejected():
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar({"type": "boolean"}), _vocab()))
    with pytest.raises(InvalidRequestError):
        m.accept(PIECES.index("x"))
    for ch in "true":
        m.accept(PIECES.index(ch))
    assert m.complete and np.flatnonzero(m.allowed()).tolist() == [EOS]


def test_integer_range_is_enforced_digit_by_digit():
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar({"type": "integer", "minimum": 0, "maximum": 120}), _vocab()))
    m.accept(PIECES.index("1"))
    m.accept(PIECES.index("2"))
    allowed = {PIECES[i] for i in np.flatnonzero(m.allowed()) if i != EOS}
    assert allowed == {"0"} and m.allowed()[EOS]


def test_masks_are_cached_per_state():
    g = CompiledGrammar(schema_to_grammar({"type": "string"}), _vocab())
    m = GrammarMatcher(g)
    m.accept(PIECES.index('"'))
    first = m.allowed()
    m.accept(PIECES.index("a"))
    assert m.allowed() is first  # inside a string every character leads back to the same state


def test_the_mask_cache_is_bounded(monkeypatch):
    """A sampled walk through a large grammar visits ever new states: their masks must not pile up,
    and an evicted state's mask, computed again, is the same."""
    import edge.constrain.matcher as matcher

    monkeypatch.setattr(matcher, "MAX_MASKS", 4)
    g, rng, seen = CompiledGrammar(schema_to_grammar(PERSON), _vocab()), random.Random(0), set()
    for _ in range(5):
        m = GrammarMatcher(g)
        for _ in range(60):
            seen.add(m.state)
            allowed = m.allowed()
            assert np.array_equal(allowed, g._compute_mask(m.state)) and len(g._masks) <= 4
            choices = [t for t in np.flatnonzero(allowed) if t != EOS]
            if not choices:
                break
            m.accept(int(rng.choice(choices)))
    assert len(seen) > 4  # the walks did visit more states than the bound


def test_special_and_invalid_tokens_are_never_allowed():
    vocab = Vocabulary.from_texts(["{", "}", None, "\ufffd", "{}"], [2])
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar({"type": "object"}), vocab))
    assert np.flatnonzero(m.allowed()).tolist() == [0, 4]


@pytest.mark.parametrize("seed", range(4))
def test_one_token_verdict_equals_the_mask_at_every_state_of_a_walk(seed):
    """`allows` is what a greedy pick asks instead of building the mask: it must agree with it."""
    vocab = _vocab()
    m = GrammarMatcher(CompiledGrammar(schema_to_grammar(PERSON), vocab))
    rng = random.Random(seed)
    for _ in range(60):
        c = m.constraint()
        mask = c.mask()
        assert [c.allows(t) for t in range(len(vocab.texts))] == mask.tolist()
        assert not c.allows(len(vocab.texts) + 5)  # a padded logits row's extra ids
        choices = [t for t in np.flatnonzero(mask) if t != EOS]
        if not choices:
            break
        m.accept(int(rng.choice(choices)))


def test_greedy_pick_checks_its_token_before_building_a_mask():
    from edge.sampling import Sampler, SamplingParams

    class Counting:
        def __init__(self, inner):
            self.inner, self.masks = inner, 0

        def allows(self, t):
            return self.inner.allows(t)

        def mask(self):
            self.masks += 1
            return self.inner.mask()

    m = GrammarMatcher(CompiledGrammar(schema_to_grammar(PERSON), _vocab()))
    sampler, rng = Sampler(SamplingParams(temperature=0.0)), np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(size=len(PIECES) + 1).astype(np.float32)
        c = Counting(m.constraint())
        want = int(np.argmax(np.where(m.allowed(), logits, -np.inf)))
        assert sampler(logits, c) == want
        assert c.masks == (0 if c.allows(int(np.argmax(logits))) else 1)
        logits[want] = 100.0  # an allowed argmax: no mask at all
        c = Counting(m.constraint())
        assert sampler(logits, c) == want and c.masks == 0
        if want == EOS:
            break
        m.accept(want)


def test_grammar_cache_is_keyed_by_content_and_bounded():
    from edge.constrain.grammar import Grammar, Lit
    from edge.constrain.matcher import MAX_GRAMMARS, MatcherCache

    cache = MatcherCache(_vocab)
    for word in ("admin", "user"):  # built and freed in turn: an id() key could serve "admin" for "user"
        m = cache.matcher(None, Grammar({"root": Lit(word)}))
        assert m.compiled.allows(m.state, PIECES.index(word[0])) and not m.compiled.allows(m.state, PIECES.index("z"))
    same = [cache.matcher(None, Grammar({"root": Lit("admin")})).compiled for _ in range(2)]
    assert same[0] is same[1]
    for i in range(MAX_GRAMMARS + 5):
        cache.matcher({"type": "string", "maxLength": i + 1})
    assert len(cache._grammars) == MAX_GRAMMARS
