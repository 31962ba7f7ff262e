"""The disk store and the in-memory LRU, without a model: keys, corruption, concurrency, bounds."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from edge.prompt_cache import DiskStore
from edge.prompt_cache.disk import MAGIC
from edge.prompt_cache.keys import entry_key, file_sha256, fingerprint
from edge.prompt_cache.memory import StateLRU

FP = fingerprint("0" * 64, "llamacpp", {"kv_type": "f16", "n_ctx": 2048, "flash_attn": True})
TOKENS = list(range(300))
STATE = bytes(range(256)) * 64


def _store(tmp_path: Path, max_bytes: int = 1 << 30) -> DiskStore:
    return DiskStore(tmp_path / "prompts", max_bytes)


def test_a_written_entry_is_found_for_a_longer_prompt(tmp_path):
    store = _store(tmp_path)
    store.write(FP, TOKENS, STATE, {"model": "m"})
    assert store.best(FP, [*TOKENS, 7, 8], min_tokens=32) == (tuple(TOKENS), STATE)
    assert store.best(FP, [9, *TOKENS], min_tokens=32) is None  # shares nothing
    assert store.best(fingerprint("1" * 64, "llamacpp", {}), TOKENS, 32) is None  # another model


@pytest.mark.parametrize("damage", ["flip_payload", "truncate", "garbage", "empty", "bad_magic", "pad"])
def test_a_damaged_file_is_deleted_not_loaded(tmp_path, damage):
    store = _store(tmp_path)
    path = store.write(FP, TOKENS, STATE, {})
    data = bytearray(path.read_bytes())
    if damage == "flip_payload":
        data[-10] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "empty":
        data = bytearray()
    elif damage == "bad_magic":
        data[: len(MAGIC)] = b"X" * len(MAGIC)
    else:
        data += b"\0"
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))  # a new mtime: the store must not trust a header it read before
    assert store.best(FP, TOKENS + [1], min_tokens=32) is None
    assert not path.exists()
    store.write(FP, TOKENS, STATE, {})  # rebuilt by the next request
    assert store.best(FP, TOKENS + [1], min_tokens=32) == (tuple(TOKENS), STATE)


def test_a_foreign_file_under_our_name_is_deleted(tmp_path):
    """A valid entry of another model copied over this model's file name is not loaded."""
    store = _store(tmp_path)
    other = fingerprint("f" * 64, "llamacpp", {"kv_type": "f16"})
    src = store.write(other, TOKENS, STATE, {})
    dst = store.path_for(FP, TOKENS)
    dst.write_bytes(src.read_bytes())
    assert store.best(FP, TOKENS + [1], min_tokens=32) is None
    assert not dst.exists() and src.exists()


def _writer(root: str, seed: int, n: int, go) -> None:
    store = DiskStore(Path(root), 1 << 30)
    go.wait(60)
    for i in range(n):
        store.write(FP, TOKENS, bytes([(seed + i) % 256]) * 2_000_000, {"writer": seed})


def test_two_processes_writing_the_same_entry_leave_a_valid_one(tmp_path):
    """While two processes rewrite one entry, a reader only ever finds a complete, valid file."""
    root = tmp_path / "prompts"
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(root), seed, 40, go)) for seed in (1, 100)]
    for p in procs:
        p.start()
    go.set()
    reader, seen, bad = DiskStore(root, 1 << 30), 0, 0
    while any(p.is_alive() for p in procs):
        if not reader.path_for(FP, TOKENS).exists():
            continue
        hit = reader.best(FP, TOKENS + [1], min_tokens=32)
        seen += hit is not None
        bad += hit is None or len(set(hit[1])) != 1 or len(hit[1]) != 2_000_000
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert bad == 0
    tokens, payload = reader.best(FP, TOKENS + [1], min_tokens=32)
    assert tokens == tuple(TOKENS) and len(payload) == 2_000_000 and len(set(payload)) == 1
    assert [p.name for p in root.iterdir()] == [reader.path_for(FP, TOKENS).name]  # no temp file left


