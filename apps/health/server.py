"""HTTP routes of the health app, mounted by the edgesplit server under `/v1/apps/health`.

    POST /import?filename=export.zip[&format=apple&tz=...]   body: the export file's bytes
         -> {"summary": {...}, "days": [...]}
    POST /assess?filename=...[&use_model=true&model=NAME&seed=0]   body: the export file's bytes -> the report
    GET  /demo?days=42[&use_model=false]                      a report on SYNTHETIC data
`model` names one of the server's models (default: the server's default); the model work runs on
that model's worker (`edge.server.app_models.run_on_model`: its queue, timeout and cancellation).
`PAGE` is the dashboard (plain HTML/JS/SVG, no network beyond these routes). Uploads are streamed
to a temporary file that is deleted after the request; nothing is kept on the server.

Limits: a body up to `MAX_BODY_BYTES` (a heavy user's Apple export.zip is 100-300 MB) streams to
disk chunk by chunk (the server's body limit counts it without buffering it), and at most
`MAX_IMPORTS` uploads are in flight (more get 429), so a burst costs at most
MAX_IMPORTS x 512 MiB of disk and MAX_IMPORTS x `importers.limits.MAX_BYTES` of accumulator memory;
the importers bound parsing (no entity expansion, zip-bomb and per-record checks).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from edge import EdgeError
from edge.server.app_models import run_on_model
from edge.server.errors import PayloadTooLargeError, QueueFullError

from .importers import import_file
from .report import build_report
from .schema import ImportResult

PAGE = Path(__file__).parent / "static" / "dashboard.html"
# wearable exports run to hundreds of MB (Apple Health); the server-wide 1 MiB limit is for chat
MAX_BODY_BYTES = 512 << 20
MAX_IMPORTS = 2  # uploads streaming or being parsed at once
DISK_MARGIN = 256 << 20  # free space to leave on the temporary disk
_active = 0  # uploads in flight; touched only on the event loop
router = APIRouter(tags=["health"])
def _error(exc: EdgeError) -> JSONResponse:
    return JSONResponse({"error": {"message": str(exc), "type": exc.kind}}, status_code=exc.http_status)


async def _receive(request: Request, filename: str, tmp: str) -> Path:
    length = request.headers.get("content-length", "")
    needed = (int(length) if length.isdigit() else MAX_BODY_BYTES) + DISK_MARGIN
    if shutil.disk_usage(tmp).free < needed:
        raise PayloadTooLargeError(f"not enough free disk space for this upload ({needed >> 20} MiB needed): "
                                  "import it with the CLI, or free space")
    suffix = "".join(Path(filename).suffixes[-1:]).lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}|", suffix):
        raise EdgeError(f"unexpected file name {filename!r}: give filename=export.zip, .xml, .db, .csv or .json")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(filename).stem)[:40] or "upload"
    path, size = Path(tmp) / f"{stem}{suffix}", 0
    with path.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PayloadTooLargeError(f"the upload is over {MAX_BODY_BYTES >> 20} MiB: export a shorter "
                                          "period, or import it with the CLI (`edgesplit health import`)")
            fh.write(chunk)
    if size == 0:
        raise EdgeError("the request body is empty: send the export file's bytes")
    return path


@asynccontextmanager
async def _upload_slot() -> AsyncIterator[None]:
    global _active
    if _active >= MAX_IMPORTS:
        raise QueueFullError(f"{MAX_IMPORTS} health uploads are already being imported: retry in a moment")
    _active += 1
    try:
        yield
    finally:
        _active -= 1


async def _import(request: Request, filename: str, fmt: str | None, tz: str | None) -> ImportResult:
    """Stream the body to a temporary file and import it there (the file is gone afterwards)."""
    async with _upload_slot():
        with tempfile.TemporaryDirectory() as tmp:
            path = await _receive(request, filename, tmp)
            return await run_in_threadpool(import_file, path, fmt, tz)


def _days(result: ImportResult) -> dict:
    return {"summary": result.summary(), "days": [d.to_json() for d in result.days]}


@router.post("/import")
async def import_route(request: Request, filename: str = "export.xml", format: str | None = None,
                       tz: str | None = None):
    try:
        return _days(await _import(request, filename, format, tz))
    except EdgeError as exc:
        return _error(exc)


async def _report(request: Request, result: ImportResult, use_model: bool, model: str | None, seed: int) -> dict:
    if not use_model:
        return await run_in_threadpool(build_report, result, None, seed)
    return await run_on_model(request, lambda engine: build_report(result, engine, seed), model=model)


@router.post("/assess")
async def assess_route(request: Request, filename: str = "export.xml", format: str | None = None,
                       tz: str | None = None, use_model: bool = True, model: str | None = None, seed: int = 0):
    try:
        result = await _import(request, filename, format, tz)
        return await _report(request, result, use_model, model, seed)
    except EdgeError as exc:
        return _error(exc)


@router.get("/demo")
async def demo_route(request: Request, days: int = 42, use_model: bool = False, model: str | None = None,
                     seed: int = 0):
    from .synth import generate
    from .synth_formats import write_csv

    try:
        with tempfile.TemporaryDirectory() as tmp:
            history, _ = generate(days, seed=seed)
            result = await run_in_threadpool(import_file, write_csv(Path(tmp) / "demo.csv", history), "csv")
        report = await _report(request, result, use_model, model, seed)
        return {**report, "synthetic": True}
    except EdgeError as exc:
        return _error(exc)
