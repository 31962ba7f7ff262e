"""The keyed outbound ledger: MAC chain, head, key store record; every edit, forgery, cut or
deletion fails `verify` and blocks `append`; damaged files give clear messages, never tracebacks."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import time

import pytest

from cloud_bridge.errors import LedgerDamagedError
from cloud_bridge.keystore import KeyStore
from cloud_bridge.ledger import Ledger, body_bytes
from cloud_bridge.ledger_format import ENTRY_DOMAIN, HEAD_DOMAIN, canonical, signed_line
from tests.conftest import run_cli

URL = "http://127.0.0.1:9/v1/chat/completions"


@pytest.fixture
def ledger(_isolated_home) -> Ledger:
    led = Ledger()
    for i in range(4):
        led.append(URL, f'{{"n": {i}, "t": "é"}}'.encode(), f"test {i}")
    led.append("http://127.0.0.1:9/v1/x", b"\xff\x00binary", "binary body")
    return led


def _lines(led: Ledger) -> list[bytes]:
    return led.path.read_bytes().splitlines()


def _write(led: Ledger, lines: list[bytes]) -> None:
    led.path.write_bytes(b"".join(line + b"\n" for line in lines))


def _blocked(led: Ledger) -> str:
    """Verify fails with problems, and append refuses with a message that says what to do."""
    report = led.verify()
    assert not report.ok and report.problems, report
    with pytest.raises(LedgerDamagedError, match="nothing was sent.*ledger verify.*ledger reset"):
        led.append(URL, b'{"after": "damage"}', "must not be logged")
    return " | ".join(report.problems)


def test_chain_verifies_and_keeps_exact_bytes(ledger):
    report = ledger.verify()
    assert report.ok and report.entries == 5 and report.keyed
    entries = ledger.entries()
    assert body_bytes(entries[0]) == '{"n": 0, "t": "é"}'.encode()
    assert body_bytes(entries[4]) == b"\xff\x00binary" and "body_b64" in entries[4]
    assert [e["seq"] for e in entries] == list(range(5))
    assert all(entries[i]["prev"] == entries[i - 1]["mac"] for i in range(1, 5))
    assert all(line == canonical(e) for line, e in zip(_lines(ledger), entries, strict=True))


def _forge(led: Ledger, lines: list[dict], key: bytes) -> None:
    """Recompute the whole chain and the head the way an attacker would, with `key`."""
    prev, out = "0" * 64, []
    for i, e in enumerate(lines):
        e = {k: v for k, v in e.items() if k != "mac"} | {"seq": i, "prev": prev}
        e["body_sha256"] = hashlib.sha256(body_bytes(e)).hexdigest()
        line = signed_line(key, ENTRY_DOMAIN, e)
        prev = json.loads(line)["mac"]
        out.append(line.rstrip(b"\n"))
    _write(led, out)
    head = {"v": 2, "lid": lines[0]["lid"], "count": len(lines), "last": prev}
    led.head_path.write_bytes(signed_line(key, HEAD_DOMAIN, head))


def _edited(entries: list[dict]) -> list[dict]:
    entries[1]["body"] = entries[1]["body"].replace("1", "7")
    return entries


FORGERIES = {
    "edit": _edited,
    "delete middle": lambda es: es[:2] + es[3:],
    "delete last": lambda es: es[:-1],
    "append forged": lambda es: es + [{**es[0], "body": '{"forged": true}', "purpose": "forged"}],
    "reorder": lambda es: [es[0], es[2], es[1], *es[3:]],
}


@pytest.mark.parametrize("name", FORGERIES)
def test_a_chain_recomputed_without_the_key_fails(ledger, name):
    """The attack that passed before: change the entries, recompute chain and head. Without the
    device's key (here: a guessed one) every MAC is wrong."""
    _forge(ledger, FORGERIES[name](ledger.entries()), secrets.token_bytes(32))
    assert "MAC does not match" in _blocked(ledger)