def test_keys_differ_when_model_bytes_or_kv_type_differ(tmp_path):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"GGUF" + b"\0" * 1000)
    b.write_bytes(b"GGUF" + b"\0" * 999 + b"\1")
    ha, hb = file_sha256(a), file_sha256(b)
    assert ha != hb
    opts = {"kv_type": "f16", "n_ctx": 2048, "flash_attn": True}
    keys = {entry_key(fingerprint(ha, "llamacpp", opts), TOKENS),
            entry_key(fingerprint(hb, "llamacpp", opts), TOKENS),
            entry_key(fingerprint(ha, "llamacpp", {**opts, "kv_type": "q8_0"}), TOKENS),
            entry_key(fingerprint(ha, "llamacpp", {**opts, "n_ctx": 4096}), TOKENS),
            entry_key(fingerprint(ha, "onnxruntime", opts), TOKENS),
            entry_key(fingerprint(ha, "llamacpp", opts), TOKENS[:-1])}
    assert len(keys) == 6


def test_the_model_hash_is_remembered_and_follows_the_file(tmp_path):
    f, memo = tmp_path / "m.gguf", tmp_path / "hashes.json"
    f.write_bytes(b"one")
    first = file_sha256(f, memo)
    assert memo.is_file() and first in memo.read_text()
    f.write_bytes(b"two")
    os.utime(f, ns=(10**18, 10**18))  # a changed file has a new mtime
    assert file_sha256(f, memo) != first


def test_the_folder_stays_under_its_byte_budget_least_recently_used_first(tmp_path):
    store = _store(tmp_path, max_bytes=3 * len(STATE) + 20_000)
    prefixes = [[i, *TOKENS] for i in range(5)]
    for i, p in enumerate(prefixes):
        store.write(FP, p, STATE, {})
        os.utime(store.path_for(FP, p), ns=(i * 10**9, i * 10**9))
        if i == 2:
            assert store.best(FP, prefixes[0], 32)  # a hit makes entry 0 the most recent
    assert sum(p.stat().st_size for p in store.files()) <= store.max_bytes
    assert store.best(FP, prefixes[0], 32) is not None and store.best(FP, prefixes[1], 32) is None


def test_clear_removes_every_entry(tmp_path):
    store = _store(tmp_path)
    store.write(FP, TOKENS, STATE, {})
    store.add_sighting(FP, TOKENS, keep=4)
    assert store.clear() == 1 and store.files() == [] and store.sightings(FP) == []


def test_memory_lru_keeps_several_prefixes_within_its_bytes():
    lru = StateLRU(max_bytes=2 * len(STATE))
    app, chat, other = [1] * 100, [2] * 100, [3] * 100
    lru.put(app, STATE)
    lru.put(chat, STATE)
    assert lru.best(app + [5])[1] == 100 and lru.best(chat + [5])[1] == 100  # both kept
    lru.put(other, STATE)  # over budget: the least recently used (app) goes
    assert lru.best(app)[0] is None and lru.best(chat)[1] == 100 and lru.bytes <= lru.max_bytes
    lru.put(chat + [9] * 10, STATE)  # an extension replaces the prefix it extends
    assert len(lru) == 2 and lru.covers(chat)


def test_a_bad_cache_mode_is_a_typed_error(monkeypatch):
    from edge.errors import InvalidRequestError
    from edge.options import RuntimeOptions
    from edge.prompt_cache import ENV, cache_mode

    with pytest.raises(InvalidRequestError, match="prompt_cache"):
        RuntimeOptions(prompt_cache="sometimes")
    monkeypatch.setenv(ENV, "memory")
    assert cache_mode(RuntimeOptions()) == "memory"
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(InvalidRequestError, match=ENV):
        cache_mode(RuntimeOptions())
