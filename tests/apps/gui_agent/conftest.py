"""The agent's app behind the real edgesplit server (create_app under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.edge.server.conftest import LiveServer


@pytest.fixture(scope="module")
def agent_server(default_engine):
    live = LiveServer(engines={"default": default_engine}, timeout=600).start()
    yield live
    live.stop()
