"""The outbound ledger: an append-only, keyed log of every byte sent off the device.

File `$EDGESPLIT_HOME/ledger.jsonl`, one canonical JSON object per line (see `ledger_format`):

    {"body":"<exact request body>","body_sha256":"...","endpoint":"https://host/v1/chat/completions",
     "lid":"<ledger id>","mac":"...","method":"POST","prev":"<previous mac>","purpose":"...",
     "seq":0,"ts":"2026-11-23T12:00:00.123456+00:00","v":2}

`body` is the request body when it is valid UTF-8, else `body_b64` holds it in base64. `mac` is
HMAC-SHA256 under the device's ledger key (`keystore.KeyStore`) over everything else, `prev`
chains it to the entry before. `ledger.head` records the count and last MAC (itself MAC'd), and
the key store remembers the same per ledger, so an edited, forged, deleted, reordered or cut
entry, a recomputed chain without the key, and a ledger deleted outright all fail `verify`.
`append` verifies first and refuses (`LedgerDamagedError`, nothing sent) on any problem; appends
hold an exclusive lock on `ledger.jsonl.lock`. The head and the key store may lag the file by
one entry (an append interrupted before they were updated); the next append repairs them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .errors import LedgerDamagedError, LedgerError
from .keystore import KeyStore, Record, StateProblem
from .ledger_format import (
    ENTRY_DOMAIN,
    GENESIS,
    HEAD_DOMAIN,
    HEAD_FIELDS,
    UNKEYED,
    VERSION,
    body_bytes,
    encode_body,
    entry_problems,
    mac_ok,
    parse_object,
    shape_problem,
    signed_line,
    split_lines,
)
from .vault import write_private

__all__ = ["GENESIS", "Ledger", "VerifyReport", "body_bytes"]


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    keyed: bool = True  # False for an old ledger written without a key

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "keyed": self.keyed, "problems": self.problems}


@dataclass
class _Scan:
    """What `verify` found, plus what the next append needs (key, ledger id, last MAC)."""

    count: int = 0
    problems: list[str] = field(default_factory=list)
    keyed: bool = True
    key: bytes | None = None
    lid: str | None = None
    macs: list[str | None] = field(default_factory=list)

    @property
    def last(self) -> str:
        return (self.macs[-1] or GENESIS) if self.macs else GENESIS


@dataclass(frozen=True)
class _Verified:
    """A prefix of a ledger file that verified in this process: its length, digest and chain."""

    length: int
    digest: bytes
    key: bytes
    lid: str | None
    macs: list[str | None]


_VERIFIED: dict[str, _Verified] = {}  # resolved ledger path -> its verified prefix


class Ledger:
    def __init__(self, path: str | Path | None = None, keystore: KeyStore | None = None) -> None:
        if path is None:
            from edge.models import edgesplit_home

            path = edgesplit_home() / "ledger.jsonl"
        self.path = Path(path)
        self.head_path = self.path.with_suffix(".head")
        self.keystore = keystore or KeyStore()

    # -- writing ------------------------------------------------------------------------------
    def append(self, endpoint: str, body: bytes, purpose: str, method: str = "POST") -> dict:
        """Record `body` as about to be sent to `endpoint`; return the entry (call BEFORE sending).

        Raises LedgerDamagedError when the ledger fails verification, LedgerError when it cannot
        be written: in both cases the caller must not send."""
        try:
            with self._locked(exclusive=True):
                scan = self._scan()
                if scan.problems:
                    raise self.damaged(scan.problems)
                return self._write_entry(scan, endpoint, body, purpose, method)
        except OSError as exc:
            raise LedgerError(f"cannot write the outbound ledger {self.path}: {exc.strerror}; nothing was sent") from None

    def _write_entry(self, scan: _Scan, endpoint: str, body: bytes, purpose: str, method: str) -> dict:
        key = scan.key or self.keystore.create_key()
        lid = scan.lid or secrets.token_hex(8)
        entry = {"v": VERSION, "lid": lid, "seq": scan.count, "ts": datetime.now(UTC).isoformat(),
                 "endpoint": endpoint, "method": method, "purpose": purpose, **encode_body(body),
                 "body_sha256": hashlib.sha256(body).hexdigest(), "prev": scan.last}
        line = signed_line(key, ENTRY_DOMAIN, entry)
        with open(self.path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        entry = json.loads(line)
        record: Record = {"lid": lid, "count": scan.count + 1, "last": entry["mac"]}
        write_private(self.head_path, signed_line(key, HEAD_DOMAIN, {"v": VERSION, **record}))
        self.keystore.remember(key, self.path, record)
        return entry

    def reset(self) -> list[Path]:
        """Archive the ledger files (`<name>.<UTC time>.old`) and start a new keyed ledger here."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        kept = []
        with self._locked(exclusive=True):
            for p in (self.path, self.head_path):
                if p.exists():
                    kept.append(p.with_name(f"{p.name}.{stamp}.old"))
                    os.replace(p, kept[-1])
            try:
                key = self.keystore.key()
            except StateProblem:  # a lost key cannot vouch for anything: start over with a new one
                if not self.keystore.key_path.exists():
                    self.keystore.state_path.unlink(missing_ok=True)
                key = None
            key = key or self.keystore.create_key()
            self.keystore.remember(key, self.path, None)
        return kept

    # -- reading ------------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """Every line that parses as a JSON object, oldest first (damaged lines are left out)."""
        data = self._read(self.path, [])
        return [ln.entry for ln in split_lines(data or b"") if ln.entry is not None]

    def verify(self) -> VerifyReport:
        with self._locked(exclusive=False):
            scan = self._scan()
        return VerifyReport(not scan.problems, scan.count, scan.problems, scan.keyed)

    def damaged(self, problems: list[str]) -> LedgerDamagedError:
        flag = f" --file {self.path}" if self.path != Ledger(None).path else ""
        return LedgerDamagedError(
            f"the outbound ledger {self.path} fails verification, so nothing was sent: {problems[0]}"
            f"{f' (and {len(problems) - 1} more problem(s))' if len(problems) > 1 else ''}. See every problem "
            f"with `edgesplit ledger verify{flag}` and the entries with `edgesplit ledger show{flag}`; "
            f"then `edgesplit ledger reset{flag}` keeps the old files (*.old) and starts a new keyed ledger")

    def _scan(self) -> _Scan:
        scan = _Scan()
        data, head = self._read(self.path, scan.problems), self._read(self.head_path, scan.problems)
        record, record_ok = None, True
        try:
            scan.key = self.keystore.key()
            record = self.keystore.record(scan.key, self.path) if scan.key else None
        except StateProblem as exc:
            scan.problems.append(str(exc))
            record_ok = False
        if data is None and head is None:
            if record and record.get("count"):
                scan.problems.append(f"{self.path.name} and {self.head_path.name} are missing, but the key store "
                                     f"records a ledger of {record['count']} entries here: they were deleted")
            return scan
        self._scan_lines(scan, data or b"")
        if scan.keyed:
            scan.problems += self._head_problems(scan, head, data is not None)
            scan.problems += _record_problems(scan, record) if record_ok else []
        return scan

    def _scan_lines(self, scan: _Scan, data: bytes) -> None:
        offset = self._resume(scan, data)
        lines = split_lines(data[offset:], first=len(scan.macs) + 1)
        scan.count = len(scan.macs) + len(lines)
        if any(ln.problem == UNKEYED for ln in lines):
            scan.keyed = False
            scan.problems.append(f"{self.path}: {UNKEYED}")
            return
        if scan.key is None and lines and not scan.problems:
            scan.problems.append(f"there is no ledger key ({self.keystore.key_path}): this ledger cannot be "
                                 "authenticated (written on another device, or the key was deleted)")
        if scan.lid is None:
            firsts = [ln.entry.get("lid") for ln in lines if ln.entry]
            scan.lid = firsts[0] if firsts and isinstance(firsts[0], str) else None
        prev: str | None = scan.last
        for ln in lines:
            found = [ln.problem] if ln.problem else []
            if ln.entry is not None and not found and scan.key is not None:
                found = entry_problems(scan.key, ln.number - 1, ln.entry, prev, scan.lid)
            scan.problems += [f"line {ln.number}: {p}" for p in found]
            mac = ln.entry.get("mac") if ln.entry is not None and not ln.problem else None
            prev = mac if isinstance(mac, str) else None
            scan.macs.append(prev)
        if not scan.problems and scan.key is not None:
            _VERIFIED[str(self.path.resolve())] = _Verified(len(data), hashlib.sha256(data).digest(), scan.key,
                                                            scan.lid, list(scan.macs))

    def _resume(self, scan: _Scan, data: bytes) -> int:
        """Skip the prefix this process already verified when its bytes are unchanged (same key):
        an append then checks only the new lines, not the whole ledger again."""
        done = _VERIFIED.get(str(self.path.resolve()))
        if (done is None or scan.key is None or done.key != scan.key or len(data) < done.length
                or hashlib.sha256(data[:done.length]).digest() != done.digest):
            return 0
        scan.lid, scan.macs = done.lid, list(done.macs)
        return done.length

    def _head_problems(self, scan: _Scan, head: bytes | None, have_file: bool) -> list[str]:
        name = self.head_path.name
        if not have_file:
            return [f"{self.path.name} is missing but {name} exists: the ledger was deleted"]
        if head is None and scan.count == 0:
            return []
        if head is None:
            return [f"{name} is missing (it records the count and last MAC, so a cut tail is noticed)"]
        obj, problem = parse_object(head.removesuffix(b"\n"))
        problem = problem or (shape_problem(obj, HEAD_FIELDS, body=False) if obj is not None else None)
        if obj is None or problem:
            return [f"{name}: {problem}"]
        if scan.key is not None and not mac_ok(scan.key, HEAD_DOMAIN, obj):
            return [f"{name}: MAC does not match (edited, or recomputed without the key)"]
        return _agreement(name, obj, scan)

    @staticmethod
    def _read(path: Path, problems: list[str]) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror}")
            return b""

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        if not exclusive and not self.path.parent.is_dir():
            yield  # nothing to read, nothing to lock
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)


def _agreement(name: str, claim: dict, scan: _Scan) -> list[str]:
    """`claim` ({lid, count, last}) must describe this file, or the file minus its newest entry."""
    count, last = claim.get("count"), claim.get("last")
    if scan.lid is not None and claim.get("lid") != scan.lid:
        return [f"{name} belongs to another ledger (ledger id differs): the files were replaced"]
    if isinstance(count, int) and count in (scan.count, scan.count - 1) and count >= 0:
        expected = scan.macs[count - 1] if count else GENESIS
        if last == expected:
            return []
    return [f"{name} says {count} entries, the file has {scan.count} (or the last MAC differs): "
            "entries were removed from the end, or added without the key"]


def _record_problems(scan: _Scan, record: Record | None) -> list[str]:
    if scan.key is None or (record is None and scan.count == 0):
        return []
    if record is None:
        return ["the key store has no record of this ledger (written with another key, or its record was removed)"]
    if not isinstance(record, dict):
        return ["the key store's record of this ledger is damaged"]
    return _agreement("the key store's record", record, scan)
