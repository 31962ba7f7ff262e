"""CoGenesis end to end against a recording cloud: no private string ever leaves, the ledger
equals what the server received, placeholders come back restored, faults fall back to local."""

from __future__ import annotations

import json

import pytest

from cloud_bridge.client import CloudClient, CloudConfig
from cloud_bridge.cogenesis import CoGenesis, CollabOptions, LeakGuardError
from cloud_bridge.entities import entities_from_dict
from cloud_bridge.fusion import Schedule, fuse, tokenizers_match
from cloud_bridge.ledger import Ledger, body_bytes
from cloud_bridge.pii import Detector
from cloud_bridge.vault import Vault

SKETCH = CollabOptions(max_tokens=6, outline_tokens=10, temperature=0.0)
LOGITS = CollabOptions(max_tokens=5, top_k=5, temperature=0.0, policy=Schedule(prefix=2, local=1, fused=1))
# model-driven tests use the first sentences of a context (3 people + 2 other entities): the
# machine is small; the full contexts go through the detector-to-outbound-bytes test
HEAD = 5


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def leaks(bodies: list[bytes], values: list[str]) -> list[str]:
    """Private values found in raw bodies or in any decoded JSON string (exact or any case)."""
    found = []
    for body in bodies:
        raw = body.decode("utf-8", "replace")
        texts = [raw, *_strings(json.loads(body))]
        for v in values:
            if any(v in t or v.casefold() in t.casefold() for t in texts):
                found.append(v)
    return found


def _session(engine, sample, url: str, policy: str, timeout: float = 120.0, **kw) -> CoGenesis:
    client = CloudClient(CloudConfig(url=url, timeout=timeout, backoff=0.05))
    detector = Detector(known=entities_from_dict(sample.profile))
    return CoGenesis(engine, client, policy, detector, **kw)


def _assert_ledger_is_what_was_received(fake_cloud) -> None:
    assert [body_bytes(e) for e in Ledger().entries()] == fake_cloud.bodies()
    assert Ledger().verify().ok
    assert all(fake_cloud.logged_first)  # each body was in the ledger before it reached the server


def test_full_corpus_outbound_bytes_and_round_trip(fake_cloud, default_engine, corpus):
    """Detector + pseudonymizer + client on all samples: the cloud (echoing) sees no private value,
    and the placeholders it sends back restore to the exact instruction."""
    fake_cloud.reset("echo")
    for sample in corpus:
        session = _session(default_engine, sample, fake_cloud.url, "sketch")
        session.pseud.pseudonymize(sample.context)
        redacted, _ = session.pseud.pseudonymize(sample.instruction)
        outline = session.request_outline(redacted, SKETCH)
        assert "<" in outline
        assert session.pseud.restore(outline) == "- " + sample.instruction
    values = [v for s in corpus for v in s.values()]
    assert len(fake_cloud.bodies()) == len(corpus)
    assert leaks(fake_cloud.bodies(), values) == []
    _assert_ledger_is_what_was_received(fake_cloud)


def test_sketch_end_to_end(fake_cloud, default_engine, corpus):
    for sample in (s.head(HEAD) for s in corpus[:1]):
        result = _session(default_engine, sample, fake_cloud.url, "sketch").write(
            sample.instruction, sample.context, SKETCH)
        assert result.cloud_used and result.mode_used == "sketch" and result.cloud_error is None
        assert result.outline and result.text
        assert leaks(fake_cloud.bodies(), sample.values()) == []
    assert len(fake_cloud.bodies()) == 1
    _assert_ledger_is_what_was_received(fake_cloud)


def test_logits_end_to_end(fake_cloud, default_engine, corpus):
    for sample in (s.head(HEAD) for s in corpus[3:4]):
        result = _session(default_engine, sample, fake_cloud.url, "logits").write(
            sample.instruction, sample.context, LOGITS)
        assert result.mode_used == "logits" and result.cloud_used and result.fused_steps >= 1, result
        assert result.completion_tokens >= 1
        assert leaks(fake_cloud.bodies(), sample.values()) == []
    paths = {p for p, _ in fake_cloud.received}
    assert paths == {"/tokenize", "/v1/completions"}
    _assert_ledger_is_what_was_received(fake_cloud)


def test_tokenizer_mismatch_is_detected(fake_cloud, default_engine):
    """A cloud with another tokenizer fails the probe check (the fallback to sketch mode runs end to
    end in test_tokenizer_mismatch_falls_back_to_sketch)."""
    client = CloudClient(CloudConfig(url=fake_cloud.url, timeout=60.0))
    assert tokenizers_match(default_engine, client)[0] is True
    assert client.tokenizer_fingerprint  # probed once per client, then remembered
    fake_cloud.reset("tokmismatch")
    ok, reason = tokenizers_match(default_engine, CloudClient(CloudConfig(url=fake_cloud.url, timeout=60.0)))
    assert not ok and "differs" in reason
    assert {p for p, _ in fake_cloud.received} == {"/tokenize"}


