"""ASGI middleware: request size limit, bearer-token check, request metrics; and the bind rule.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so that streaming responses and client
disconnects pass through untouched.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .metrics import Metrics

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _reply(scope: Scope, receive: Receive, send: Send, status: int, body: dict,
                 headers: dict | None = None) -> None:
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_prefix: dict[str, int] | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.per_prefix = dict(per_prefix or {})  # path prefix -> limit (apps that take big uploads)

    def limit_for(self, path: str) -> int:
        return next((n for p, n in self.per_prefix.items() if path == p or path.startswith(p + "/")),
                    self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        too_large = error_body(f"the request body is larger than {limit} bytes", "request_too_large")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _reply(scope, receive, send, 413, too_large)
        if limit > self.max_bytes:  # an app's big uploads stream through, counted, never held in memory
            return await _streamed(self.app, scope, receive, send, limit, too_large)
        # read the (small) body up front, counting bytes, then replay it to the app
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await _reply(scope, receive, send, 413, too_large)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class _BodyTooLarge(Exception):
    pass


async def _streamed(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, too_large: dict) -> None:
    """Pass the body through as it arrives; past `limit` the app's next read fails and the client gets 413."""
    size, started = 0, False

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _BodyTooLarge
        return message

    async def tracked(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, counted, tracked)
    except _BodyTooLarge:
        if not started:
            await _reply(scope, receive, send, 413, too_large)


class BearerAuthMiddleware:
    """With a token set, every path but the public ones needs `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str, is_public: Callable[[str], bool]) -> None:
        self.app, self.token, self.is_public = app, token.encode(), is_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or self.is_public(scope["path"]):
            return await self.app(scope, receive, send)
        auth = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return await self.app(scope, receive, send)
        body = error_body("missing or wrong bearer token: send `Authorization: Bearer <token>` (the server's --token)",
                          "authentication_error")
        await _reply(scope, receive, send, 401, body, {"WWW-Authenticate": "Bearer"})


class MetricsMiddleware:
    """Count requests by route template and status; time them to the last byte sent."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status = time.perf_counter(), [500]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            with self.metrics.lock:
                self.metrics.requests.inc((scope["method"], route, status[0]))
                self.metrics.latency.observe((route,), time.perf_counter() - t0)
