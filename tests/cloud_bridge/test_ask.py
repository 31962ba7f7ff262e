"""`cloud_bridge.ask`: what apps call for a general-knowledge answer; nothing private leaves."""

from __future__ import annotations

import pytest

from cloud_bridge import ask
from cloud_bridge.errors import CloudError
from cloud_bridge.ledger import Ledger, body_bytes

PRIVATE = ["Marguerite Okonkwo", "marguerite.o@example.org", "+44 20 7946 0958"]


def test_ask_sends_only_deidentified_text_and_logs_it(fake_cloud):
    question = (f"My name is {PRIVATE[0]}, mail {PRIVATE[1]}, phone {PRIVATE[2]}. "
                "How many hours of sleep do adults need?")
    answer = ask(question, known_terms=[PRIVATE[0]], url=fake_cloud.url, max_tokens=16)
    assert isinstance(answer, str) and answer.strip()
    sent = b"".join(fake_cloud.bodies()).decode()
    for value in PRIVATE + ["Marguerite", "Okonkwo"]:
        assert value.lower() not in sent.lower()
    assert "hours of sleep" in sent
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_ask_without_a_cloud_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("EDGESPLIT_CLOUD_URL", raising=False)
    with pytest.raises(CloudError, match="EDGESPLIT_CLOUD_URL"):
        ask("How long should I sleep?")
