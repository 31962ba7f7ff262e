"""A small app module following the app contract (router + PAGE), for the registry tests."""

from pathlib import Path

from fastapi import APIRouter

from edge.errors import InvalidRequestError

router = APIRouter()
PAGE = Path(__file__).with_name("demo_page") / "index.html"


@router.get("/ping")
async def ping() -> dict:
    return {"pong": True}


@router.get("/fail")
async def fail() -> dict:
    raise InvalidRequestError("demo app: this route always refuses")
