"""Service routes (`/health`, `/metrics`, `/v1/apps`) and the web UI (`/`, `/apps/<name>/`)."""

from __future__ import annotations

import html
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse

from .. import __version__
from ..errors import EdgeError
from .apps import AppEntry
from .settings import ServerState, state_of

STATIC = Path(__file__).with_name("static")
router = APIRouter()


class AppNotFoundError(EdgeError):
    http_status = 404
    kind = "not_found"


@router.get("/health", tags=["service"])
async def health(request: Request) -> dict:
    """Liveness plus what is served: the default model, profile and each model's queue."""
    st = state_of(request)
    models = st.pool.status()
    return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - st.started, 1),
            "default_model": st.pool.default, "profile": _profile_name(st), "models": models,
            "max_queue": st.settings.max_queue, "max_loaded": st.settings.max_loaded, "timeout_s": st.settings.timeout_s,
            "auth": st.settings.token is not None}


def _profile_name(st: ServerState) -> str | None:
    loaded = [m["profile"] for m in st.pool.status() if m["profile"]]
    return loaded[0] if loaded else st.settings.profile


@router.get("/metrics", tags=["service"], response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: requests, tokens, latency and time-to-first-token histograms."""
    st = state_of(request)
    with st.metrics.lock:
        for w in st.pool.workers():
            st.metrics.queue_depth.set((w.name,), w.depth)
            st.metrics.loaded.set((w.name,), 1 if w.engine is not None else 0)
    return PlainTextResponse(st.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/apps", tags=["service"])
async def list_apps(request: Request) -> dict:
    """The registered apps: installed or not, their API prefix and web page."""
    return {"object": "list", "data": [a.describe() for a in state_of(request).apps]}


# -- web UI ----------------------------------------------------------------------------------------
@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/apps/{name}", include_in_schema=False)
async def app_page_redirect(name: str) -> RedirectResponse:
    return RedirectResponse(f"/apps/{name}/", status_code=308)


@router.get("/apps/{name}/", include_in_schema=False, response_model=None)
async def app_page(name: str, request: Request) -> FileResponse | HTMLResponse:
    entry = _entry(request, name)
    if entry.page is not None:
        return FileResponse(entry.page, headers={"Cache-Control": "no-cache"})
    return HTMLResponse(_placeholder(entry), status_code=200)


@router.get("/apps/{name}/{file:path}", include_in_schema=False)
async def app_asset(name: str, file: str, request: Request) -> FileResponse:
    entry = _entry(request, name)
    if entry.page is None:
        raise AppNotFoundError(f"app {name!r} has no page installed")
    root = entry.page.parent
    path = (root / file).resolve()
    if not path.is_relative_to(root) or not path.is_file():  # no escaping the page's folder
        raise AppNotFoundError(f"no file {file!r} in app {name!r}")
    return FileResponse(path)


def _entry(request: Request, name: str) -> AppEntry:
    for entry in state_of(request).apps:
        if entry.name == name:
            return entry
    raise AppNotFoundError(f"no app named {name!r}; GET /v1/apps lists them")


def _placeholder(entry: AppEntry) -> str:
    template = (STATIC / "placeholder.html").read_text()
    if entry.installed:
        reason = "is installed but has no web page (its API is under " \
                 f"<code>/v1/apps/{html.escape(entry.name)}</code>)."
    elif entry.error:
        reason = "could not be loaded (see the server log)."
    else:
        reason = f"is not installed: the module <code>{html.escape(entry.module)}</code> is absent."
    if entry.error:
        reason += f"<br><small>{html.escape(entry.error)}</small>"
    return template.replace("{{title}}", html.escape(entry.title)).replace("{{reason}}", reason)
