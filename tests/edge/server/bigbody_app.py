"""A minimal app module for the registry tests: it takes bigger bodies than the server default."""

from fastapi import APIRouter, Request

MAX_BODY_BYTES = 64 * 1024
router = APIRouter()


@router.post("/size")
async def size(request: Request) -> dict:
    return {"bytes": len(await request.body())}