@pytest.mark.parametrize("name", ["delete middle", "delete last"])
def test_recomputing_with_the_real_key_is_what_it_takes(ledger, name):
    """Control: the same forgery with the device's key passes the chain and head checks, and only
    the key store's record still catches it: the MAC key is what the checks rest on."""
    key = KeyStore().key()
    _forge(ledger, FORGERIES[name](ledger.entries()), key)
    problems = _blocked(ledger)
    assert "MAC does not match" not in problems and problems.startswith("the key store's record says")


def test_plain_line_edits_fail(ledger):
    lines = _lines(ledger)
    for tamper in ([lines[0], lines[2], lines[3], lines[4]],  # delete a middle line
                   lines[:-1],  # delete the last line (the head says 5)
                   [lines[0], lines[2], lines[1], *lines[3:]],  # reorder
                   lines + [lines[-1]],  # duplicate the last
                   [lines[0].replace(b'\\"n\\": 0', b'\\"n\\": 9'), *lines[1:]]):  # edit a body
        _write(ledger, tamper)
        _blocked(ledger)
    _write(ledger, lines)
    assert ledger.verify().ok


def test_deleting_the_ledger_where_one_existed_is_noticed(ledger):
    ledger.path.unlink()
    assert "deleted" in _blocked(ledger)
    ledger.head_path.unlink()
    assert "were deleted" in _blocked(ledger)
    assert ledger.verify().entries == 0


def test_deleting_the_key_store_record_or_the_key_is_noticed(ledger):
    ks = KeyStore()
    state = ks.state_path.read_bytes()
    ks.state_path.unlink()
    assert "record" in _blocked(ledger)
    ks.state_path.write_bytes(state)
    assert ledger.verify().ok
    ks.key_path.unlink()
    assert "key" in _blocked(ledger)


def test_an_interrupted_append_is_tolerated_and_repaired(ledger):
    """The entry is written before the head and the key store record: a crash in between leaves
    one MAC-valid entry more than the head says; that verifies, and the next append repairs it."""
    head = ledger.head_path.read_bytes()
    state = KeyStore().state_path.read_bytes()
    ledger.append(URL, b'{"n": 5}', "crashed before the head")
    ledger.head_path.write_bytes(head)
    KeyStore().state_path.write_bytes(state)
    assert ledger.verify().ok
    ledger.append(URL, b'{"n": 6}', "next")
    assert ledger.verify().ok and ledger.verify().entries == 7


