"""Read deadlines for HTTP requests: a client that sends half a request is disconnected.

uvicorn's h11 protocol only times out idle keep-alive connections; a client that sends part of
its headers, or announces a body and stops, holds its connection (and, past the body, a request
task) open forever. This protocol closes a connection whose headers are not complete
`header_timeout` seconds after its first byte (or after it opened), or whose body is not
complete `body_timeout` seconds after its headers. The app then sees `http.disconnect`.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0


class DeadlineH11Protocol(H11Protocol):
    """H11Protocol with a header deadline and a body deadline (class attributes, see `with_deadlines`)."""

    header_timeout: float = HEADER_TIMEOUT_S
    body_timeout: float = BODY_TIMEOUT_S
    _read_timer: asyncio.TimerHandle | None = None
    _reading: object = None  # the h11 state the armed timer guards (IDLE: headers, SEND_BODY: body)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # between requests uvicorn's own keep-alive timeout applies

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline of the phase the client is in; keep it while the phase lasts."""
        state = self.conn.their_state
        if state is h11.IDLE and self.timeout_keep_alive_task is not None:
            state = None  # idle between requests: the keep-alive timer is running
        if state not in (h11.IDLE, h11.SEND_BODY):
            return self._disarm()
        if self._reading is state and self._read_timer is not None:
            return None
        self._disarm()
        timeout = self.header_timeout if state is h11.IDLE else self.body_timeout
        self._reading = state
        self._read_timer = self.loop.call_later(timeout, self._expired, state)
        return None

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer, self._reading = None, None

    def _expired(self, state: object) -> None:
        self._read_timer = None
        if self.conn.their_state is state and not self.transport.is_closing():
            phase = "headers" if state is h11.IDLE else "body"
            self.logger.info("closing a connection whose request %s did not arrive in time", phase)
            self.transport.close()  # connection_lost tells a running request it is disconnected


def with_deadlines(header_timeout: float = HEADER_TIMEOUT_S,
                   body_timeout: float = BODY_TIMEOUT_S) -> type[DeadlineH11Protocol]:
    """A protocol class for `uvicorn.Config(http=...)` with these deadlines in seconds."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})
