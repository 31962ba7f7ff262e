"""Builds a CoGenesis run from user-facing settings (CLI flags, HTTP request fields)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.client import CloudClient, CloudConfig, Policy
from cloud_bridge.cogenesis import CoGenesis, CollabOptions, CollabResult
from cloud_bridge.entities import load_profile
from cloud_bridge.errors import CloudError
from cloud_bridge.fusion import Schedule
from cloud_bridge.pii import Detector
from cloud_bridge.policies import Gate
from cloud_bridge.vault import Vault
from edge import Engine


@dataclass
class WriteRequest:
    instruction: str
    context: str = ""
    mode: str = "sketch"
    cloud_url: str | None = None
    cloud_model: str | None = None
    timeout: float = 30.0
    max_tokens: int = 256
    outline_tokens: int = 128
    temperature: float = 0.0
    seed: int | None = None
    conversation_id: str | None = None
    profile_file: Path | None = None
    schedule: Schedule | None = None
    gate: Gate | None = None  # logits mode: consult the cloud only where the local model is unsure
    batch: int = 0  # logits mode at temperature 0: verify runs of this many tokens per cloud call
    draft: str = "auto"  # who drafts a batched run: local, cloud, tree or auto (cloud_bridge.runs)


def _client(req: WriteRequest) -> tuple[CloudClient | None, str | None]:
    """The cloud client, or None and why (a bad URL is reported, not raised: we answer locally)."""
    if Policy(req.mode) is Policy.OFF:
        return None, None
    extra = {"model": req.cloud_model} if req.cloud_model else {}
    try:
        config = CloudConfig.from_env(req.cloud_url, timeout=req.timeout, **extra)
    except CloudError as exc:
        return None, str(exc)
    return (CloudClient(config) if config else None), None


def write(engine: Engine, req: WriteRequest) -> CollabResult:
    """Run one CoGenesis write; cloud trouble ends up in the result, never as an exception."""
    client, problem = _client(req)
    try:
        session = CoGenesis(engine, client, req.mode, Detector(known=load_profile(req.profile_file)),
                            Vault(), req.conversation_id)
        opts = CollabOptions(max_tokens=req.max_tokens, outline_tokens=req.outline_tokens,
                             temperature=req.temperature, seed=req.seed,
                             policy=req.gate or req.schedule or Schedule(), batch=req.batch,
                             draft=req.draft)
        result = session.write(req.instruction, req.context, opts)
    finally:
        if client is not None:
            client.close()
    if problem and not result.cloud_error:
        result.cloud_error = problem
    return result
