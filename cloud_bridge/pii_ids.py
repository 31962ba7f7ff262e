"""Identifiers that only a label makes personal: passports, bank accounts, record numbers.

A bare "502135326" is any number; after "passport no." (in one of several languages) it is a
passport. Each finder pairs a label regex with the identifier shape that may follow it within a
few words, so "Passport number, issued 2019: 502135326" and "パスポート番号は TK1234567" both work.
Routing numbers must also pass the ABA checksum.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .spans import Finding

_SEP = r"(?:[\s:#.,()'\"=-]|n°|nº|は|：|番号|号码|номер)"
# at most four short words between a label and its value ("passport number, issued 2019:")
_GAP = rf"{_SEP}*(?:[a-zäöüéè]{{1,8}}{_SEP}+){{0,4}}?"
_ID = r"(?=[A-Z0-9]*\d)[A-Z0-9]{6,10}"

PASSPORT = re.compile(
    r"(?:passport|passeport|reisepass|pasaporte|passaporto|paspoort|паспорт|パスポート|护照|護照)"
    r"(?:nummer|number)?" + _GAP + rf"(?<![A-Za-z0-9])({_ID}|\d{{4}} \d{{6}})(?![A-Za-z0-9])", re.I)
ACCOUNT = re.compile(
    r"(?:account|acct|a/c|konto|kontonummer|compte|cuenta|conto|счёт|счет|口座)" + _GAP +
    r"(?<![A-Za-z0-9])(\d(?:[ -]?\d){5,16})(?![A-Za-z0-9-])", re.I)
SORT_CODE = re.compile(r"(?:sort code|BSB)" + _GAP + r"(?<![A-Za-z0-9])(\d{2}[- ]?\d{2}[- ]?\d{2}|\d{3}-\d{3})(?![A-Za-z0-9-])", re.I)
# the account number written before its sort code: "pay 20194857 with sort code 60-83-71"
ACCOUNT_BEFORE_SORT = re.compile(r"(?<![A-Za-z0-9-])(\d{6,10})(?![A-Za-z0-9-])(?=[^.\n]{0,30}?\bsort code)", re.I)
ROUTING = re.compile(r"(?:routing|ABA|RTN|BLZ|Bankleitzahl)(?: number| no\.?)?" + _GAP + r"(?<![A-Za-z0-9])(\d{8,9})(?![A-Za-z0-9])",
                     re.I)
MRN = re.compile(
    r"(?:MRN|medical record|record|patient(?:en)?(?: ?id| ?number| ?no\.?|nummer)|hospital (?:number|no\.?)|"
    r"chart (?:number|no\.?)|NHS number|dossier patient)" + _GAP +
    r"(?<![A-Za-z0-9])(\d{3} \d{3} \d{4}|[A-Z]{0,4}[-/]?\d[\dA-Z]*(?:[-/][\dA-Z]+)*)(?![A-Za-z0-9])", re.I)


def aba_ok(digits: str) -> bool:
    """US routing number checksum: 3-7-1 weights, sum divisible by 10."""
    if len(digits) != 9:
        return len(digits) == 8  # a German BLZ has no checksum
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def _group(kind: str, m: re.Match, score: float, text: str) -> Finding:
    return Finding(kind, m.start(1), m.end(1), score, text[m.start(1):m.end(1)])


def find_passports(text: str) -> Iterator[Finding]:
    for m in PASSPORT.finditer(text):
        yield _group("PASSPORT", m, 0.97, text)


def find_accounts(text: str) -> Iterator[Finding]:
    for m in ACCOUNT.finditer(text):
        yield _group("ACCOUNT", m, 0.96, text)
    for m in ACCOUNT_BEFORE_SORT.finditer(text):
        yield _group("ACCOUNT", m, 0.96, text)
    for m in SORT_CODE.finditer(text):
        yield _group("ACCOUNT", m, 0.96, text)
    for m in ROUTING.finditer(text):
        if aba_ok(m.group(1)):
            yield _group("ACCOUNT", m, 0.96, text)


def find_record_numbers(text: str) -> Iterator[Finding]:
    for m in MRN.finditer(text):
        if sum(c.isdigit() for c in m.group(1)) >= 4:
            yield _group("MRN", m, 0.96, text)


ID_DETECTORS = (find_passports, find_accounts, find_record_numbers)
