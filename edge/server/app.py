"""The app factory: `create_app(...)` builds the FastAPI application `edgesplit serve` runs.

    from edge.server import create_app
    app = create_app(models=["default"], token=None)      # then: uvicorn.run(app, port=8080)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..engine import Engine
from ..errors import EdgeError
from . import openai_api, ui
from .apps import load_apps, mount_apps
from .errors import InternalServerError, edge_error_body, error_body
from .metrics import Metrics
from .security import BearerAuthMiddleware, BodyLimitMiddleware, MetricsMiddleware
from .settings import ServerState, Settings
from .workers import ClientDisconnected, Loader, ModelPool, load_engine

log = logging.getLogger("edgesplit.server")
PUBLIC_PREFIXES = ("/static/", "/apps/")
PUBLIC_PATHS = {"/", "/health", "/favicon.ico"}


def is_public(path: str) -> bool:
    """Paths served without the bearer token: the UI shell and liveness (no model data)."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def create_app(models: Sequence[str] = ("default",), profile: str | None = None, token: str | None = None, *,
               max_queue: int = 16, timeout: float = 300.0, max_body_bytes: int = 1 << 20,
               cors_origins: Sequence[str] = (), max_tokens_limit: int = 4096,
               threads: int | None = None, apps: Mapping[str, str] | None = None, preload: bool = False,
               loader: Loader = load_engine, engines: Mapping[str, Engine] | None = None,
               max_loaded: int = 3) -> FastAPI:
    """Build the server app.

    `models`: references served by name (the first is the default); bundles in
    $EDGESPLIT_HOME/models are served too. Each loads on first use (`preload` loads the default
    now, so a bad model or profile fails here). `max_queue` requests may wait per model beyond
    the running one; more get 429. `timeout` bounds a whole request (queue wait included).
    `threads` overrides the CPU threads of every model (default: the profile's or the cores).
    `max_loaded` models stay loaded at most (0: no limit): loading one more first unloads the
    least recently used idle one.
    `apps` replaces the app registry (`edge.server.apps.APP_ROUTERS`). `engines` serves Engines
    the caller already loaded, by name, ahead of `models`; the server never closes them.
    """
    settings = Settings(models=tuple(models), profile=profile, token=token or None, max_queue=max_queue,
                        timeout_s=timeout, max_body_bytes=max_body_bytes, cors_origins=tuple(cors_origins),
                        max_tokens_limit=max_tokens_limit, max_loaded=max_loaded)
    pool = ModelPool(settings.models, profile, max_queue, threads, loader, engines, max_loaded=max_loaded)
    if preload:
        pool.worker(None).ensure_loaded()
    state = ServerState(settings, pool, Metrics(), load_apps(apps))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(pool.close)

    app = FastAPI(title="edgesplit", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible local server for small language models.")
    app.state.edge = state
    app.include_router(openai_api.router)
    app.include_router(ui.router)
    mount_apps(app, state.apps)
    app.mount("/static", StaticFiles(directory=ui.STATIC), name="static")
    _install_error_handlers(app)
    _install_middleware(app, settings, state.metrics, state.apps)
    return app


def _install_middleware(app: FastAPI, settings: Settings, metrics: Metrics, apps: list) -> None:
    # the last added runs first: CORS -> metrics -> token -> body limit -> routes
    per_app = {f"/v1/apps/{a.name}": a.max_body_bytes for a in apps if a.max_body_bytes}
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, per_prefix=per_app)
    if settings.token:
        app.add_middleware(BearerAuthMiddleware, token=settings.token, is_public=is_public)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"])


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EdgeError)
    async def edge_error(_: Request, exc: EdgeError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.http_status == 429 else None
        return JSONResponse(edge_error_body(exc), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(exc), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind, message = "invalid_request_error", str(exc.detail)
        if exc.status_code == 404:
            kind, message = "not_found", f"no route {request.method} {request.url.path}; see /openapi.json"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /openapi.json"
        return JSONResponse(error_body(message, kind), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnected)
    async def gone(_: Request, __: ClientDisconnected) -> Response:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        err = InternalServerError(f"internal error: {type(exc).__name__}; see the server log")
        return JSONResponse(edge_error_body(err), status_code=500)


def _validation_body(exc: RequestValidationError) -> dict:
    """One OpenAI error from pydantic's list: the first field at fault, all its union branches' reasons."""
    errors = exc.errors()
    if not errors:
        return error_body("invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_body(f"the request body is not valid JSON: {first.get('msg')}")
    locs = [[str(p) for p in e.get("loc", ()) if p != "body"] for e in errors]
    common = locs[0]
    for loc in locs[1:]:  # a union reports one error per branch (`stop.str`, `stop.list[str]`)
        n = next((i for i, (a, b) in enumerate(zip(common, loc, strict=False)) if a != b), min(len(common), len(loc)))
        common = common[:n] or common
    same = [e for e, loc in zip(errors, locs, strict=True) if loc[: len(common)] == common]
    param = ".".join(common) or None
    if first.get("type") == "missing" and not param:
        return error_body("the request needs a JSON object body")
    reasons = " or ".join(dict.fromkeys(str(e.get("msg")) for e in same))
    return error_body(f"{param + ': ' if param else ''}{reasons}", param=param)