def test_tokenizer_mismatch_falls_back_to_sketch(fake_cloud, default_engine, corpus):
    sample = corpus[9].head(HEAD)
    fake_cloud.reset("tokmismatch")
    result = _session(default_engine, sample, fake_cloud.url, "logits").write(
        sample.instruction, sample.context, LOGITS)
    assert result.mode_used == "sketch" and result.cloud_used and result.outline
    assert "tokenizer" in (result.fallback_reason or "")
    assert leaks(fake_cloud.bodies(), sample.values()) == []
    _assert_ledger_is_what_was_received(fake_cloud)


@pytest.mark.parametrize("fault", ["down", "stall", "http500", "badjson", "truncated"])
def test_cloud_faults_give_a_local_answer(fake_cloud, default_engine, corpus, dead_url, fault):
    url = dead_url if fault == "down" else fake_cloud.url
    fake_cloud.reset("ok" if fault == "down" else fault)
    sample = corpus[6].head(3)
    opts = CollabOptions(max_tokens=4, outline_tokens=8)
    result = _session(default_engine, sample, url, "sketch", timeout=1.5).write(sample.instruction, sample.context, opts)
    assert result.cloud_used is False and result.mode_used == "local"
    assert result.cloud_error and result.text.strip()
    if fault == "down":  # nothing listens: the ledger shows each attempt the client made before it gave up
        assert "unreachable" in result.cloud_error and fake_cloud.received == []
        entries = Ledger().entries()
        assert entries and {e["endpoint"] for e in entries} == {dead_url + "/chat/completions"}
        assert leaks([body_bytes(e) for e in entries], sample.values()) == []
        return
    assert fake_cloud.bodies(), "the faulty cloud was never contacted"
    assert leaks(fake_cloud.bodies(), sample.values()) == []
    _assert_ledger_is_what_was_received(fake_cloud)


def test_policy_off_sends_nothing(fake_cloud, default_engine, corpus):
    sample = corpus[7].head(3)
    result = _session(default_engine, sample, fake_cloud.url, "off").write(
        sample.instruction, sample.context, CollabOptions(max_tokens=3))
    assert not result.cloud_used and result.mode_used == "local"
    assert fake_cloud.received == [] and Ledger().entries() == []


def test_guard_refuses_a_known_private_value(fake_cloud, default_engine, corpus):
    session = _session(default_engine, corpus[0], fake_cloud.url, "sketch")
    session.pseud.placeholder_for("PERSON", "Zoltan Quibbleworth")
    with pytest.raises(LeakGuardError):
        session.request_outline("write to zoltan quibbleworth", SKETCH)
    assert fake_cloud.received == []


def test_partial_private_value_is_not_fused(default_engine, corpus):
    session = CoGenesis(default_engine)
    session.pseud.placeholder_for("PERSON", "Oluwaseun Larsen")
    assert session.pseud_tail_unsafe("Dear Olu")
    assert not session.pseud_tail_unsafe("Dear <PERSON_1>, thanks")


def test_write_saves_the_mapping_in_the_vault(fake_cloud, default_engine, corpus):
    """`CoGenesis.write()` itself stores the conversation's placeholders: a new session on the
    same conversation id restores the placeholders of the first one's outline."""
    fake_cloud.reset("echo")
    sample = corpus[8].head(HEAD)
    assert Vault().get("c1") is None
    first = _session(default_engine, sample, fake_cloud.url, "sketch", vault=Vault(), conversation_id="c1")
    result = first.write(sample.instruction, sample.context, SKETCH)
    assert result.cloud_used and first.pseud.originals
    assert Vault().get("c1") == first.pseud.state()
    again = _session(default_engine, sample, fake_cloud.url, "sketch", vault=Vault(), conversation_id="c1")
    assert again.pseud.originals == first.pseud.originals
    sent = json.loads(fake_cloud.bodies()[0])["messages"][-1]["content"]
    assert again.pseud.restore(sent) == sample.instruction


def test_fusion_rule():
    local = {1: -0.7, 2: -0.9}
    cloud = {2: -0.1, 3: -3.0}
    fused = fuse(local, cloud, 0.5)
    assert set(fused) == {1, 2, 3}
    assert abs(sum(2.718281828 ** v for v in fused.values()) - 1) < 1e-6
    assert max(fused, key=fused.get) == 2  # the cloud's confidence moves the pick
    assert max(fuse(local, cloud, 0.0), key=lambda t: fuse(local, cloud, 0.0)[t]) == 1
    s = Schedule(prefix=2, local=3, fused=1)
    assert [s.is_fused(i) for i in range(8)] == [True, True, False, False, False, True, False, False]
