"""The device's key store for the outbound ledger: the MAC key and what it remembers of each ledger.

Files beside the vault key (`$EDGESPLIT_HOME`, or the directory given), both mode 0600:
- `ledger.key`: 32 random bytes, the HMAC-SHA256 key of ledger entries and heads; it never
  leaves the device, so a chain recomputed elsewhere (or by hand) fails verification.
- `ledger.state`: `{"ledgers": {ledger path: {"lid", "count", "last"}}, "v", "mac"}`,
  authenticated with the key, so deleting a ledger (both files) where one existed is noticed.
Both are created together, so a key without its state file means the state file was removed.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import VaultError
from .ledger_format import STATE_DOMAIN, VERSION, mac_ok, parse_object, signed_line
from .vault import KEY_BYTES, default_dir, read_key, write_private

Record = dict  # {"lid": str, "count": int, "last": str}


class StateProblem(Exception):
    """The key store cannot vouch for a ledger; the message says why."""


class KeyStore:
    def __init__(self, directory: str | Path | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()
        self.key_path = self.dir / "ledger.key"
        self.state_path = self.dir / "ledger.state"

    def key(self) -> bytes | None:
        """The ledger key, None when this device never kept a ledger (StateProblem when unusable)."""
        if not self.key_path.exists():
            if self.state_path.exists():
                raise StateProblem(f"the ledger key {self.key_path} was deleted: no ledger can be authenticated")
            return None
        try:
            return read_key(self.key_path)
        except VaultError as exc:
            raise StateProblem(str(exc)) from None

    def create_key(self) -> bytes:
        """A new key and an empty state file; the key another process just made, if it won the race."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if self.key_path.exists():
                return read_key(self.key_path)
            key = secrets.token_bytes(KEY_BYTES)
            write_private(self.key_path, key)
            self._write(key, {})
        return key

    def records(self, key: bytes) -> dict[str, Record]:
        """Every ledger this key store remembers (StateProblem when the state file is damaged)."""
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            raise StateProblem(f"the key store's ledger record {self.state_path} was deleted") from None
        obj, problem = parse_object(raw.removesuffix(b"\n"))
        if obj is None or problem or not mac_ok(key, STATE_DOMAIN, obj) or not isinstance(obj.get("ledgers"), dict):
            raise StateProblem(f"the key store's ledger record {self.state_path} is damaged or was edited")
        return obj["ledgers"]

    def record(self, key: bytes, ledger: Path) -> Record | None:
        return self.records(key).get(self._name(ledger))

    def _name(self, ledger: Path) -> str:
        """A ledger beside the key store by its relative name (the folder may move), else its full path."""
        path, home = ledger.resolve(), self.dir.resolve()
        return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)

    def remember(self, key: bytes, ledger: Path, record: Record | None) -> None:
        """Store (or, with None, forget) what the key store knows of `ledger`."""
        with self._locked():
            try:
                ledgers = dict(self.records(key))
            except StateProblem:
                ledgers = {}  # callers verified first; a lost record is rebuilt from the verified ledger
            if record is None:
                ledgers.pop(self._name(ledger), None)
            else:
                ledgers[self._name(ledger)] = record
            self._write(key, ledgers)

    def _write(self, key: bytes, ledgers: dict[str, Record]) -> None:
        write_private(self.state_path, signed_line(key, STATE_DOMAIN, {"v": VERSION, "ledgers": ledgers}))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # two ledgers may append at once: their read-modify-write of the one state file is serialized
        fd = os.open(self.dir / "ledger.state.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

