"""Web routes of the privacy split: the outbound ledger as JSON, and a page that shows it.

Mounted by the edgesplit server under an app prefix; `PAGE` is the static HTML page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query
from pydantic import BaseModel

from .entities import load_profile
from .ledger import Ledger
from .pii import Detector
from .pseudonym import Pseudonymizer

PAGE = Path(__file__).with_name("static") / "ledger.html"
router = APIRouter(tags=["privacy"])


@router.get("/ledger")
def ledger_entries(last: int | None = Query(default=None, ge=1)) -> dict:
    """The outbound ledger entries (oldest first) and whether the hash chain verifies."""
    led = Ledger()
    entries = led.entries()
    if last is not None:
        entries = entries[-last:]
    return {"entries": entries, "verify": led.verify().to_dict()}


@router.get("/ledger/verify")
def ledger_verify() -> dict:
    return Ledger().verify().to_dict()


class RedactRequest(BaseModel):
    text: str


@router.post("/redact")
def redact_text(req: RedactRequest) -> dict:
    """Preview the de-identified text (nothing is sent anywhere)."""
    pseud = Pseudonymizer(Detector(known=load_profile()))
    findings = pseud.detector.detect(req.text)
    return {"text": pseud.apply(req.text, findings), "findings": [f.to_dict() for f in findings]}
