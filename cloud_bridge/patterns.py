"""Validated pattern detectors: each regex candidate must also pass a checksum or a parser.

URL, phone (libphonenumber), credit card (Luhn + issuer prefix), IBAN (mod-97), US SSN
(area/group/serial rules), IPv4/IPv6 (`ipaddress`) and dates of birth (a real date near
"born"/"DOB"/"date of birth"). Emails, addresses and labelled identifiers have their own modules
(`pii_email`, `pii_address`, `pii_ids`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import datetime

import phonenumbers

from .spans import Finding

URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.I)
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN_START = re.compile(r"\b([A-Z]{2})(\d{2})(?=[ ]?[A-Z0-9])")
SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
SSN_BARE = re.compile(r"\b(?:SSN|social security(?: number)?)\W{0,3}(?:is\s+|no\.?\s*|#\s*)?(\d{9})\b", re.I)
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
DATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}"
    rf"|(?:{MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{MONTHS})\.?,? \d{{4}})\b")
DOB_CUE = re.compile(r"\b(?:born|DOB|D\.O\.B\.?|date of birth|birth ?date|birthday|b\.)\b", re.I)
# IBAN length per country (ISO 13616 registry, the common ones)
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "AE": 23, "BR": 29, "IL": 23,
}
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "ES", "IT", "NL")


def _f(kind: str, m_start: int, m_end: int, text: str, score: float) -> Finding:
    return Finding(kind, m_start, m_end, score, text[m_start:m_end])


def find_urls(text: str) -> Iterator[Finding]:
    for m in URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)]}'\"":
            end -= 1  # trailing punctuation belongs to the sentence, not the URL
        if end - m.start() > 7:
            yield _f("URL", m.start(), end, text, 0.9)


def find_phones(text: str, regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> Iterator[Finding]:
    """International numbers in any region; national formats in `regions` (libphonenumber, VALID);
    "+" numbers that are only POSSIBLE (ranges newer than the metadata) score lower."""
    seen: set[tuple[int, int]] = set()
    for region in regions:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            digits = sum(c.isdigit() for c in m.raw_string)
            if (m.start, m.end) in seen or digits < (7 if m.raw_string.startswith("+") else 8):
                continue  # short numbers ("in 1648", postcode "060-0001") are valid somewhere, rarely a phone
            seen.add((m.start, m.end))
            yield _f("PHONE", m.start, m.end, text, 0.95 if m.raw_string.startswith("+") else 0.85)
    # "+44 7911 654321": a country code and a possible length, in a range the metadata lists as unused
    for m in phonenumbers.PhoneNumberMatcher(text, "ZZ", leniency=phonenumbers.Leniency.POSSIBLE):
        if m.raw_string.startswith("+") and (m.start, m.end) not in seen and sum(c.isdigit() for c in m.raw_string) >= 9:
            yield _f("PHONE", m.start, m.end, text, 0.8)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9])|35|62)")


def find_cards(text: str) -> Iterator[Finding]:
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits):
            yield _f("CREDIT_CARD", m.start(), m.end(), text, 0.95)


def iban_ok(iban: str) -> bool:
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_ibans(text: str) -> Iterator[Finding]:
    for m in IBAN_START.finditer(text):
        want = IBAN_LENGTHS.get(m.group(1))
        if want is None:
            continue
        chars, i = [], m.start()
        while i < len(text) and len(chars) < want and (text[i].isalnum() and text[i].isascii() or text[i] == " "):
            if text[i] != " ":
                chars.append(text[i].upper())
            i += 1
        iban = "".join(chars)
        if len(iban) == want and iban_ok(iban) and not (i < len(text) and text[i].isalnum()):
            yield _f("IBAN", m.start(), i, text, 0.99)


def ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def find_ssns(text: str) -> Iterator[Finding]:
    for m in SSN.finditer(text):
        if ssn_ok(m.group(1), m.group(3), m.group(4)):
            yield _f("SSN", m.start(), m.end(), text, 0.9 if m.group(2) == "-" else 0.75)
    for m in SSN_BARE.finditer(text):
        d = m.group(1)
        if ssn_ok(d[:3], d[3:5], d[5:]):
            yield _f("SSN", m.start(1), m.end(1), text, 0.9)


def find_ips(text: str) -> Iterator[Finding]:
    for m in IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        yield _f("IP_ADDRESS", m.start(), m.end(), text, 0.85)
    for m in IPV6.finditer(text):
        try:
            ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        if m.group().count(":") >= 2 and any(c.isalnum() for c in m.group()):
            yield _f("IP_ADDRESS", m.start(), m.end(), text, 0.9)


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m-%d-%Y", "%d-%m-%Y", "%m/%d/%y",
                 "%d/%m/%y", "%d.%m.%y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y")


def parse_date(raw: str) -> datetime | None:
    s = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", raw.replace(",", "").replace(" of ", " "))
    s = re.sub(r"\.(?= )", "", s).replace("Sept ", "Sep ")
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def find_dobs(text: str, window: int = 40) -> Iterator[Finding]:
    """A valid date whose preceding `window` characters hold a birth cue."""
    for m in DATE.finditer(text):
        if parse_date(m.group()) is None:
            continue
        if DOB_CUE.search(text[max(0, m.start() - window):m.start()]):
            yield _f("DATE_OF_BIRTH", m.start(), m.end(), text, 0.9)


PATTERN_DETECTORS = (find_urls, find_cards, find_ibans, find_ssns, find_ips, find_dobs)
