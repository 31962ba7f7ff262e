"""The outbound ledger: an append-only, hash-chained log of every byte sent off the device.

File `$EDGESPLIT_HOME/ledger.jsonl`, one JSON object per line:

    {"seq": 0, "ts": "2026-11-23T12:00:00.123456+00:00", "endpoint": "https://host/v1/chat/completions",
     "method": "POST", "purpose": "cogenesis sketch: outline request", "body": "<exact request body>",
     "body_sha256": "...", "prev": "000...0", "hash": "..."}

`body` is the request body decoded as UTF-8 when it is valid UTF-8 (so `body.encode("utf-8")` gives
the exact bytes), else `body_b64` holds it in base64. `hash` = sha256 of the entry's canonical
JSON (sorted keys, no spaces, without `hash`); `prev` is the previous entry's hash (64 zeros for
the first). A head file `ledger.head` keeps the last seq and hash, so deleting the newest entries
is caught too. `verify` reports an edited entry (hash mismatch), a deleted or reordered entry (seq
gap, broken `prev` link) and a truncated tail (head mismatch). Appends take an exclusive lock.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .errors import LedgerError

GENESIS = "0" * 64


def canonical(entry: dict) -> bytes:
    return json.dumps({k: v for k, v in entry.items() if k != "hash"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def body_bytes(entry: dict) -> bytes:
    """The exact bytes an entry says were sent."""
    if "body_b64" in entry:
        return base64.b64decode(entry["body_b64"])
    return entry.get("body", "").encode("utf-8")


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "problems": self.problems}


class Ledger:
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from edge.models import edgesplit_home

            path = edgesplit_home() / "ledger.jsonl"
        self.path = Path(path)
        self.head_path = self.path.with_suffix(".head")

    def append(self, endpoint: str, body: bytes, purpose: str, method: str = "POST") -> dict:
        """Record `body` as about to be sent to `endpoint`; return the entry (call BEFORE sending)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.path, "a+", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    entry = self._next_entry(fh, endpoint, body, purpose, method)
                    fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                    self.head_path.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            raise LedgerError(f"cannot write the outbound ledger {self.path}: {exc.strerror}; nothing was sent") from None
        return entry

    def _next_entry(self, fh, endpoint: str, body: bytes, purpose: str, method: str) -> dict:
        fh.seek(0)
        last = None
        for line in fh:
            if line.strip():
                last = line
        prev = json.loads(last) if last else None
        entry: dict = {"seq": prev["seq"] + 1 if prev else 0, "ts": datetime.now(UTC).isoformat(),
                       "endpoint": endpoint, "method": method, "purpose": purpose,
                       "body_sha256": hashlib.sha256(body).hexdigest(), "prev": prev["hash"] if prev else GENESIS}
        try:
            entry["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_b64"] = base64.b64encode(body).decode("ascii")
        entry["hash"] = entry_hash(entry)
        return entry

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"_unparsable_line": n})
        return out

    def verify(self) -> VerifyReport:
        entries = self.entries()
        problems: list[str] = []
        prev_hash = GENESIS
        for i, e in enumerate(entries):
            if "_unparsable_line" in e:
                problems.append(f"line {e['_unparsable_line']}: not valid JSON (edited)")
                prev_hash = None
                continue
            problems += _check_entry(i, e, prev_hash)
            prev_hash = e.get("hash")
        problems += self._check_head(entries)
        return VerifyReport(not problems, len(entries), problems)

    def _check_head(self, entries: list[dict]) -> list[str]:
        if not self.head_path.exists():
            return ["ledger.head is missing but the ledger has entries"] if entries else []
        try:
            head = json.loads(self.head_path.read_text())
        except json.JSONDecodeError:
            return ["ledger.head is not valid JSON"]
        last = entries[-1] if entries else {}
        if head.get("seq") != last.get("seq") or head.get("hash") != last.get("hash"):
            return [f"the ledger ends at seq {last.get('seq')} but its head says seq {head.get('seq')}: "
                    "entries were removed from the end or appended by hand"]
        return []


def _check_entry(i: int, e: dict, prev_hash: str | None) -> list[str]:
    problems = []
    if e.get("seq") != i:
        problems.append(f"entry {i}: seq is {e.get('seq')} (an entry was deleted, inserted or moved)")
    if prev_hash is not None and e.get("prev") != prev_hash:
        problems.append(f"entry {i}: prev does not match the hash of entry {i - 1} (chain broken)")
    if e.get("hash") != entry_hash(e):
        problems.append(f"entry {i}: hash does not match its content (entry edited)")
    elif hashlib.sha256(body_bytes(e)).hexdigest() != e.get("body_sha256"):
        problems.append(f"entry {i}: body does not match body_sha256")
    return problems
