"""HTTP routes of the health app, mounted by the edgesplit server under `/v1/apps/health`.

    POST /import?filename=export.zip[&format=apple&tz=...]   body: the export file's bytes
         -> {"summary": {...}, "days": [...]}
    POST /assess?filename=...[&model=true&seed=0]            body: the export file's bytes -> the report
    GET  /demo?days=42[&model=false]                          a report on SYNTHETIC data
`PAGE` is the dashboard (plain HTML/JS/SVG, no network beyond these routes). Uploads are streamed
to a temporary file that is deleted after the request; nothing is kept on the server.
"""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from edge import EdgeError, Engine

from .importers import import_file
from .report import build_report
from .schema import ImportResult

PAGE = Path(__file__).parent / "static" / "dashboard.html"
# wearable exports run to hundreds of MB (Apple Health); the server-wide 1 MiB limit is for chat
MAX_BODY_BYTES = 512 << 20
MAX_UPLOAD = 2 << 30
router = APIRouter(tags=["health"])
_lock = threading.Lock()  # one generation at a time on the shared engine
_engine: Engine | None = None


def _get_engine(request: Request) -> Engine:
    global _engine
    shared = getattr(request.app.state, "engine", None)
    if isinstance(shared, Engine):
        return shared
    if _engine is None:
        _engine = Engine.load("default")
    return _engine


def _error(exc: EdgeError) -> JSONResponse:
    return JSONResponse({"error": {"message": str(exc), "type": exc.kind}}, status_code=exc.http_status)


async def _receive(request: Request, filename: str, tmp: str) -> Path:
    suffix = "".join(Path(filename).suffixes[-1:]).lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}|", suffix):
        raise EdgeError(f"unexpected file name {filename!r}: give filename=export.zip, .xml, .db, .csv or .json")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(filename).stem)[:40] or "upload"
    path, size = Path(tmp) / f"{stem}{suffix}", 0
    with path.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise EdgeError("the upload is over 2 GiB: trim the export or import it with the CLI")
            fh.write(chunk)
    if size == 0:
        raise EdgeError("the request body is empty: send the export file's bytes")
    return path


def _days(result: ImportResult) -> dict:
    return {"summary": result.summary(), "days": [d.to_json() for d in result.days]}


@router.post("/import")
async def import_route(request: Request, filename: str = "export.xml", format: str | None = None,
                       tz: str | None = None):
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = await _receive(request, filename, tmp)
            result = await run_in_threadpool(import_file, path, format, tz)
        return _days(result)
    except EdgeError as exc:
        return _error(exc)


def _report(request: Request, result: ImportResult, model: bool, seed: int) -> dict:
    if not model:
        return build_report(result, None, seed)
    with _lock:
        return build_report(result, _get_engine(request), seed)


@router.post("/assess")
async def assess_route(request: Request, filename: str = "export.xml", format: str | None = None,
                       tz: str | None = None, model: bool = True, seed: int = 0):
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = await _receive(request, filename, tmp)
            result = await run_in_threadpool(import_file, path, format, tz)
        return await run_in_threadpool(_report, request, result, model, seed)
    except EdgeError as exc:
        return _error(exc)


@router.get("/demo")
async def demo_route(request: Request, days: int = 42, model: bool = False, seed: int = 0):
    from .synth import generate
    from .synth_formats import write_csv

    try:
        with tempfile.TemporaryDirectory() as tmp:
            history, _ = generate(days, seed=seed)
            result = await run_in_threadpool(import_file, write_csv(Path(tmp) / "demo.csv", history), "csv")
        report = await run_in_threadpool(_report, request, result, model, seed)
        return {**report, "synthetic": True}
    except EdgeError as exc:
        return _error(exc)
