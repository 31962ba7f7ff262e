"""The local HTTP server: an OpenAI-compatible API, app routes and a web UI.

    from edge.server import create_app
    app = create_app(models=["default"])

`edgesplit serve` runs it under uvicorn. See `app.py` (factory), `openai_api.py` (the API),
`workers.py` (one worker thread and bounded queue per model), `apps.py` (the app registry and its
contract), `security.py` (token, size limit) and `static/` (the web UI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(*args, **kwargs) -> FastAPI:
    """Build the FastAPI app; see `edge.server.app.create_app` for the arguments."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
