"""The user's own known entities (a local profile file) and name heuristics.

Profile file: TOML (`*.toml`) or JSON (`*.json`), default `$EDGESPLIT_HOME/profile.toml`.
Every key is optional; unknown keys are errors:

    names = ["Alice Martin", "Ali"]           # the device owner (PERSON)
    device_names = ["Alice's iPhone"]         # device/owner labels, e.g. Apple Health sourceName (PERSON)
    places = ["Springfield", "Lakeview Clinic"]   # home town, clinic, school... (LOCATION)
    employers = ["Acme Corp"]                 # (ORGANIZATION)
    other = ["Project Bluebird"]              # anything else to keep private (PERSON-like tag OTHER -> PERSON)

    [[contacts]]                              # or contacts = ["Bob Stone", ...]
    name = "Bob Stone"
    phone = "+1 415 555 0100"
    email = "bob@example.com"
    address = "12 Elm Street, Springfield"

Names match case-insensitively on word boundaries; the single words of a multi-word name
(>= 3 letters, written title-case in the text) match too, so "Ms. Martin" is caught.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProfileFileError
from .pii_gazetteer import words as _word_list
from .spans import Finding

_LIST_KEYS = {"names": "PERSON", "device_names": "PERSON", "places": "LOCATION",
              "employers": "ORGANIZATION", "other": "PERSON"}
_CONTACT_KEYS = {"name": "PERSON", "phone": "PHONE", "email": "EMAIL", "address": "ADDRESS"}


@dataclass
class KnownEntities:
    """(type, string) pairs the user declared private."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        value = " ".join(str(value).split())
        if value and (kind, value) not in self.entries:
            self.entries.append((kind, value))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def find(self, text: str) -> Iterator[Finding]:
        for kind, value in self.entries:
            yield from _find_literal(text, kind, value, 1.0)
            if kind == "PERSON":
                for part in value.split():
                    if len(part) >= 3 and part[0].isupper() and part != value:
                        for f in _find_literal(text, kind, part, 0.85, title_only=True):
                            yield _extend_name(f, text)


_NEXT_WORD = re.compile(r"[ \t]+([A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?)")


def _extend_name(f: Finding, text: str) -> Finding:
    """A known first name followed by title-case words ("Camille Alvarez") covers them too."""
    end = f.end
    for _ in range(2):
        m = _NEXT_WORD.match(text, end)
        if not m or m.group(1) in _NOT_NAMES:
            break
        end = m.end()
    return f if end == f.end else Finding(f.type, f.start, end, f.score, text[f.start:end])


def _find_literal(text: str, kind: str, value: str, score: float, title_only: bool = False) -> Iterator[Finding]:
    words = [re.escape(w) for w in value.split()]
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", 0 if title_only else re.I)
    for m in pattern.finditer(text):
        yield Finding(kind, m.start(), m.end(), score, m.group())


def load_profile(path: str | Path | None = None) -> KnownEntities:
    """Read a profile file; with no path, `$EDGESPLIT_HOME/profile.toml` (or .json) if present."""
    if path is None:
        from edge.models import edgesplit_home

        home = edgesplit_home()
        found = [p for p in (home / "profile.toml", home / "profile.json") if p.is_file()]
        if not found:
            return KnownEntities()
        path = found[0]
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileFileError(f"cannot read profile file {path}: {exc.strerror}") from None
    data = _parse(path, raw)
    return entities_from_dict(data, str(path))


def _parse(path: Path, raw: bytes) -> dict:
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProfileFileError(f"profile file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileFileError(f"profile file {path} must hold an object/table at the top level")
    return data


def entities_from_dict(data: dict, origin: str = "profile") -> KnownEntities:
    unknown = set(data) - set(_LIST_KEYS) - {"contacts"}
    if unknown:
        raise ProfileFileError(f"{origin}: unknown keys {sorted(unknown)}; use {sorted([*_LIST_KEYS, 'contacts'])}")
    known = KnownEntities()
    for key, kind in _LIST_KEYS.items():
        for value in _strings(data.get(key, []), f"{origin}: {key}"):
            known.add(kind, value)
    for contact in _as_list(data.get("contacts", []), f"{origin}: contacts"):
        if isinstance(contact, str):
            known.add("PERSON", contact)
            continue
        if not isinstance(contact, dict) or set(contact) - set(_CONTACT_KEYS):
            raise ProfileFileError(f"{origin}: each contact is a name or a table with keys {sorted(_CONTACT_KEYS)}")
        for key, kind in _CONTACT_KEYS.items():
            for value in _strings(contact.get(key, []), f"{origin}: contact {key}"):
                known.add(kind, value)
    return known


def _as_list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise ProfileFileError(f"{where} must be a list")
    return value


def _strings(value: object, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else _as_list(value, where)
    if not all(isinstance(v, str) for v in values):
        raise ProfileFileError(f"{where} must hold strings")
    return values


# -- heuristics for names the profile does not know ------------------------------------------
_NAME = r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?"
HONORIFIC = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Mme|Herr|Frau|Sr|Sra)\.?\s+((?:{_NAME}[ \t]+){{0,2}}{_NAME})\b")
CUE = re.compile(
    r"\b(?:[Dd]ear|[Mm]y name is|I am|I'm|[Hh]i|[Hh]ello|[Tt]hanks|[Cc]ontact|[Cc]all|[Ee]mail|[Aa]sk|[Tt]ell|named|called|with|from|by|cc|"
    r"(?:[Mm]y|[Oo]ur|[Hh]is|[Hh]er)\s+(?:wife|husband|partner|son|daughter|friend|colleague|boss|manager|doctor|"
    r"nurse|mother|mom|father|dad|brother|sister|aunt|uncle|cousin|neighbou?r|landlord|lawyer|therapist|dentist|"
    r"grandmother|grandfather|coach|teacher|roommate|fianc[ée]e?|assistant))"
    rf",?[ \t]+({_NAME}(?:[ \t]+{_NAME}){{0,2}})\b")
# Title-case words that follow a cue but are not names
_NOT_NAMES = frozenset(
    "The A An This That These Those It I We You They He She My Our Your His Her Their Monday Tuesday Wednesday "
    "Thursday Friday Saturday Sunday January February March April May June July August September October "
    "November December Team All Everyone Sir Madam Regards Best Thanks Hello Hi Dear Please Today Tomorrow "
    "Yesterday Support Customer Service Sales Hospital Clinic Bank Street Road Avenue Office Home Work "
    "English French German Spanish Python Java Mr Mrs Ms Dr Prof".split())


def not_names() -> frozenset[str]:
    """Title-case words that are never part of a name ("New", "York", "Monday", "Microsoft")."""
    return _word_list("not_names.txt")


def find_names(text: str) -> Iterator[Finding]:
    """Names after an honorific ("Dr. Okafor") or a cue ("Dear Priya", "my colleague Tom Berg")."""
    for m in HONORIFIC.finditer(text):
        yield Finding("PERSON", m.start(1), m.end(1), 0.8, m.group(1))
    for m in CUE.finditer(text):
        words = m.group(1).split()
        while words and words[-1] in _NOT_NAMES:
            words.pop()
        if not words or words[0] in _NOT_NAMES or any(w in not_names() for w in words):
            continue
        name = " ".join(words)
        yield Finding("PERSON", m.start(1), m.start(1) + len(name), 0.6, name)
