"""Apps run on the server's own models: the model `serve -m` names, its queue, one copy in memory."""

from __future__ import annotations

import shutil
import threading

import pytest

from edge import Engine

from .conftest import LiveServer, assert_openai_error, chat_body

APPS = {"m": "tests.edge.server.fixture_apps.modelapp"}


@pytest.fixture
def modelapp():
    from tests.edge.server.fixture_apps import modelapp

    modelapp.holding.clear()
    modelapp.release.clear()
    yield modelapp
    modelapp.release.set()


def test_app_route_answers_with_the_served_model_and_its_options(default_gguf, tmp_path, monkeypatch):
    other = tmp_path / "other-model.gguf"
    shutil.copyfile(default_gguf, other)
    loads = []
    real_load = Engine.load.__func__

    def counting_load(cls, *args, **kwargs):
        ref = args[0] if args else kwargs.get("model")
        loads.append(str(getattr(ref, "path", ref)))  # a reference or an already resolved ModelRef
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(Engine, "load", classmethod(counting_load))
    live = LiveServer(models=[str(other)], apps=APPS, threads=1).start()
    try:
        with live.client() as c:
            for _ in range(3):
                r = c.post("/v1/apps/m/generate", json={})
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["path"] == str(other) and body["model"] == "other-model"
                assert body["threads"] == 1 and body["completion_tokens"] >= 1
            chat = c.post("/v1/chat/completions", json=chat_body(model="other-model", max_tokens=2))
            assert chat.status_code == 200
            missing = c.post("/v1/apps/m/generate", json={"model": "no-such-model"})
            assert_openai_error(missing, 404)
    finally:
        live.stop()
    assert loads == [str(other)]  # the app and the chat share one Engine: the model is loaded once


def test_app_work_and_chat_share_the_models_queue(start_server, modelapp):
    live = start_server(apps=APPS, max_queue=0)
    results: dict = {}

    def hold() -> None:
        with live.client() as c:
            results["hold"] = c.post("/v1/apps/m/hold")

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert modelapp.holding.wait(60), "the app's work never started on the model's worker"
        with live.client() as c:
            busy = c.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            assert_openai_error(busy, 429)  # one running (the app) + max_queue 0 waiting
            assert c.post("/v1/apps/m/generate", json={}).status_code == 429
            depth = {m["id"]: m["queue_depth"] for m in c.get("/health").json()["models"]}
            assert depth["default"] == 1
    finally:
        modelapp.release.set()
        t.join(60)
    assert results["hold"].status_code == 200
    with live.client() as c:
        assert c.post("/v1/chat/completions", json=chat_body(max_tokens=2)).status_code == 200


def test_app_work_past_the_timeout_gets_504_and_frees_the_model(start_server, modelapp):
    live = start_server(apps=APPS, timeout=1.0)
    with live.client() as c:
        r = c.post("/v1/apps/m/hold")
        assert_openai_error(r, 504)
        modelapp.release.set()
        ok = c.post("/v1/apps/m/generate", json={})
        assert ok.status_code == 200, ok.text
