"""HTTP routes of the GUI agent, mounted by the edgesplit server at /v1/apps/agent.

    GET  /apps            the shipped apps
    GET  /apps/{app}/doc  an app's documentation
    POST /exec            {"app", "script"}: run a script in the sandbox (a worker process)
    POST /run             {"app", "task", "constrain", "model"}: generate, execute, repair
    GET  /                the page (PAGE) showing the script and each action taken

/run generates on the server's own model (`model`, else the server's default) through
`run_on_model`: its queue (429), `--timeout` (504), metrics and cancellation apply.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.server.app_models import run_on_model

from .agent import execute, solve
from .sim import APPS, app_doc, check_app

PAGE = Path(__file__).parent / "static" / "agent.html"
router = APIRouter()


class ExecRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str
    script: str = Field(max_length=8000)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str
    task: str = Field(min_length=1, max_length=500)
    constrain: bool = True
    model: str | None = Field(default=None, max_length=500)


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
    # a plain def runs on the thread pool, which only waits here: the script runs in a worker process
    env, result = execute(body.app, body.script)
    return {"app": body.app, "ok": result.ok, "error": result.error_dict(), "output": result.output,
            "script": body.script, "actions": [a.to_dict() for a in env.log], "state": env.state}


@router.post("/run")
async def run_task(body: RunRequest, request: Request) -> dict:
    check_app(body.app)
    run = await run_on_model(request, lambda engine: solve(engine, body.app, body.task, constrain=body.constrain),
                             model=body.model)
    return run.to_dict()
