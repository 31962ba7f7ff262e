"""Cache keys: which model, backend and state-shaping options a saved KV state belongs to.

A state is only valid for the exact model bytes, the runtime build that wrote it and the options
that shape the KV cache (type, context length, flash attention). The model file is hashed once and
remembered by path + size + mtime, so a cold process does not re-read hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

from .atomic import write_atomic

_memo: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_sha256(path: Path, memo_file: Path | None = None) -> str:
    """sha256 of `path`, remembered in-process and in `memo_file` by (path, size, mtime)."""
    st = path.stat()
    ident = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if ident in _memo:
            return _memo[ident]
    stored = _read_memo(memo_file)
    digest = stored.get(_memo_key(ident))
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        if memo_file is not None:
            stored[_memo_key(ident)] = digest
            write_atomic(memo_file, json.dumps(stored, indent=0).encode())
    with _lock:
        _memo[ident] = digest
    return digest


def _memo_key(ident: tuple[str, int, int]) -> str:
    return f"{ident[0]}|{ident[1]}|{ident[2]}"


def _read_memo(memo_file: Path | None) -> dict[str, str]:
    if memo_file is None:
        return {}
    try:
        data = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        return {}  # missing or damaged: hash again and rewrite it
    return data if isinstance(data, dict) else {}


def fingerprint(model_sha256: str, backend: str, state_options: dict) -> str:
    """One hex id for (model bytes, backend + its build, options that change the state)."""
    blob = json.dumps({"model": model_sha256, "backend": backend, "options": state_options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_key(fp: str, tokens: Sequence[int]) -> str:
    """The key of one saved prefix: the fingerprint plus the exact prefix tokens."""
    h = hashlib.sha256(fp.encode())
    h.update(b"\0")
    h.update(",".join(map(str, tokens)).encode())
    return h.hexdigest()


