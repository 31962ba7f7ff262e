"""An app that runs model work through the server (`run_on_model`), for the app-model tests."""

import threading

from fastapi import APIRouter, Request
from pydantic import BaseModel

from edge.server.app_models import run_on_model

router = APIRouter()
# /hold keeps the model's worker busy until a test sets `release`
holding = threading.Event()
release = threading.Event()


class GenBody(BaseModel):
    prompt: str = "The capital of France is"
    model: str | None = None
    max_tokens: int = 4


@router.post("/generate")
async def generate(body: GenBody, request: Request) -> dict:
    def work(engine):
        result = engine.generate(body.prompt, max_tokens=body.max_tokens, temperature=0.0)
        return {"model": engine.name, "path": str(engine.ref.path), "threads": engine.options.threads,
                "text": result.text, "completion_tokens": result.completion_tokens}

    return await run_on_model(request, work, model=body.model)


@router.post("/hold")
async def hold_model(request: Request, model: str | None = None) -> dict:
    def work(engine):
        holding.set()
        release.wait(60)
        return {"model": engine.name}

    return await run_on_model(request, work, model=model)
