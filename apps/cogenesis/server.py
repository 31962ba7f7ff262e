"""HTTP route of the CoGenesis app, mounted at /v1/apps/cogenesis by the edgesplit server.

POST /write {instruction, context, mode, model?, max_tokens?, ...} -> the CollabResult.
The local model is one of the server's own (`model`, else the server's default), run on its worker
through `run_on_model`: the same queue (429), `--timeout` (504), metrics and cancellation as a
chat request, and the model in memory once.
The cloud endpoint is the server's own configuration (`EDGESPLIT_CLOUD_URL` of the `edgesplit
serve` process), never a request's: any page that reaches the server could otherwise make it send
data (and the API key) anywhere. A request naming another `cloud_url` gets 400.
`PAGE` is a small form for the web UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.client import CloudConfig
from cloud_bridge.errors import CloudError
from cloud_bridge.policies import Gate
from edge.errors import InvalidRequestError
from edge.server.app_models import run_on_model

from .service import WriteRequest, write

PAGE = Path(__file__).with_name("static") / "index.html"
router = APIRouter(tags=["cogenesis"])


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1)
    context: str = ""
    mode: Literal["off", "sketch", "logits"] = "sketch"
    model: str | None = Field(default=None, description="A model the server serves; default: its default model.")
    cloud_url: str | None = Field(default=None, description="Only the server's configured URL is accepted.")
    cloud_model: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0, le=5)
    seed: int | None = None
    conversation_id: str | None = None
    gate_metric: Literal["entropy", "margin", "top1"] | None = Field(
        default=None, description="Logits mode: consult the cloud only where this local uncertainty reaches gate_threshold.")
    gate_threshold: float | None = Field(default=None, ge=0, le=100,
                                         description="top1/margin: 0..1; entropy: nats (default: the metric's own).")
    batch: int = Field(default=0, ge=0, le=64, description="Logits mode, temperature 0: tokens verified per cloud call.")
    draft: Literal["auto", "local", "cloud"] = Field(
        default="auto", description="Batched runs: drafted by the local model, the cloud, or whichever kept more per call.")


def _write_request(body: WriteBody) -> WriteRequest:
    """The run's settings; the cloud URL stays the server's (a differing `cloud_url` is refused)."""
    if body.cloud_url is not None and not _is_configured(body.cloud_url):
        raise InvalidRequestError(
            "cloud_url cannot be chosen by a request: this server sends only to the cloud endpoint it was "
            "started with (EDGESPLIT_CLOUD_URL of `edgesplit serve`); leave cloud_url out of the request")
    gate = Gate(body.gate_metric, body.gate_threshold) if body.gate_metric else None
    fields = body.model_dump(exclude={"model", "gate_metric", "gate_threshold"})
    return WriteRequest(**(fields | {"cloud_url": None, "gate": gate}))


def _is_configured(url: str) -> bool:
    try:
        configured = CloudConfig.from_env(None)
        return configured is not None and CloudConfig(url=url).base == configured.base
    except CloudError:
        return False


@router.post("/write")
async def write_route(request: Request, body: WriteBody) -> dict:
    """Write with private context kept local; cloud trouble is reported in the result."""
    req = _write_request(body)
    result = await run_on_model(request, lambda engine: write(engine, req), model=body.model)
    return result.to_dict()
