"""A real OpenAI-compatible HTTP server on 127.0.0.1 that records every request body.

It answers with its own Engine (a second instance of the default model): streaming or plain
`/v1/chat/completions`, `/v1/completions` with `logprobs`, and llama.cpp-style `/tokenize`.
`mode` switches on a fault: "stall" (no answer for 60 s, or until `reset`), "http500", "badjson", "truncated"
(a stream cut before [DONE]), "tokmismatch" (a different tokenizer), "echo" (the outline is
the user's message itself, without running the model: for fast corpus-wide checks), or "lists" (a
list of prompts is answered, one choice each, but never echoed; by default a list is refused).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloud_bridge.ledger import Ledger, body_bytes
from edge import Engine


class FakeCloud:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.mode = "ok"
        self.received: list[tuple[str, bytes]] = []
        self.headers: list[dict[str, str]] = []  # per request, as received
        # per request: was it already the newest ledger entry when it arrived? (ledger BEFORE send)
        self.logged_first: list[bool] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = False  # server_close() joins the handlers before the engine closes
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeCloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self, mode: str = "ok") -> None:
        self.release.set()  # let a stalled handler of the previous test go
        self.release = threading.Event()
        self.mode, self.received, self.logged_first, self.headers = mode, [], [], []

    def bodies(self) -> list[bytes]:
        return [b for _, b in self.received]

    # -- answers ----------------------------------------------------------------------------
    def chat(self, req: dict) -> str:
        if self.mode == "echo":
            return "- " + req["messages"][-1]["content"]
        if self.mode in ("truncated", "tokmismatch"):  # the point is elsewhere: skip the model
            return "- first point - second point - third point"
        with self._lock:
            out = self.engine.generate(req["messages"], max_tokens=int(req.get("max_tokens", 16)),
                                       temperature=float(req.get("temperature", 0.0)))
        return out.text

    def completion(self, req: dict) -> dict:
        k = int(req.get("logprobs") or 1)
        prompts = [req["prompt"]] if isinstance(req["prompt"], str) else req["prompt"]
        return {"object": "text_completion", "model": "fake",
                "choices": [self._choice(i, p, k) for i, p in enumerate(prompts)]}

    def _choice(self, index: int, prompt: str, k: int) -> dict:
        with self._lock:
            top = self.engine.next_token_logprobs(prompt, top_k=k)
        texts = {self.engine.token_text(t): lp for t, lp in top}
        first = self.engine.token_text(top[0][0])
        return {"index": index, "text": first, "finish_reason": "length",
                "logprobs": {"tokens": [first], "token_logprobs": [top[0][1]], "top_logprobs": [texts]}}

    def tokenize(self, req: dict) -> dict:
        ids = self.engine.encode(req.get("content", ""))
        if self.mode == "tokmismatch":
            ids = [i + 1 for i in ids]
        return {"tokens": ids}


def _handler(cloud: FakeCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a stalled answer after its timeout)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            cloud.received.append((self.path, body))
            cloud.headers.append(dict(self.headers.items()))
            entries = Ledger().entries()
            cloud.logged_first.append(bool(entries) and body_bytes(entries[-1]) == body)
            if cloud.mode == "stall":
                cloud.release.wait(60)
                return self._send(503, b'{"error": {"message": "stalled"}}')
            if cloud.mode == "http500":
                return self._send(500, b'{"error": {"message": "internal error"}}')
            if cloud.mode == "badjson":
                return self._send(200, b"<html>this is not json {")
            req = json.loads(body)
            if self.path == "/v1/chat/completions":
                return self._chat(req)
            listed = not isinstance(req.get("prompt"), str)
            if self.path == "/v1/completions" and listed and (cloud.mode != "lists" or req.get("echo")):
                return self._send(400, b'{"error": {"message": "prompt must be a string"}}')  # as a one-prompt server
            if self.path == "/v1/completions":
                return self._send(200, json.dumps(cloud.completion(req)).encode())
            if self.path == "/tokenize":
                return self._send(200, json.dumps(cloud.tokenize(req)).encode())
            return self._send(404, b'{"error": {"message": "not found"}}')

        def _chat(self, req: dict) -> None:
            text = cloud.chat(req)
            if not req.get("stream"):
                msg = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}]}
                return self._send(200, json.dumps(msg).encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0, no length: the body ends when the connection closes
            _write_sse(self.wfile, text, truncated=cloud.mode == "truncated")

    return Handler


def _write_sse(wfile, text: str, truncated: bool) -> None:
    """One event per word, then [DONE]; `truncated` cuts after the first event."""
    words = text.split(" ")
    for i, word in enumerate(words):
        delta = {"choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1 else "")},
                              "finish_reason": None}]}
        wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
        if truncated:
            return
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
