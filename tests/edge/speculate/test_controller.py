"""The controller drafts when drafts are accepted and backs off when they are not."""

from __future__ import annotations

from edge.speculate import Controller, SpecStats
from edge.speculate.drafters import Draft
from edge.speculate.loop import _draft


def _run(controller: Controller, accept_all: bool, steps: int = 160) -> tuple[int, int]:
    """(steps that drafted, probes) over `steps` steps of a cost model: 10 ms + 1 ms per draft token."""
    drafted = probes = 0
    for _ in range(steps):
        k, probe = controller.budget("ngram3")
        probes += probe
        drafted += k > 0
        controller.record("ngram3" if k else None, k, k if accept_all else 0, 0.010 + 0.001 * k)
    return drafted, probes


def test_backs_off_when_nothing_is_accepted() -> None:
    controller = Controller()
    learning, _ = _run(controller, accept_all=False, steps=20)
    assert learning < 20  # it stopped within the first 20 rejected drafts
    drafted, probes = _run(controller, accept_all=False)
    assert controller.best_length("ngram3") == 0
    assert drafted == probes  # from then on only the rare one-token probes draft
    assert probes <= 160 // controller.probe_every + 1


def test_drafts_long_when_everything_is_accepted() -> None:
    controller = Controller()
    drafted, _ = _run(controller, accept_all=True)
    assert controller.best_length("ngram3") >= 4
    assert drafted >= 150  # all but the periodic plain passes that re-measure c(1)


def test_a_new_text_goes_halfway_back_to_the_prior_and_keeps_costs() -> None:
    controller = Controller()
    _run(controller, accept_all=False)
    low = controller.acceptance("ngram3")
    controller.new_text()
    assert controller.acceptance("ngram3") == 0.5 * (low + controller.prior_accept)
    controller = Controller()
    _run(controller, accept_all=True)
    controller.new_text()
    assert controller.acceptance("ngram3") > controller.prior_accept
    assert controller.best_length("ngram3") > 0  # a source that paid drafts at once in the next text
    assert controller.acceptance("recycle") == controller.prior_accept  # an unseen source: the prior


def test_one_preempted_pass_does_not_stop_drafting() -> None:
    controller = Controller()
    _run(controller, accept_all=True, steps=40)
    controller.record("ngram3", 4, 4, 0.5)  # the OS took the core away for this one pass
    assert controller.best_length("ngram3") >= 4


def test_a_batch_whose_first_extra_token_costs_most_still_drafts_long() -> None:
    """A CPU's batch (the measured shape): 10 ms for one token, +7 ms for the first extra one, +2 ms for
    each further one. One per-token figure (a median of 4.8 ms) made long drafts look dearer than
    they are: an 80 %-accepted source drafted 2 tokens a pass; the best is 5."""
    controller = Controller()
    controller.record(None, 0, 0, 0.010)
    for _ in range(5):
        for k in (1, 8):  # another source's passes: only their costs matter here
            controller.record("recycle", k, 0, 0.010 + 0.005 + 0.002 * k)
    assert controller.acceptance("ngram3") == controller.prior_accept
    assert controller.best_length("ngram3") >= 4


def test_hands_off_after_steps_without_a_draft_worth_sending() -> None:
    controller = Controller(handoff_after=24)
    _run(controller, accept_all=False, steps=60)  # probes keep coming: they must not reset the count
    assert controller.hand_off()
    controller.new_text()
    assert not controller.hand_off()


def test_a_paying_draft_resets_the_handoff_count() -> None:
    controller = Controller(handoff_after=24)
    _run(controller, accept_all=True, steps=60)
    assert not controller.hand_off()
    never = Controller(handoff_after=0, prior_accept=0.0)
    _run(never, accept_all=False, steps=60)
    assert not never.hand_off()  # 0 disables the handoff



class _Two:
    def candidates(self, history, k):
        return [Draft([1, 2], "ngram2"), Draft([3, 4], "recycle")]


def test_a_source_that_does_not_pay_leaves_the_step_to_the_next_candidate() -> None:
    controller = Controller()
    controller.record(None, 0, 0, 0.010)
    for _ in range(20):  # n-gram drafts are always rejected, the table's are not tried yet
        controller.record("ngram2", 2, 0, 0.012)
    draft = _draft(_Two(), controller, [0], 4, SpecStats())
    assert draft is not None and draft.source == "recycle" and draft.tokens == [3, 4]
