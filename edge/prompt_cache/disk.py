"""The persistent prompt cache: saved KV states under `$EDGESPLIT_HOME/cache/prompts/`.

One file per prefix, `<fingerprint[:16]>-<key[:32]>.kv`:

    b"ESPCACHE" | version (u32 LE) | header length (u32 LE) | header JSON | state bytes

The header holds the full key, the fingerprint, the prefix tokens and the state's sha256. A file
is loaded only if every one of those matches; a bad, truncated or foreign file is deleted (and so
rebuilt by the next request), never handed to the runtime. Files are written atomically and the
folder is kept under a byte budget, least recently used first (a hit touches the file's mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..prefix import common_prefix
from .atomic import write_atomic
from .keys import entry_key

MAGIC = b"ESPCACHE"
VERSION = 1
_FIXED = struct.Struct("<8sII")
MAX_HEADER = 1 << 22  # a header is tokens + a few fields: anything bigger is not ours


class BadEntry(ValueError):
    """A cache file that must not be loaded (damaged, truncated, foreign)."""


@dataclass(frozen=True)
class Header:
    key: str
    fingerprint: str
    tokens: tuple[int, ...]
    payload_bytes: int
    payload_sha256: str
    meta: dict


def encode(fp: str, tokens: Sequence[int], payload: bytes, meta: dict) -> list[bytes]:
    head = {"key": entry_key(fp, tokens), "fingerprint": fp, "tokens": list(tokens),
            "payload_bytes": len(payload), "payload_sha256": hashlib.sha256(payload).hexdigest(), "meta": meta}
    blob = json.dumps(head, separators=(",", ":")).encode()
    return [_FIXED.pack(MAGIC, VERSION, len(blob)), blob, payload]


def read_header(f) -> Header:
    fixed = f.read(_FIXED.size)
    if len(fixed) != _FIXED.size:
        raise BadEntry("truncated header")
    magic, version, n = _FIXED.unpack(fixed)
    if magic != MAGIC or version != VERSION or n > MAX_HEADER:
        raise BadEntry("not a prompt-cache file of this version")
    try:
        d = json.loads(f.read(n))
        head = Header(d["key"], d["fingerprint"], tuple(int(t) for t in d["tokens"]), int(d["payload_bytes"]),
                      d["payload_sha256"], dict(d.get("meta") or {}))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadEntry(f"unreadable header: {exc}") from None
    if head.key != entry_key(head.fingerprint, head.tokens):
        raise BadEntry("key does not match the header's own tokens")
    return head


class DiskStore:
    def __init__(self, root: Path | Callable[[], Path], max_bytes: int) -> None:
        self._root, self.max_bytes = root, max_bytes
        self._headers: dict[Path, tuple[tuple[int, int], Header]] = {}

    @property
    def root(self) -> Path:
        """Resolved on every use: `$EDGESPLIT_HOME` may change while a model stays loaded."""
        return self._root() if callable(self._root) else self._root

    def path_for(self, fp: str, tokens: Sequence[int]) -> Path:
        return self.root / f"{fp[:16]}-{entry_key(fp, tokens)[:32]}.kv"

    def covered(self, fp: str, prompt: Sequence[int]) -> int:
        """How many leading tokens of `prompt` the best saved prefix shares (headers only)."""
        return max((common_prefix(h.tokens, prompt) for _, h in self._candidates(fp)), default=0)

    def write(self, fp: str, tokens: Sequence[int], payload: bytes, meta: dict) -> Path:
        path = self.path_for(fp, tokens)
        write_atomic(path, encode(fp, tokens, payload, meta))
        self.prune()
        return path

    def best(self, fp: str, prompt: Sequence[int], min_tokens: int) -> tuple[tuple[int, ...], bytes] | None:
        """The valid saved prefix sharing the most tokens (≥ min_tokens) with `prompt`, and its state."""
        ranked = sorted(((common_prefix(h.tokens, prompt), p, h) for p, h in self._candidates(fp)), key=lambda x: -x[0])
        for n, path, head in ranked:
            if n < min_tokens:
                break
            try:
                payload = self._load(path, fp, head)
            except (BadEntry, OSError):
                self._discard(path)
                continue
            os.utime(path)  # most recently used: pruned last
            return head.tokens, payload
        return None

    def _load(self, path: Path, fp: str, expect: Header) -> bytes:
        with path.open("rb") as f:
            head = read_header(f)
            # another process may have replaced it since its header was listed: same key is fine
            if head.tokens != expect.tokens or head.fingerprint != fp or path != self.path_for(fp, head.tokens):
                raise BadEntry("the file belongs to another prefix, model or options")
            payload = f.read(head.payload_bytes + 1)
        if len(payload) != head.payload_bytes:
            raise BadEntry("truncated or padded state")
        if hashlib.sha256(payload).hexdigest() != head.payload_sha256:
            raise BadEntry("state checksum mismatch")
        return payload

    def _candidates(self, fp: str) -> list[tuple[Path, Header]]:
        out = []
        for path in self.root.glob(f"{fp[:16]}-*.kv"):
            try:
                st = path.stat()
                stamp = (st.st_size, st.st_mtime_ns)
                cached = self._headers.get(path)
                if cached is None or cached[0] != stamp:
                    with path.open("rb") as f:
                        cached = (stamp, read_header(f))
                    self._headers[path] = cached
            except BadEntry:
                self._discard(path)
                continue
            except OSError:
                continue  # removed by another process meanwhile
            if path != self.path_for(cached[1].fingerprint, cached[1].tokens):
                self._discard(path)  # its name does not match its content: copied or foreign
            elif cached[1].fingerprint == fp:
                out.append((path, cached[1]))
        return out

    def _discard(self, path: Path) -> None:
        self._headers.pop(path, None)
        path.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.root.glob("*.kv")) if self.root.is_dir() else []

    def prune(self) -> None:
        """Delete least recently used files until the folder fits its byte budget."""
        stats = []
        for p in self.files():
            try:
                stats.append((p.stat().st_mtime_ns, p.stat().st_size, p))
            except OSError:
                continue
        total = sum(s for _, s, _ in stats)
        for _, size, path in sorted(stats):
            if total <= self.max_bytes:
                break
            self._discard(path)
            total -= size

    def entries(self) -> list[dict]:
        """One row per file for `edgesplit cache list`; damaged files are shown as such."""
        rows = []
        for p in self.files():
            st = p.stat()
            row = {"file": p.name, "bytes": st.st_size, "last_used": time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime))}
            try:
                with p.open("rb") as f:
                    head = read_header(f)
                row |= {"tokens": len(head.tokens), **head.meta}
            except BadEntry as exc:
                row |= {"tokens": None, "error": str(exc)}
            rows.append(row)
        return rows

    def clear(self) -> int:
        """Delete every cache file (and stray temp files); returns how many entries were removed."""
        n = 0
        if not self.root.is_dir():
            return 0
        for p in self.root.iterdir():
            if p.suffix in (".kv", ".tmp", ".seen"):
                n += p.suffix == ".kv"
                p.unlink(missing_ok=True)
        self._headers.clear()
        return n

    # -- sightings: recent long prompts, so a prefix seen in two processes counts as fixed ----
    def sightings(self, fp: str) -> list[tuple[int, ...]]:
        try:
            data = json.loads((self.root / f"{fp[:16]}.seen").read_text())
            return [tuple(int(t) for t in s) for s in data]
        except (OSError, ValueError, TypeError):
            return []

    def add_sighting(self, fp: str, tokens: Sequence[int], keep: int) -> None:
        new = tuple(tokens)  # the prompts it extends are dropped: it stands for them
        seen = [s for s in self.sightings(fp) if s != new[: len(s)]][-max(keep - 1, 1):] + [new]
        write_atomic(self.root / f"{fp[:16]}.seen", json.dumps([list(s) for s in seen]).encode())
