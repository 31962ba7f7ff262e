"""The bytes of the keyed ledger: canonical lines, their MACs, and every check of one line.

Each line is the canonical JSON of one object (sorted keys, no spaces, UTF-8, `\\n` at the end)
and its `mac` is HMAC-SHA256(key, domain + canonical JSON without `mac`). Because a line must be
exactly the canonical form of what it parses to, any changed byte is either a parse error, a
non-canonical line or a changed value (and so a wrong MAC).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

VERSION = 2
GENESIS = "0" * 64
ENTRY_DOMAIN = b"edgesplit-ledger-entry\x00"
HEAD_DOMAIN = b"edgesplit-ledger-head\x00"
STATE_DOMAIN = b"edgesplit-ledger-state\x00"

ENTRY_FIELDS: dict[str, type] = {"v": int, "lid": str, "seq": int, "ts": str, "endpoint": str, "method": str,
                                 "purpose": str, "body_sha256": str, "prev": str, "mac": str}
BODY_FIELDS = ("body", "body_b64")
HEAD_FIELDS: dict[str, type] = {"v": int, "lid": str, "count": int, "last": str, "mac": str}
UNKEYED = ("an unauthenticated ledger from an older edgesplit (hash chain without a key): anyone can "
           "rewrite it undetected; keep it and start a keyed ledger with `edgesplit ledger reset`")


def canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mac_of(key: bytes, domain: bytes, obj: dict) -> str:
    unsigned = {k: v for k, v in obj.items() if k != "mac"}
    return hmac.new(key, domain + canonical(unsigned), hashlib.sha256).hexdigest()


def signed_line(key: bytes, domain: bytes, obj: dict) -> bytes:
    """`obj` with its `mac`, as the exact line written to disk."""
    return canonical({**obj, "mac": mac_of(key, domain, obj)}) + b"\n"


def mac_ok(key: bytes, domain: bytes, obj: dict) -> bool:
    return isinstance(obj.get("mac"), str) and hmac.compare_digest(obj["mac"], mac_of(key, domain, obj))


def body_bytes(entry: dict) -> bytes:
    """The exact bytes an entry says were sent (ValueError when `body_b64` is not base64)."""
    if "body_b64" in entry:
        try:
            return base64.b64decode(str(entry["body_b64"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("body_b64 is not valid base64") from None
    body = entry.get("body", "")
    return body.encode("utf-8") if isinstance(body, str) else b""


def encode_body(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_b64": base64.b64encode(body).decode("ascii")}


def parse_object(raw: bytes) -> tuple[dict | None, str | None]:
    """One canonical JSON object from `raw` (no newline), or None and what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, f"not valid JSON ({getattr(exc, 'msg', 'nested too deep')})"
    if not isinstance(obj, dict):
        return None, f"not a JSON object (a {type(obj).__name__})"
    if "v" not in obj and "hash" in obj:
        return obj, UNKEYED
    try:
        same = canonical(obj) == raw
    except (ValueError, RecursionError):
        same = False
    return obj, None if same else "not in the exact form the ledger writes (edited by hand)"


def shape_problem(obj: dict, fields: dict[str, type], body: bool) -> str | None:
    """Missing, extra or mistyped fields; None when the object has the ledger's shape."""
    expected = set(fields) | ({k for k in BODY_FIELDS if k in obj} if body else set())
    if body and sum(k in obj for k in BODY_FIELDS) != 1:
        return "needs exactly one of body, body_b64"
    if set(obj) != expected:
        return f"fields {sorted(set(obj) ^ expected)} missing or unexpected"
    for name, kind in fields.items():
        if type(obj[name]) is not kind:  # exact type: a bool is not a seq
            return f"field {name} is not a {kind.__name__}"
    if body and not isinstance(obj.get("body", obj.get("body_b64")), str):
        return "the body is not a string"
    if obj["v"] != VERSION:
        return f"version {obj['v']} (this edgesplit writes {VERSION})"
    return None


@dataclass
class Line:
    number: int  # 1-based line number in the file
    entry: dict | None
    problem: str | None = None


def split_lines(data: bytes, first: int = 1) -> list[Line]:
    """Every line of `data` (numbered from `first`), parsed; a last line without `\\n` was cut short."""
    parts = data.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline
    lines = []
    for n, raw in enumerate(parts, first):
        entry, problem = parse_object(raw) if raw else (None, "an empty line")
        lines.append(Line(n, entry, problem))
    if tail:
        lines.append(Line(len(parts) + first, None, f"cut short ({len(tail)} bytes without an end of line)"))
    return lines


def entry_problems(key: bytes, index: int, entry: dict, prev: str | None, lid: str | None) -> list[str]:
    """What is wrong with entry `index` given the previous entry's MAC and the ledger id."""
    shape = shape_problem(entry, ENTRY_FIELDS, body=True)
    if shape:
        return [shape]
    problems = []
    if not mac_ok(key, ENTRY_DOMAIN, entry):
        problems.append("MAC does not match (edited, forged, or written with another key)")
    if entry["seq"] != index:
        problems.append(f"seq is {entry['seq']}, expected {index} (an entry was deleted, inserted or moved)")
    if prev is not None and entry["prev"] != prev:
        problems.append("prev is not the MAC of the entry before it (chain broken)")
    if lid is not None and entry["lid"] != lid:
        problems.append("belongs to another ledger (ledger id differs)")
    try:
        if hashlib.sha256(body_bytes(entry)).hexdigest() != entry["body_sha256"]:
            problems.append("body does not match body_sha256")
    except ValueError as exc:
        problems.append(str(exc))
    return problems
