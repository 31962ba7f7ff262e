"""Placeholders: stable within a conversation, restored locally, tolerant of mangling."""

from __future__ import annotations

from cloud_bridge.pseudonym import Pseudonymizer


def test_stable_typed_placeholders():
    p = Pseudonymizer()
    a, _ = p.pseudonymize("Ask Dr. Okafor: +1 415 555 2671, okafor@example.org")
    b, _ = p.pseudonymize("Dr. Okafor again, at +14155552671; also Ms. Chen")
    assert a == "Ask Dr. <PERSON_1>: <PHONE_1>, <EMAIL_1>"
    assert b == "Dr. <PERSON_1> again, at <PHONE_1>; also Ms. <PERSON_2>"


def test_restore_tolerates_mangling_and_never_invents():
    p = Pseudonymizer()
    p.pseudonymize("Dear Dr. Okafor, my number is +44 20 7946 0958.")
    answer = ("Hi [PERSON_1], call PHONE_1 or <phone_1> or {PHONE 1} or &lt;PERSON_1&gt;. "
              "<PERSON_2> and <EMAIL_1> stay; PERSON_10 too; a phone 1 in prose stays.")
    assert p.restore(answer) == (
        "Hi Okafor, call +44 20 7946 0958 or +44 20 7946 0958 or +44 20 7946 0958 or Okafor. "
        "<PERSON_2> and <EMAIL_1> stay; PERSON_10 too; a phone 1 in prose stays.")


def test_state_round_trip_and_scrub_known():
    p = Pseudonymizer()
    p.pseudonymize("my colleague Priya Raman")
    q = Pseudonymizer.from_state(p.state())
    # detection alone would miss this mention; the known mapping still replaces it
    assert q.scrub_known("write to PRIYA RAMAN today") == "write to <PERSON_1> today"
    assert q.placeholder_for("PERSON", "priya  raman") == "<PERSON_1>"
