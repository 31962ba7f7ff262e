"""Stable typed placeholders: "Call Bob at 555-0100" -> "Call <PERSON_1> at <PHONE_1>", and back.

The same value always gets the same placeholder within one conversation (matching ignores case
and spacing, and phone/card/IBAN punctuation). `restore` puts the originals back into the cloud's
answer and tolerates light mangling by the cloud model: missing or different brackets
(`PERSON_1`, `[PERSON_1]`, `{PERSON_1}`, `&lt;PERSON_1&gt;`), a space or hyphen for the underscore, other case.
A placeholder that was never mapped is left exactly as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .pii import Detector, merge_same_type, resolve_overlaps
from .spans import TAGS, Finding

_TAG_ALT = "|".join(sorted(set(TAGS.values()), key=len, reverse=True))
# optional opening bracket, TAG, separator, number, optional closing bracket
MANGLED = re.compile(
    rf"((?:&lt;|[<\[{{])\s?)?\b({_TAG_ALT})([_ -]?)(\d+)(?!\d)(\s?(?:&gt;|[>\]}}]))?", re.I)


def normalize(kind: str, value: str) -> str:
    """The key two spellings of one value share ("+1 (415) 555-0100" == "+14155550100")."""
    if kind in ("PHONE", "CREDIT_CARD", "SSN"):
        return kind + ":" + re.sub(r"\D", "", value)
    if kind == "IBAN":
        return kind + ":" + re.sub(r"\s", "", value).upper()
    return kind + ":" + " ".join(value.split()).casefold()


class Pseudonymizer:
    """Holds one conversation's mapping; `state()`/`from_state()` persist it (through the Vault)."""

    def __init__(self, detector: Detector | None = None) -> None:
        self.detector = detector or Detector()
        self.originals: dict[str, str] = {}  # "<PERSON_1>" -> "Bob Stone"
        self._keys: dict[str, str] = {}  # normalized value -> placeholder
        self._counts: dict[str, int] = {}

    # -- mapping --------------------------------------------------------------------------
    def placeholder_for(self, kind: str, value: str) -> str:
        key = normalize(kind, value)
        if key not in self._keys:
            tag = TAGS.get(kind, kind)
            self._counts[tag] = self._counts.get(tag, 0) + 1
            ph = f"<{tag}_{self._counts[tag]}>"
            self._keys[key] = ph
            self.originals[ph] = value
        return self._keys[key]

    def state(self) -> dict:
        return {"originals": dict(self.originals), "keys": dict(self._keys), "counts": dict(self._counts)}

    def fork(self) -> Pseudonymizer:
        """A copy of the mapping (same detector) to try texts on without changing this one."""
        return Pseudonymizer.from_state(self.state(), self.detector)

    @classmethod
    def from_state(cls, state: dict, detector: Detector | None = None) -> Pseudonymizer:
        p = cls(detector)
        p.originals = dict(state.get("originals", {}))
        p._keys = dict(state.get("keys", {}))
        p._counts = {k: int(v) for k, v in state.get("counts", {}).items()}
        return p

    # -- forward --------------------------------------------------------------------------
    def apply(self, text: str, findings: Iterable[Finding]) -> str:
        """Replace each (non-overlapping) finding by its placeholder."""
        out, pos = [], 0
        for f in sorted(findings, key=lambda f: f.start):
            if f.start < pos:
                continue
            out.append(text[pos:f.start])
            out.append(self.placeholder_for(f.type, text[f.start:f.end]))
            pos = f.end
        out.append(text[pos:])
        return "".join(out)

    def pseudonymize(self, text: str) -> tuple[str, list[Finding]]:
        """Detect and replace; also replace any value already mapped in this conversation."""
        candidates = self.detector.candidates(text) + self._mapped_findings(text)
        findings = resolve_overlaps(merge_same_type(candidates, text))
        text = self.apply(text, findings)
        return self.scrub_known(text), findings

    def _mapped_findings(self, text: str) -> list[Finding]:
        """Values already mapped in this conversation, found again (case-insensitive)."""
        found = []
        for original in set(self.originals.values()):
            words = [re.escape(w) for w in original.split()]
            if not words:
                continue
            for m in re.finditer(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", text, flags=re.I):
                kind = self._kind_of(original)
                found.append(Finding(kind, m.start(), m.end(), 1.0, m.group()))
        return found

    def _kind_of(self, original: str) -> str:
        ph = next(k for k, v in self.originals.items() if v == original)
        tag = ph[1:ph.rindex("_")]
        return next((kind for kind, t in TAGS.items() if t == tag), tag)

    def scrub_known(self, text: str) -> str:
        """Replace every already-mapped original (case-insensitive) that detection missed here."""
        for ph, original in sorted(self.originals.items(), key=lambda kv: -len(kv[1])):
            words = [re.escape(w) for w in original.split()]
            if words:
                text = re.sub(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", ph, text, flags=re.I)
        return text

    def private_values(self) -> list[str]:
        return list(self.originals.values())

    # -- backward -------------------------------------------------------------------------
    def restore(self, text: str) -> str:
        """Put mapped originals back; unknown or unmapped placeholders stay untouched."""
        lookup = {k.upper(): v for k, v in self.originals.items()}

        def swap(m: re.Match) -> str:
            opened, tag, sep, num, closed = m.groups()
            # a bare "phone 1" in prose is not a placeholder: need a bracket, "_" or upper case
            if not (opened or closed or sep == "_" or tag.isupper()):
                return m.group(0)
            original = lookup.get(f"<{tag.upper()}_{num}>")
            return original if original is not None else m.group(0)

        return MANGLED.sub(swap, text)
