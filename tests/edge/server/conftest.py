"""Fixtures for the server tests: the real app under uvicorn on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from edge.server import create_app

# One llama.cpp thread: on a shared 2-core machine, 2 threads that spin on each other's barrier
# while other jobs hold a core run 30-100x slower (measured 0.5 vs 17 tok/s under load 10).
THREADS = 1


class LiveServer:
    """A real uvicorn server in a background thread, bound to 127.0.0.1 on a free port."""

    def __init__(self, **app_kwargs) -> None:
        app_kwargs.setdefault("threads", THREADS)
        self.app = create_app(**app_kwargs)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)


def _engine():
    from edge import Engine, RuntimeOptions

    return Engine.load("default", options=RuntimeOptions(n_threads=THREADS))


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """The shared server: default model, generation clamped to 64 tokens so fuzzing stays quick."""
    engine = _engine()
    live = LiveServer(engines={"default": engine}, max_tokens_limit=64, timeout=120).start()
    yield live
    live.stop()
    engine.close()


@pytest.fixture(scope="session")
def spare_engine():
    """A second default-model Engine for the per-test servers (one at a time), so each need not load it."""
    engine = _engine()
    yield engine
    engine.close()


@pytest.fixture
def start_server(spare_engine) -> Iterator[Callable[..., LiveServer]]:
    """Start a server with its own settings (token, queue size...); stopped after the test."""
    started: list[LiveServer] = []

    def start(**kwargs) -> LiveServer:
        kwargs.setdefault("engines", {"default": spare_engine})
        started.append(LiveServer(**kwargs).start())
        return started[-1]

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def openai_client(server: LiveServer):
    from openai import OpenAI

    with OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120) as client:
        yield client


class ServeProcess:
    """`edgesplit serve` in a subprocess (the real entry point), reading the URL it prints."""

    def __init__(self, *args: str) -> None:
        exe = Path(sys.executable).with_name("edgesplit")
        self.proc = subprocess.Popen([str(exe), "serve", "--port", "0", "--threads", str(THREADS), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     env={**os.environ})
        line = self.proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"serve printed no URL: {line!r} {self.proc.stderr.read()}")
        self.url = match.group(0)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def serve_process() -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        started.append(ServeProcess(*args))
        return started[-1]

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.stop()


def chat_body(content: str = "Say hello.", **extra) -> dict:
    return {"model": "default", "messages": [{"role": "user", "content": content}], **extra}


def assert_openai_error(resp: httpx.Response, status: int, param: str | None = ...) -> dict:
    """The response is an OpenAI-style error object with this status (and param, when given)."""
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    if param is not ...:
        assert err["param"] == param
    return err
