"""The bounded queue (429), client disconnects (the slot is freed) and the request timeout."""

from __future__ import annotations

import json
import threading
import time

import httpx

from .conftest import assert_openai_error, chat_body

# a raw prompt the model keeps continuing for hundreds of tokens
COUNTING = {"prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", "max_tokens": 2000, "temperature": 0, "stream": True}
# a generous bound for "the worker stopped": a token takes milliseconds, the bound only catches a leak
CANCEL_S = 60


def _depth(c: httpx.Client) -> int:
    return sum(m["queue_depth"] for m in c.get("/health").json()["models"])


def _wait_idle(c: httpx.Client, within: float) -> float:
    """Seconds until no request runs or waits; fails after `within`."""
    t0 = time.monotonic()
    while _depth(c) != 0:
        assert time.monotonic() - t0 < within, "the generation was not cancelled: the slot is still taken"
        time.sleep(0.05)
    return time.monotonic() - t0


def _metric(c: httpx.Client, line_start: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_full_queue_gives_429_and_disconnect_frees_the_slot(start_server):
    live = start_server(max_queue=0, max_tokens_limit=4096)  # one request at a time, none waiting
    with live.client() as c, live.client() as other:
        with c.stream("POST", "/v1/completions", json=COUNTING) as long_run:
            assert long_run.status_code == 200
            lines = long_run.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))  # it is generating now
            busy = other.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            err = assert_openai_error(busy, 429)
            assert err["type"] == "rate_limit_error" and err["code"] == "queue_full"
            assert busy.headers["retry-after"] == "1"
        # leaving the `with` closed the connection mid-stream: the worker must stop within a token or two
        _wait_idle(other, within=CANCEL_S)
        ok = other.post("/v1/chat/completions", json=chat_body(max_tokens=2))
        assert ok.status_code == 200, ok.text
        assert _metric(other, 'edgesplit_rejected_total{model="default",reason="queue_full"}') == 1
        assert _metric(other, 'edgesplit_rejected_total{model="default",reason="disconnect"}') == 1


def test_waiting_requests_are_served_in_turn(start_server):
    from tests.edge.server.fixture_apps import modelapp

    modelapp.holding.clear()
    modelapp.release.clear()
    live = start_server(max_queue=2, apps={"m": "tests.edge.server.fixture_apps.modelapp"})
    order: list[str] = []
    statuses: dict[str, int] = {}

    def ask(name: str) -> None:
        with live.client() as c:
            path, body = ("/v1/apps/m/hold", None) if name == "hold" else (
                "/v1/chat/completions", chat_body(f"Say {name}.", max_tokens=4))
            statuses[name] = c.post(path, json=body).status_code
            order.append(name)

    threads = {"hold": threading.Thread(target=ask, args=("hold",))}
    threads["hold"].start()  # keeps the model's worker busy until released: no race with token speed
    try:
        assert modelapp.holding.wait(CANCEL_S)
        with live.client() as probe:
            for i, name in enumerate(("first", "second")):
                threads[name] = threading.Thread(target=ask, args=(name,))
                threads[name].start()
                deadline = time.monotonic() + CANCEL_S
                while _depth(probe) != i + 2:  # queued before the next one is sent
                    assert time.monotonic() < deadline, "the request never reached the queue"
                    time.sleep(0.02)
        ask("third")  # one running + two waiting: the queue is full
        assert statuses == {"third": 429}
    finally:
        modelapp.release.set()
        for t in threads.values():
            t.join(120)
    assert order == ["third", "hold", "first", "second"]
    assert statuses == {"hold": 200, "first": 200, "second": 200, "third": 429}


def test_non_streaming_disconnect_also_cancels(start_server):
    live = start_server(max_tokens_limit=4096)
    with live.client() as c:
        body = {**COUNTING, "stream": False}
        with httpx.Client(base_url=live.url, timeout=1.5) as impatient:
            try:
                impatient.post("/v1/completions", json=body)
            except httpx.ReadTimeout:
                pass  # the client gave up while the model was still counting
        _wait_idle(c, within=CANCEL_S)
        assert _metric(c, 'edgesplit_rejected_total{model="default",reason="disconnect"}') == 1


def test_timeout_gives_504_and_frees_the_slot(start_server):
    live = start_server(timeout=1.0, max_tokens_limit=4096)
    with live.client() as c:
        resp = c.post("/v1/completions", json={**COUNTING, "stream": False})
        err = assert_openai_error(resp, 504)
        assert err["type"] == "timeout" and "--timeout" in err["message"]
        _wait_idle(c, within=CANCEL_S)
        # streaming: the deadline arrives mid-stream, so it ends with an error event and [DONE]
        with c.stream("POST", "/v1/completions", json=COUNTING) as resp:
            events = [line[5:].strip() for line in resp.iter_lines() if line.startswith("data:")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["type"] == "timeout"
        _wait_idle(c, within=CANCEL_S)
