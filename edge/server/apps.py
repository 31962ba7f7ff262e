"""The app registry: API routes and web pages that other packages add to the server.

Contract for an app module (e.g. `apps/health/server.py`):

- `router`: a FastAPI `APIRouter`. The server mounts it under `/v1/apps/<name>`, so a route
  declared as `@router.get("/summary")` is served at `GET /v1/apps/<name>/summary`. It is behind
  the same bearer token, body limit and metrics as the rest of the API. Raise `EdgeError`
  subclasses for problems the user can fix: the server turns them into OpenAI-style errors.
- `MAX_BODY_BYTES` (optional int): a larger request-body limit for this app's routes (e.g. health
  imports of wearable exports); the server-wide limit applies otherwise.
- `PAGE` (optional): the path (str or Path) of an `.html` file. The web UI lists the app in its
  nav and serves the page at `/apps/<name>/`; other files beside it (scripts, styles) are served
  at `/apps/<name>/<file>`, so the page can link them relatively (`<script src="app.js">`). A page
  calls its API with `fetch("/v1/apps/<name>/...")`, adding `Authorization: Bearer` +
  `localStorage.getItem("edgesplit-token")` when the server has a token.

Modules import only when the server starts (`edge` never imports `apps` at import time). A module
that is not installed is skipped and its nav entry shows a "not installed" page; one that fails
to import is logged and shown the same way, with the error. The server never crashes over an app.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI

log = logging.getLogger("edgesplit.server")

APP_ROUTERS: dict[str, str] = {
    "health": "apps.health.server",
    "agent": "apps.gui_agent.server",
    "cogenesis": "apps.cogenesis.server",
    "ledger": "cloud_bridge.server",
    "bench": "edge.bench_server",
}

APP_TITLES: dict[str, str] = {
    "health": "Health dashboard",
    "agent": "Agent runs",
    "cogenesis": "CoGenesis",
    "ledger": "Privacy ledger",
    "bench": "Bench charts",
}


@dataclass
class AppEntry:
    name: str
    module: str
    title: str
    router: APIRouter | None = None
    page: Path | None = None
    error: str | None = None
    max_body_bytes: int | None = None

    @property
    def installed(self) -> bool:
        return self.router is not None

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "module": self.module, "installed": self.installed,
                "page": f"/apps/{self.name}/", "has_page": self.page is not None,
                "api": f"/v1/apps/{self.name}" if self.installed else None, "error": self.error}


def module_exists(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a missing parent is fine)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_app(name: str, module: str) -> AppEntry:
    entry = AppEntry(name, module, APP_TITLES.get(name, name.replace("_", " ").capitalize()))
    if not module_exists(module):
        return entry
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # someone else's module: report it, keep serving
        log.warning("app %s (%s) failed to import: %s", name, module, exc)
        entry.error = f"{module} failed to import: {type(exc).__name__}: {exc}"
        return entry
    router = getattr(mod, "router", None)
    if not isinstance(router, APIRouter):
        entry.error = f"{module} has no `router` (a FastAPI APIRouter)"
        return entry
    entry.router = router
    limit = getattr(mod, "MAX_BODY_BYTES", None)
    if isinstance(limit, int) and limit > 0:
        entry.max_body_bytes = limit
    page = getattr(mod, "PAGE", None)
    if page is not None:
        path = Path(page)
        if path.is_file():
            entry.page = path.resolve()
        else:
            entry.error = f"{module}.PAGE points to {path}, which is not a file"
    return entry


def load_apps(registry: Mapping[str, str] | None = None) -> list[AppEntry]:
    return [load_app(name, module) for name, module in (APP_ROUTERS if registry is None else registry).items()]


def mount_apps(app: FastAPI, entries: list[AppEntry]) -> None:
    for entry in entries:
        if entry.router is None:
            continue
        try:
            app.include_router(entry.router, prefix=f"/v1/apps/{entry.name}", tags=[f"app: {entry.name}"])
        except Exception as exc:  # e.g. a route path FastAPI rejects
            log.warning("app %s could not be mounted: %s", entry.name, exc)
            entry.router, entry.error = None, f"could not be mounted: {exc}"
