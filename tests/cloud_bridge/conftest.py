"""Fixtures for the privacy split: a recording fake cloud on its own model instance, the corpus."""

from __future__ import annotations

import pytest

from cloud_bridge.synth import corpus as make_corpus

from .fakecloud import FakeCloud


@pytest.fixture(scope="session")
def cloud_engine():
    """The cloud's model: a second instance of the default model, separate from the local one."""
    from edge import Engine, RuntimeOptions

    # one thread: the local engine runs beside it on a small shared machine
    engine = Engine.load("default", options=RuntimeOptions(n_threads=1))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def _cloud_server(cloud_engine):
    server = FakeCloud(cloud_engine).start()
    yield server
    server.stop()


@pytest.fixture
def fake_cloud(_cloud_server):
    _cloud_server.reset("ok")
    yield _cloud_server
    _cloud_server.reset("ok")


@pytest.fixture(scope="session")
def corpus():
    return make_corpus(60, seed=7)


@pytest.fixture
def dead_url() -> str:
    """A loopback port with nothing listening."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
