"""HTTP route of the CoGenesis app, mounted at /v1/apps/cogenesis by the edgesplit server.

POST /write {instruction, context, mode, max_tokens?, ...} -> the CollabResult.
The cloud endpoint is the server's own configuration (`EDGESPLIT_CLOUD_URL` of the `edgesplit
serve` process), never a request's: any page that reaches the server could otherwise make it send
data (and the API key) anywhere. A request naming another `cloud_url` gets 400.
The local engine is `request.app.state.engine` when the server provides one, else a dedicated
default-model Engine loaded on first use (the server's pool owns its engines on worker threads, so
this app does not borrow them). `PAGE` is a small form for the web UI.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.client import CloudConfig
from cloud_bridge.errors import CloudError
from edge import Engine
from edge.errors import InvalidRequestError

from .service import WriteRequest, write

PAGE = Path(__file__).with_name("static") / "index.html"
router = APIRouter(tags=["cogenesis"])
_lock = threading.Lock()
_engine: Engine | None = None


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1)
    context: str = ""
    mode: Literal["off", "sketch", "logits"] = "sketch"
    cloud_url: str | None = Field(default=None, description="Only the server's configured URL is accepted.")
    cloud_model: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0, le=5)
    seed: int | None = None
    conversation_id: str | None = None


def _get_engine(request: Request) -> Engine:
    global _engine
    engine = getattr(request.app.state, "engine", None)
    if engine is not None:
        return engine
    if _engine is None:
        _engine = Engine.load("default")
    return _engine


def _write_request(body: WriteBody) -> WriteRequest:
    """The run's settings; the cloud URL stays the server's (a differing `cloud_url` is refused)."""
    if body.cloud_url is not None and not _is_configured(body.cloud_url):
        raise InvalidRequestError(
            "cloud_url cannot be chosen by a request: this server sends only to the cloud endpoint it was "
            "started with (EDGESPLIT_CLOUD_URL of `edgesplit serve`); leave cloud_url out of the request")
    return WriteRequest(**(body.model_dump() | {"cloud_url": None}))


def _is_configured(url: str) -> bool:
    try:
        configured = CloudConfig.from_env(None)
        return configured is not None and CloudConfig(url=url).base == configured.base
    except CloudError:
        return False


def _run(request: Request, req: WriteRequest) -> dict:
    with _lock:  # one generation at a time on a shared engine
        engine = _get_engine(request)
        return write(engine, req).to_dict()


@router.post("/write")
async def write_route(request: Request, body: WriteBody) -> dict:
    """Write with private context kept local; cloud trouble is reported in the result."""
    return await run_in_threadpool(_run, request, _write_request(body))
