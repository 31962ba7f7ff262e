"""The encrypted local vault holding each conversation's placeholder mapping.

Files under `$EDGESPLIT_HOME` (or the directory given):
- `vault.key`: 32 random bytes (AES-256), created with permissions 0600; a key file readable by
  group or others is refused.
- `vault.bin`: `b"ESV1"` + 12-byte nonce + AES-GCM(JSON {conversation id: mapping state}),
  authenticated with the header as associated data. A fresh nonce on every write.

Key rotation (`Vault.rotate_key()`, or `edgesplit vault rotate-key`): decrypt with the old key,
write the new key to `vault.key.new` (0600), re-encrypt the vault with it to a temp file,
rename the temp file over `vault.bin`, then rename `vault.key.new` over `vault.key`. If the
process dies between the two renames, opening the vault tries `vault.key.new` as well and
finishes the rotation, so the data is never left without its key.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import VaultError

MAGIC = b"ESV1"
KEY_BYTES = 32


def default_dir() -> Path:
    from edge.models import edgesplit_home

    return edgesplit_home()


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 (never briefly world-readable)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VaultError(f"vault key {path} is missing: the vault cannot be decrypted without it") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(f"vault key {path} is readable by others: run `chmod 600 {path}`")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise VaultError(f"vault key {path} is not a {KEY_BYTES}-byte key")
    return key


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, MAGIC)


def decrypt(key: bytes, blob: bytes) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
        raise VaultError("the vault file is not an edgesplit vault (bad header)")
    nonce, body = blob[4:16], blob[16:]
    try:
        return AESGCM(key).decrypt(nonce, body, MAGIC)
    except InvalidTag:
        raise VaultError("the vault cannot be decrypted with this key (wrong key or a modified file)") from None


class Vault:
    """Encrypted {conversation id: pseudonymizer state} store."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()
        self.key_path = self.dir / "vault.key"
        self.path = self.dir / "vault.bin"

    def _key(self, create: bool) -> bytes:
        pending = self.key_path.with_name("vault.key.new")
        if pending.exists():
            self._finish_rotation(pending)
        if not self.key_path.exists() and create:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_private(self.key_path, secrets.token_bytes(KEY_BYTES))
        return read_key(self.key_path)

    def _finish_rotation(self, pending: Path) -> None:
        """A rotation was interrupted: keep whichever key opens the vault."""
        new_key = read_key(pending)
        if self.path.exists():
            try:
                decrypt(new_key, self.path.read_bytes())
            except VaultError:
                pending.unlink()  # the vault was not re-encrypted yet: the old key still holds
                return
        os.replace(pending, self.key_path)

    def load_all(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        data = decrypt(self._key(create=False), self.path.read_bytes())
        return json.loads(data)

    def _save_all(self, data: dict[str, dict], key: bytes | None = None) -> None:
        key = key or self._key(create=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_private(self.path, encrypt(key, json.dumps(data, ensure_ascii=False).encode("utf-8")))

    def get(self, conversation: str) -> dict | None:
        return self.load_all().get(conversation)

    def put(self, conversation: str, state: dict) -> None:
        key = self._key(create=True)
        data = self.load_all()
        data[conversation] = state
        self._save_all(data, key)

    def delete(self, conversation: str) -> bool:
        data = self.load_all()
        found = data.pop(conversation, None) is not None
        if found:
            self._save_all(data)
        return found

    def rotate_key(self) -> None:
        """Re-encrypt the vault under a fresh key (see the module docstring for the steps)."""
        data = self.load_all()
        pending = self.key_path.with_name("vault.key.new")
        new_key = secrets.token_bytes(KEY_BYTES)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_private(pending, new_key)
        self._save_all(data, new_key)
        os.replace(pending, self.key_path)
