"""The cloud client against a real local HTTP server: ledger before send, faults -> CloudError."""

from __future__ import annotations

import json
import time

import pytest

from cloud_bridge.client import CloudClient, CloudConfig, parse_top_logprobs
from cloud_bridge.errors import CloudError
from cloud_bridge.ledger import Ledger, body_bytes

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def _client(url: str, **kw) -> CloudClient:
    return CloudClient(CloudConfig(url=url, timeout=kw.pop("timeout", 60.0), backoff=0.05, **kw))


def test_chat_streams_and_ledger_matches_received_bytes(fake_cloud):
    with _client(fake_cloud.url) as c:
        text = c.chat(MESSAGES, "test", max_tokens=8)
    assert text.strip()
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()
    assert json.loads(fake_cloud.bodies()[0])["stream"] is True


def test_logprobs_and_tokenize(fake_cloud, cloud_engine):
    with _client(fake_cloud.url) as c:
        top = c.top_logprobs("The capital of France is", 5, "test")
        ids = c.tokenize("Hello world", "test")
    assert len(top) == 5 and all(lp <= 0 for lp in top.values())
    assert ids == cloud_engine.encode("Hello world")
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_api_key_comes_from_env_and_never_reaches_the_ledger(fake_cloud, monkeypatch):
    monkeypatch.setenv("EDGESPLIT_CLOUD_KEY", "sk-test-123")
    cfg = CloudConfig.from_env(fake_cloud.url, backoff=0.05)
    assert cfg is not None and cfg.api_key == "sk-test-123"
    with CloudClient(cfg) as c:
        c.top_logprobs("The capital of France is", 2, "test")
    assert [h.get("Authorization") for h in fake_cloud.headers] == ["Bearer sk-test-123"]
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()
    files = [p for p in Ledger().path.parent.iterdir() if p.name.startswith("ledger.") and p.is_file()]
    assert Ledger().path in files and Ledger().head_path in files
    assert not [p for p in files if b"sk-test-123" in p.read_bytes()]


def test_plain_http_only_to_loopback():
    with pytest.raises(CloudError, match="https"):
        CloudConfig(url="http://api.example.com/v1")
    assert CloudConfig(url="https://api.example.com").base == "https://api.example.com/v1"


def test_bad_json_on_completions(fake_cloud):
    fake_cloud.reset("badjson")
    with _client(fake_cloud.url) as c, pytest.raises(CloudError, match="not valid JSON"):
        c.top_logprobs("Hello", 3, "test")


def test_unreachable_is_logged_then_fails(dead_url):
    with _client(dead_url, retries=1, timeout=5.0) as c, pytest.raises(CloudError, match="unreachable"):
        c.chat(MESSAGES, "test")
    entries = Ledger().entries()
    assert len(entries) == 2 and "retry 1" in entries[1]["purpose"]  # each attempt logged before sending


@pytest.mark.parametrize("mode,match", [("http500", "HTTP 500"), ("badjson", "not valid JSON"), ("truncated", "truncated")])
def test_faults_raise_cloud_error(fake_cloud, mode, match):
    fake_cloud.reset(mode)
    with _client(fake_cloud.url, timeout=30.0) as c, pytest.raises(CloudError, match=match):
        c.chat(MESSAGES, "test", max_tokens=4)
    # what reached the server is exactly what the ledger says was sent
    assert fake_cloud.bodies() and [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_the_timeout_fires_on_a_stalled_cloud(fake_cloud):
    """The cloud holds every request for 60 s; a 1 s budget must give up long before that (the
    bound is generous: it only tells "the timeout fired" from "the server answered")."""
    fake_cloud.reset("stall")
    t0 = time.monotonic()
    with _client(fake_cloud.url, timeout=1.0, retries=0) as c, pytest.raises(CloudError, match="timed out"):
        c.chat(MESSAGES, "test", max_tokens=4)
    assert time.monotonic() - t0 < 30
    assert len(fake_cloud.bodies()) == 1 and [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()


def test_both_logprob_formats_parse():
    legacy = {"tokens": [" a"], "top_logprobs": [{" a": -0.1, " b": -2.0}]}
    chat = {"content": [{"token": " a", "logprob": -0.1, "top_logprobs": [
        {"token": " a", "logprob": -0.1}, {"token": " b", "logprob": -2.0}]}]}
    assert parse_top_logprobs(legacy) == parse_top_logprobs(chat) == {" a": -0.1, " b": -2.0}


def test_nothing_is_sent_when_the_ledger_cannot_be_written(fake_cloud, _isolated_home):
    from cloud_bridge.errors import LedgerError

    (_isolated_home / "ledger.jsonl").mkdir()  # a directory where the ledger file should be
    with _client(fake_cloud.url) as c, pytest.raises(LedgerError, match="nothing was sent"):
        c.chat(MESSAGES, "test")
    assert fake_cloud.received == []


def test_nothing_is_sent_when_the_ledger_fails_verification(fake_cloud):
    from cloud_bridge.errors import LedgerDamagedError

    with _client(fake_cloud.url) as c:
        c.top_logprobs("Hello", 2, "test")
        led = Ledger()
        led.path.write_bytes(led.path.read_bytes()[:-10])  # cut mid-line
        with pytest.raises(LedgerDamagedError, match="nothing was sent.*edgesplit ledger verify"):
            c.top_logprobs("Hello again", 2, "test")
    assert len(fake_cloud.bodies()) == 1


def test_an_unreadable_answer_to_a_list_ends_echoed_lists_but_fails_plain_ones(monkeypatch):
    """Choices without an index: where a list was echoed the endpoint just cannot echo lists (the tree
    falls back to listing nodes); a plain list answered so is a broken cloud."""
    from cloud_bridge.errors import CloudError

    client = _client("http://127.0.0.1:9/v1")
    monkeypatch.setattr(client, "post_json", lambda path, payload, purpose: {"choices": [{"text": "x"}]})
    assert client.score_many(["a", "b"], 3, "test") is None and client.echo_lists is False
    with pytest.raises(CloudError, match="one scored choice each"):
        client.top_logprobs_many(["a", "b"], 3, "test")
