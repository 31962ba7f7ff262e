"""Drafters propose what the history suggests, within their memory bound."""

from __future__ import annotations

from edge.speculate import NgramDrafter, RecycleDrafter
from edge.speculate.drafters import RECYCLE_BYTES, make_drafter


def test_ngram_proposes_what_followed_the_latest_match() -> None:
    d = NgramDrafter()
    history = [5, 6, 7, 8, 9, 1, 2, 6, 7]
    draft = d.propose(history, 3)
    assert draft is not None and draft.tokens == [8, 9, 1] and draft.source == "ngram2"
    history += [8, 3]  # grows incrementally; an unseen tail has no match
    assert d.propose(history, 3) is None
    assert d.propose([1, 2, 3], 3) is None  # a different history resets the index


def test_ngram_prefers_the_longest_match() -> None:
    d = NgramDrafter()
    history = [1, 2, 3, 40, 9, 2, 3, 50, 1, 2, 3]
    draft = d.propose(history, 2)
    assert draft is not None and draft.source == "ngram3" and draft.tokens == [40, 9]


def test_recycle_table_follows_the_models_choices_and_stays_small() -> None:
    d = RecycleDrafter(n_vocab=49_152)
    assert d.table.nbytes < RECYCLE_BYTES
    d.observe([10, 11], [12, 13])
    d.observe([10, 11], [11, 13])  # the model now chose 11 after 10: newest first, the older candidate kept
    assert d.table[10, :3].tolist() == [11, 12, -1]
    d.observe([10, 11], [11, 13])
    assert d.table[10, :3].tolist() == [11, 12, -1]
    draft = d.propose([1, 10], 4)
    assert draft is not None and draft.tokens == [11, 13] and draft.source == "recycle"
    auto = make_drafter("auto", d)
    assert auto.candidates([1, 10], 4) == [draft]  # no n-gram match: the table drafts
    both = auto.candidates([10, 11, 5, 10, 11], 4)  # the n-gram first, the table as the fallback
    assert [(c.tokens, c.source) for c in both] == [([5, 10, 11], "ngram2"), ([13], "recycle")]
