"""Server errors and their OpenAI-style JSON bodies.

Every error the server returns has the shape OpenAI clients expect:
`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`, with the HTTP status and
type taken from `EdgeError.http_status` / `EdgeError.kind`.
"""

from __future__ import annotations

from ..errors import EdgeError


class ServerConfigError(EdgeError):
    """A server that must not start as configured (e.g. a public address without a token)."""


class QueueFullError(EdgeError):
    http_status = 429
    kind = "rate_limit_error"


class RequestTimeoutError(EdgeError):
    http_status = 504
    kind = "timeout"


class AuthenticationError(EdgeError):
    http_status = 401
    kind = "authentication_error"


class PayloadTooLargeError(EdgeError):
    http_status = 413
    kind = "request_too_large"


class InternalServerError(EdgeError):
    """An unexpected failure inside the server (a bug): logged with its traceback."""

    http_status = 500
    kind = "server_error"


# code strings OpenAI uses for a few well-known cases; otherwise the error's kind
_CODES = {
    "model_not_found": "model_not_found",
    "rate_limit_error": "queue_full",
    "authentication_error": "invalid_api_key",
}


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    """The OpenAI error object."""
    if code is None and kind != "invalid_request_error":
        code = _CODES.get(kind, kind)
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def edge_error_body(exc: EdgeError, param: str | None = None) -> dict:
    return error_body(str(exc), exc.kind, param=param or getattr(exc, "param", None))