DAMAGE = {
    "cut mid-line": (lambda led: led.path.write_bytes(led.path.read_bytes()[:-40]), "line 5: cut short"),
    "head is a JSON list": (lambda led: led.head_path.write_text("[1, 2]\n"), "ledger.head: not a JSON object"),
    "non-object line": (lambda led: _write(led, [*_lines(led)[:2], b"42", *_lines(led)[2:]]),
                        "line 3: not a JSON object"),
    "non-UTF-8 byte": (lambda led: _write(led, [_lines(led)[0][:-3] + b"\xff\"}", *_lines(led)[1:]]),
                       "line 1: not UTF-8"),
    "bad body_b64": (lambda led: _write(led, [*_lines(led)[:4], _lines(led)[4].replace(b'"body_b64":"', b'"body_b64":"!')]),
                     "line 5: body_b64 is not valid base64"),
    "same values, other spacing": (lambda led: _write(led, [json.dumps(json.loads(_lines(led)[0])).encode(),
                                                            *_lines(led)[1:]]), "line 1: not in the exact form"),
    "empty line": (lambda led: _write(led, [_lines(led)[0], b"", *_lines(led)[1:]]), "line 2: an empty line"),
    "deep nesting": (lambda led: _write(led, [*_lines(led), b"[" * 100_000]), "line 6: not valid JSON"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_damage_is_reported_by_line_never_a_traceback(ledger, name):
    damage, expected = DAMAGE[name]
    damage(ledger)
    assert expected in _blocked(ledger)
    out = run_cli("ledger", "verify")
    assert out.returncode == 2 and expected in out.stdout and "error:" in out.stderr, out
    assert "Traceback" not in out.stderr + out.stdout
    as_json = run_cli("ledger", "verify", "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["ok"] is False
    shown = run_cli("ledger", "show")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr


def _legacy_line(seq: int, prev: str) -> dict:
    e = {"seq": seq, "ts": "2026-11-23T12:00:00+00:00", "endpoint": URL, "method": "POST", "purpose": "old",
         "body": "{}", "body_sha256": hashlib.sha256(b"{}").hexdigest(), "prev": prev}
    return e | {"hash": hashlib.sha256(canonical(e)).hexdigest()}


def test_an_old_unkeyed_ledger_says_so_and_can_be_replaced(_isolated_home):
    led = Ledger()
    first = _legacy_line(0, "0" * 64)
    led.path.write_text(json.dumps(first) + "\n" + json.dumps(_legacy_line(1, first["hash"])) + "\n")
    led.head_path.write_text(json.dumps({"seq": 1, "hash": "x"}))
    report = led.verify()
    assert not report.ok and not report.keyed and "unauthenticated" in report.problems[0]
    _blocked(led)
    out = run_cli("ledger", "verify")
    assert out.returncode == 2 and "unauthenticated" in out.stdout and "ledger reset" in out.stdout
    reset = run_cli("ledger", "reset", "--yes")
    assert reset.returncode == 0 and reset.stdout.count(".old") == 2, reset
    assert sorted(p.name.split(".")[1] for p in _isolated_home.glob("ledger.*.old")) == ["head", "jsonl"]
    assert led.verify().ok and led.verify().entries == 0
    led.append(URL, b"{}", "new keyed ledger")
    assert led.verify().ok and led.verify().keyed


WRITER = """
import sys, time
from pathlib import Path
from cloud_bridge.ledger import Ledger
start = Path(sys.argv[3])
while not start.exists():  # all writers begin together, so their appends overlap
    time.sleep(0.005)
for i in range(int(sys.argv[2])):
    Ledger().append("http://127.0.0.1:9/v1/x", f'{{"w": "{sys.argv[1]}", "i": {i}}}'.encode(), "concurrent")
"""


def test_concurrent_writers_keep_the_ledger_valid(_isolated_home):
    n, writers, start = 30, "abcd", _isolated_home / "start"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, w, str(n), str(start)]) for w in writers]
    time.sleep(1.0)  # let them import; a slow start only means less overlap, never a wrong result
    start.touch()
    assert [p.wait(timeout=300) for p in procs] == [0] * len(writers)
    led = Ledger()
    report = led.verify()
    assert report.ok and report.entries == len(writers) * n, report
    bodies = sorted(json.loads(body_bytes(e))["w"] + str(json.loads(body_bytes(e))["i"]) for e in led.entries())
    assert bodies == sorted(f"{w}{i}" for w in writers for i in range(n))


def test_cli_show_verify_and_reset(ledger):
    shown = run_cli("ledger", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["mac"] for e in json.loads(shown.stdout)] == [e["mac"] for e in ledger.entries()]
    ok = run_cli("ledger", "verify", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    text = run_cli("ledger", "show", "--last", "1")
    assert text.returncode == 0 and "binary body" in text.stdout
    lines = _lines(ledger)
    _write(ledger, [lines[0], lines[2], lines[1], *lines[3:]])
    bad = run_cli("ledger", "verify")
    assert bad.returncode == 2 and "error:" in bad.stderr and "tampered" in bad.stderr
    assert run_cli("ledger", "reset", input="n\n").returncode != 0  # asks first; no answer, no reset
    assert not ledger.verify().ok


def test_reset_after_the_key_was_lost_starts_over(ledger):
    KeyStore().key_path.unlink()
    _blocked(ledger)
    assert len(ledger.reset()) == 2
    ledger.append(URL, b"{}", "after the reset")
    assert ledger.verify().ok and ledger.verify().entries == 1
