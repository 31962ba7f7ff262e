"""--max-loaded: at most N models stay loaded; the least recently used idle one makes room.

Three names for the default model's GGUF (symlinks a, b, c) give three real, separately loaded
Engines; the server unloads before it loads, and never unloads a model that is still working.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edge.models import resolve

from .conftest import LiveServer

PROMPT = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2, "temperature": 0}


@pytest.fixture
def three_models(tmp_path: Path) -> list[str]:
    target = resolve("default", verify=False).path
    refs = []
    for name in "abc":
        (tmp_path / f"{name}.gguf").symlink_to(target)
        refs.append(str(tmp_path / f"{name}.gguf"))
    return refs


def loaded(live: LiveServer) -> dict[str, bool]:
    with live.client() as c:
        return {m["id"]: m["loaded"] for m in c.get("/v1/models").json()["data"] if m["id"] in ("a", "b", "c")}


def ask(live: LiveServer, model: str, **extra) -> dict:
    with live.client() as c:
        r = c.post("/v1/chat/completions", json={**PROMPT, "model": model, **extra})
        assert r.status_code == 200, r.text
        return r.json()


def test_least_recently_used_idle_model_is_unloaded(three_models: list[str]) -> None:
    live = LiveServer(models=three_models, max_loaded=2).start()
    try:
        with live.client() as c:
            assert c.get("/health").json()["max_loaded"] == 2
        ask(live, "a")
        ask(live, "b")
        assert loaded(live) == {"a": True, "b": True, "c": False}
        ask(live, "a")  # a is now the more recent of the two
        ask(live, "c")
        assert loaded(live) == {"a": True, "b": False, "c": True}
        answer = ask(live, "b")  # an unloaded model loads again on its next request
        assert answer["choices"][0]["message"]["content"] and loaded(live) == {"a": False, "b": True, "c": True}
        with live.client() as c:
            metrics = c.get("/metrics").text
        assert 'edgesplit_model_loaded{model="a"} 0' in metrics and 'edgesplit_model_loaded{model="b"} 1' in metrics
    finally:
        live.stop()


def test_a_busy_model_is_never_unloaded(three_models: list[str]) -> None:
    from tests.edge.server.fixture_apps import modelapp

    modelapp.holding.clear()
    modelapp.release.clear()
    live = LiveServer(models=three_models, max_loaded=1, apps={"m": "tests.edge.server.fixture_apps.modelapp"}).start()
    done: dict = {}

    def hold_a() -> None:  # keeps a's worker busy until released: no race with generation speed
        with live.client() as c:
            done["status"] = c.post("/v1/apps/m/hold", params={"model": "a"}).status_code

    t = threading.Thread(target=hold_a)
    try:
        ask(live, "a")
        t.start()
        assert modelapp.holding.wait(60)
        ask(live, "b")  # a is busy: b loads beside it, over the limit for now
        assert loaded(live) == {"a": True, "b": True, "c": False}
        modelapp.release.set()
        t.join(60)
        assert done == {"status": 200}
        ask(live, "c")  # both idle now: the two least recent go, so c alone is loaded
        assert loaded(live) == {"a": False, "b": False, "c": True}
    finally:
        modelapp.release.set()
        live.stop()


def test_no_limit_keeps_everything(three_models: list[str]) -> None:
    live = LiveServer(models=three_models, max_loaded=0).start()
    try:
        for name in "abc":
            ask(live, name)
        assert loaded(live) == {"a": True, "b": True, "c": True}
    finally:
        live.stop()
