"""The encrypted vault: AES-GCM, 0600 key, wrong key fails, rotation re-encrypts."""

from __future__ import annotations

import os
import stat

import pytest

from cloud_bridge.errors import VaultError
from cloud_bridge.vault import Vault

STATE = {"originals": {"<PERSON_1>": "Zoltan Quibbleworth"}, "keys": {}, "counts": {"PERSON": 1}}


def test_round_trip_and_ciphertext(tmp_path):
    v = Vault(tmp_path)
    v.put("conv-1", STATE)
    assert Vault(tmp_path).get("conv-1") == STATE
    assert stat.S_IMODE(os.stat(v.key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(v.path).st_mode) == 0o600
    blob = v.path.read_bytes()
    assert b"Zoltan" not in blob and b"Quibbleworth" not in blob


def test_unreadable_without_the_right_key(tmp_path):
    v = Vault(tmp_path)
    v.put("c", STATE)
    v.key_path.unlink()
    with pytest.raises(VaultError, match="missing"):
        v.get("c")
    v.key_path.write_bytes(os.urandom(32))
    os.chmod(v.key_path, 0o600)
    with pytest.raises(VaultError, match="wrong key"):
        v.get("c")


def test_key_readable_by_others_is_refused(tmp_path):
    v = Vault(tmp_path)
    v.put("c", STATE)
    os.chmod(v.key_path, 0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        v.get("c")


def test_rotation_reencrypts(tmp_path):
    v = Vault(tmp_path)
    v.put("c", STATE)
    old_key, old_blob = v.key_path.read_bytes(), v.path.read_bytes()
    v.rotate_key()
    assert v.key_path.read_bytes() != old_key and v.path.read_bytes() != old_blob
    assert v.get("c") == STATE
    v.key_path.write_bytes(old_key)
    with pytest.raises(VaultError):
        v.get("c")


def test_interrupted_rotation_recovers(tmp_path):
    v = Vault(tmp_path)
    v.put("c", STATE)
    pending = tmp_path / "vault.key.new"
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)  # died before re-encrypting: the new key must be dropped
    assert v.get("c") == STATE and not pending.exists()
