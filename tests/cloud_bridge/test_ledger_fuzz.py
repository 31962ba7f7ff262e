"""Seeded ledger mutator: byte flips, line deletions/duplications/reorders, cuts, head edits,
chains recomputed without the key, deleted files. Every mutation must fail `verify`, make
`append` refuse, and leave a recording cloud uncontacted; none may raise anything else."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud_bridge.client import CloudClient, CloudConfig
from cloud_bridge.errors import LedgerDamagedError
from cloud_bridge.keystore import KeyStore
from cloud_bridge.ledger import Ledger, body_bytes
from cloud_bridge.ledger_format import ENTRY_DOMAIN, HEAD_DOMAIN, canonical, signed_line
from tests.conftest import run_cli

from .fakecloud import FakeCloud

SEED, MAX_MUTATIONS, BUDGET_S = 20261201, 600, 40.0
FILES = ("ledger.jsonl", "ledger.head", "ledger.state", "ledger.key")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("pristine")
    led = Ledger(home / "ledger.jsonl", KeyStore(home))
    for i in range(6):
        body = f'{{"i": {i}, "text": "café"}}'.encode() if i != 3 else b"\xfe\xff raw"
        led.append(f"https://cloud.example/v1/{i}", body, f"entry {i}")
    assert led.verify().ok
    return home


@pytest.fixture(scope="module")
def cloud():
    server = FakeCloud(None).start()  # never answers with a model: nothing may reach it
    server.reset("http500")
    yield server
    server.stop()


def _lines(d: Path) -> list[bytes]:
    return (d / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def _put(d: Path, lines: list[bytes]) -> None:
    (d / "ledger.jsonl").write_bytes(b"".join(lines))


def flip(rng: random.Random, d: Path) -> str:
    name = rng.choice(FILES[:3] * 3 + FILES[3:])  # mostly the ledger and its head
    data = bytearray((d / name).read_bytes())
    i = rng.randrange(len(data))
    data[i] ^= 1 << rng.randrange(8)
    (d / name).write_bytes(bytes(data))
    return f"flip {name}"


def delete_line(rng: random.Random, d: Path) -> str:
    lines = _lines(d)
    del lines[rng.randrange(len(lines))]
    _put(d, lines)
    return "delete line"


def duplicate_line(rng: random.Random, d: Path) -> str:
    lines = _lines(d)
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    _put(d, lines)
    return "duplicate line"


def reorder(rng: random.Random, d: Path) -> str:
    lines = _lines(d)
    i, j = rng.sample(range(len(lines)), 2)
    lines[i], lines[j] = lines[j], lines[i]
    _put(d, lines)
    return "reorder"


def truncate(rng: random.Random, d: Path) -> str:
    data = (d / "ledger.jsonl").read_bytes()
    (d / "ledger.jsonl").write_bytes(data[: rng.randrange(len(data))])
    return "truncate"


def junk_line(rng: random.Random, d: Path) -> str:
    lines = _lines(d)
    junk = rng.choice([b"{}", b"[]", b"null", b'"x"', b"\xc3\x28", b"{" * 5000, b"{\"v\":2}"]) + b"\n"
    lines.insert(rng.randrange(len(lines) + 1), junk)
    _put(d, lines)
    return "junk line"


def head_edit(rng: random.Random, d: Path) -> str:
    head = json.loads((d / "ledger.head").read_bytes())
    field = rng.choice(["count", "last", "lid", "mac", "shape"])
    if field == "count":
        head["count"] += rng.choice([-6, -2, -1, 1, 2, 50])
    elif field == "shape":
        head = rng.choice([[1, 2], 7, "head", None, {}, {**head, "extra": 1}])
    else:
        head[field] = secrets.token_hex(32 if field != "lid" else 8)
    (d / "ledger.head").write_bytes(json.dumps(head).encode() + b"\n")
    return f"head {field}"


def _chain(entries: list[dict], key: bytes) -> tuple[list[bytes], str]:
    prev, out = "0" * 64, []
    for i, e in enumerate(entries):
        e = {k: v for k, v in e.items() if k != "mac"} | {"seq": i, "prev": prev}
        e["body_sha256"] = hashlib.sha256(body_bytes(e)).hexdigest()
        line = signed_line(key, ENTRY_DOMAIN, e)
        out.append(line)
        prev = json.loads(line)["mac"]
    return out, prev


def forge(rng: random.Random, d: Path) -> str:
    """Change the entries, then recompute chain and head (and the key store's state file's
    fields) with a key the attacker guesses: a chain without the device's key."""
    entries = [json.loads(line) for line in _lines(d)]
    op = rng.choice(["edit", "delete", "delete last", "append", "reorder", "empty"])
    if op == "edit":
        e = rng.choice([e for e in entries if "body" in e])
        e["body"] = e["body"].replace("café", "forged")
    elif op == "delete":
        del entries[rng.randrange(1, len(entries) - 1)]
    elif op == "delete last":
        entries = entries[: rng.randrange(1, len(entries))]
    elif op == "append":
        entries.append({**entries[0], "body": '{"forged": 1}', "purpose": "forged"})
    elif op == "reorder":
        entries[1], entries[2] = entries[2], entries[1]
    else:
        entries = []
    key = secrets.token_bytes(32)
    lines, last = _chain(entries, key)
    _put(d, lines)
    head = {"v": 2, "lid": json.loads((d / "ledger.head").read_bytes())["lid"], "count": len(entries), "last": last}
    (d / "ledger.head").write_bytes(signed_line(key, HEAD_DOMAIN, head))
    return f"forge {op}"


