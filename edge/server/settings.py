"""Server settings and the state the routes share (`request.app.state.edge`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from .apps import AppEntry
from .metrics import Metrics
from .workers import ModelPool


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ("default",)
    profile: str | None = None
    token: str | None = None
    max_queue: int = 16  # requests waiting per model, beyond the one running
    timeout_s: float = 300.0  # whole request: queue wait + generation
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()
    max_tokens_limit: int = 4096  # the most tokens one request may generate (larger asks are clamped)
    completion_default_tokens: int = 16  # /v1/completions default, as OpenAI's
    max_loaded: int = 3  # models kept loaded at once (0: no limit); as Ollama's CPU default


@dataclass
class ServerState:
    settings: Settings
    pool: ModelPool
    metrics: Metrics
    apps: list[AppEntry] = field(default_factory=list)
    started: float = field(default_factory=time.time)


def state_of(request: Request) -> ServerState:
    return request.app.state.edge
