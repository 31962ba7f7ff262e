"""The outbound ledger: hash chain, tamper detection (edit, delete, reorder, truncate), CLI."""

from __future__ import annotations

import json

import pytest

from cloud_bridge.ledger import Ledger, body_bytes
from tests.conftest import run_cli


@pytest.fixture
def ledger(_isolated_home) -> Ledger:
    led = Ledger()
    for i in range(4):
        led.append("http://127.0.0.1:9/v1/chat/completions", f'{{"n": {i}, "t": "é"}}'.encode(), f"test {i}")
    led.append("http://127.0.0.1:9/v1/x", b"\xff\x00binary", "binary body")
    return led


def _lines(led: Ledger) -> list[str]:
    return led.path.read_text(encoding="utf-8").splitlines()


def test_chain_verifies_and_keeps_exact_bytes(ledger):
    report = ledger.verify()
    assert report.ok and report.entries == 5
    entries = ledger.entries()
    assert body_bytes(entries[0]) == '{"n": 0, "t": "é"}'.encode()
    assert body_bytes(entries[4]) == b"\xff\x00binary" and "body_b64" in entries[4]
    assert [e["seq"] for e in entries] == list(range(5))
    assert all(entries[i]["prev"] == entries[i - 1]["hash"] for i in range(1, 5))


def _edit(led: Ledger) -> None:
    lines = _lines(led)
    e = json.loads(lines[1])
    e["body"] = e["body"].replace("1", "7")
    lines[1] = json.dumps(e, ensure_ascii=False, sort_keys=True)
    led.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _delete(led: Ledger) -> None:
    lines = _lines(led)
    del lines[2]
    led.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _reorder(led: Ledger) -> None:
    lines = _lines(led)
    lines[1], lines[2] = lines[2], lines[1]
    led.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _truncate(led: Ledger) -> None:
    led.path.write_text("\n".join(_lines(led)[:-1]) + "\n", encoding="utf-8")


@pytest.mark.parametrize("tamper", [_edit, _delete, _reorder, _truncate])
def test_tampering_is_detected(ledger, tamper):
    tamper(ledger)
    report = ledger.verify()
    assert not report.ok and report.problems


def test_cli_show_and_verify(ledger):
    shown = run_cli("ledger", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["hash"] for e in json.loads(shown.stdout)] == [e["hash"] for e in ledger.entries()]
    ok = run_cli("ledger", "verify", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    text = run_cli("ledger", "show", "--last", "1")
    assert text.returncode == 0 and "binary body" in text.stdout
    _reorder(ledger)
    bad = run_cli("ledger", "verify")
    assert bad.returncode == 2 and "error:" in bad.stderr and "tampered" in bad.stderr
    bad_json = run_cli("ledger", "verify", "--json")
    assert bad_json.returncode == 2 and json.loads(bad_json.stdout)["ok"] is False
