"""HTTP routes of the GUI agent, mounted by the edgesplit server at /v1/apps/agent.

    GET  /apps            the shipped apps
    GET  /apps/{app}/doc  an app's documentation
    POST /exec            {"app", "script"}: run a script in the sandbox
    POST /run             {"app", "task", "constrain"}: generate, execute, repair
    GET  /                the page (PAGE) showing the script and each action taken

The engine comes from `request.app.state.engine` when the server set one, else the default
model is loaded once on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from .agent import execute, solve
from .sim import APPS, app_doc, check_app

PAGE = Path(__file__).parent / "static" / "agent.html"
router = APIRouter()
_engine_lock = threading.Lock()
_engine = None


class ExecRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str
    script: str = Field(max_length=8000)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str
    task: str = Field(min_length=1, max_length=500)
    constrain: bool = True


def _get_engine(request: Request):
    engine = getattr(request.app.state, "engine", None)
    if engine is not None:
        return engine
    global _engine
    with _engine_lock:
        if _engine is None:
            from edge import Engine

            _engine = Engine.load("default")
        return _engine


@router.get("/")
def page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")


@router.get("/apps")
def list_apps() -> dict:
    return {"apps": [{"app": n, "description": app_doc(n).description,
                      "screens": [s.name for s in app_doc(n).screens]} for n in APPS]}


@router.get("/apps/{app}/doc")
def get_doc(app: str) -> dict:
    return app_doc(app).model_dump()


@router.post("/exec")
def exec_script(body: ExecRequest) -> dict:
    check_app(body.app)
    env, result = execute(body.app, body.script)
    return {"app": body.app, "ok": result.ok, "error": result.error_dict(), "output": result.output,
            "script": body.script, "actions": [a.to_dict() for a in env.log], "state": env.state}


@router.post("/run")
def run_task(body: RunRequest, request: Request) -> dict:
    check_app(body.app)
    engine = _get_engine(request)
    with _engine_lock:  # one generation at a time on the shared engine
        run = solve(engine, body.app, body.task, constrain=body.constrain)
    return run.to_dict()
