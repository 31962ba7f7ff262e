"""CoGenesis against the real edgesplit server (edge.server) on a second model instance,
wrapped in an ASGI middleware that records every request body it receives."""

from __future__ import annotations

import pytest

from cloud_bridge.client import CloudClient, CloudConfig
from cloud_bridge.cogenesis import CoGenesis, CollabOptions
from cloud_bridge.entities import entities_from_dict
from cloud_bridge.ledger import Ledger, body_bytes
from cloud_bridge.pii import Detector
from edge.server.app import create_app  # a broken server module must fail here, not skip

from .realserver import serve
from .test_cogenesis import leaks


class Recorder:
    """ASGI middleware: keeps (path, body bytes) of every POST before the app sees it."""

    def __init__(self, app) -> None:
        self.app = app
        self.received: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []

        async def recording_receive():
            msg = await receive()
            if msg["type"] == "http.request":
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    self.received.append((scope["path"], b"".join(chunks)))
            return msg

        await self.app(scope, recording_receive, send)


@pytest.fixture(scope="module")
def edgesplit_cloud(cloud_engine):
    recorder = Recorder(create_app(engines={"default": cloud_engine}, apps={}))
    with serve(recorder) as root:
        yield recorder, f"{root}/v1"


def test_logits_against_the_edgesplit_server(edgesplit_cloud, default_engine, corpus):
    """Logit mode against the real edgesplit server: tokenizers match through its /tokenize, the
    cloud's top-k comes from /v1/completions `logprobs`, and nothing private is in any body."""
    recorder, url = edgesplit_cloud
    sample = corpus[9].head(4)
    client = CloudClient(CloudConfig(url=url, timeout=120.0, retries=0))
    session = CoGenesis(default_engine, client, "logits", Detector(known=entities_from_dict(sample.profile)))
    result = session.write(sample.instruction, sample.context, CollabOptions(max_tokens=6, outline_tokens=10))
    assert result.mode_used == "logits" and result.cloud_used and result.fused_steps >= 1, result
    assert {p for p, _ in recorder.received} == {"/tokenize", "/v1/completions"}
    bodies = [b for _, b in recorder.received]
    assert leaks(bodies, sample.values()) == []
    assert [body_bytes(e) for e in Ledger().entries()] == bodies