def delete_files(rng: random.Random, d: Path) -> str:
    # every subset but all four: with nothing left there is nothing to compare against
    names = rng.sample(FILES, rng.randrange(1, len(FILES)))
    for name in names:
        (d / name).unlink()
    return "remove " + "+".join(sorted(names))


def legacy(rng: random.Random, d: Path) -> str:
    lines = [json.loads(line) for line in _lines(d)]
    old = [{k: v for k, v in e.items() if k not in ("mac", "v", "lid")} for e in lines]
    for e in old:
        e["hash"] = hashlib.sha256(canonical(e)).hexdigest()
    _put(d, [json.dumps(e).encode() + b"\n" for e in old])
    return "unkeyed rewrite"


MUTATORS: list[Callable[[random.Random, Path], str]] = [
    flip, flip, flip, delete_line, duplicate_line, reorder, truncate, junk_line, head_edit, forge, forge,
    delete_files, legacy,
]


def _check(d: Path, client: CloudClient) -> bool:
    """True when the mutated ledger at `d` is caught by verify, append and the client."""
    led = Ledger(d / "ledger.jsonl", KeyStore(d))
    if led.verify().ok:
        return False
    led.entries()  # `ledger show` must cope with any damage too
    try:
        led.append("https://cloud.example/v1/x", b"{}", "after the mutation")
        return False
    except LedgerDamagedError:
        pass
    client.ledger = led  # one client for the run: its TLS context is costly to build
    with pytest.raises(LedgerDamagedError):
        client.post_json("/completions", {"prompt": "x"}, "fuzz")
    return True


def test_every_ledger_mutation_is_caught_and_blocks_sending(pristine, cloud, tmp_path):
    rng = random.Random(SEED)
    kinds, missed = Counter(), []
    deadline = time.monotonic() + BUDGET_S
    client = CloudClient(CloudConfig(url=cloud.url, retries=0, timeout=10.0))
    for n in range(MAX_MUTATIONS):
        if time.monotonic() > deadline:
            break
        d = tmp_path / str(n)
        shutil.copytree(pristine, d)
        kind = rng.choice(MUTATORS)(rng, d)
        kinds[kind.split(" ")[0]] += 1
        if not _check(d, client):
            missed.append(kind)
        shutil.rmtree(d)
    client.close()
    tried = sum(kinds.values())
    print(f"ledger fuzz: tried {tried}, detected {tried - len(missed)}, missed {len(missed)}; {dict(kinds)}")
    assert tried >= 100 and missed == []
    assert cloud.received == []


@pytest.mark.parametrize("mutator", [flip, truncate, junk_line, head_edit, forge, delete_files, legacy])
def test_cli_verify_reports_each_kind_without_a_traceback(pristine, tmp_path, mutator):
    d = tmp_path / "home"
    shutil.copytree(pristine, d)
    mutator(random.Random(SEED), d)
    out = run_cli("ledger", "verify", env={"EDGESPLIT_HOME": str(d)})
    assert out.returncode == 2 and "error:" in out.stderr, out
    assert "Traceback" not in out.stdout + out.stderr
