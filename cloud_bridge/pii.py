"""PII detection without an NLP stack: validated patterns, the user's known entities, name cues.

    detector = Detector(known=load_profile())
    findings = detector.detect("Call Dr. Okafor at +44 20 7946 0958")
    # [Finding(type='PERSON', start=8, end=14, ...), Finding(type='PHONE', ...)]

Overlapping findings of the same type are first merged into their union; then overlaps are
resolved greedily: a higher score wins, then the longer span, then the earlier one;
a span that overlaps an accepted one is dropped (so "12 Elm Street" as ADDRESS beats a shorter
PERSON guess inside it, and a known contact's phone beats the generic phone match).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .entities import KnownEntities, find_names
from .patterns import DEFAULT_PHONE_REGIONS, PATTERN_DETECTORS, find_phones
from .pii_address import find_addresses
from .pii_email import find_emails
from .pii_ids import ID_DETECTORS
from .pii_names import find_latin_names, find_lowercase_names
from .pii_scripts import SCRIPT_NAME_DETECTORS
from .spans import ENTITY_TYPES, Finding

# every detector that needs no configuration: validated patterns, labelled identifiers, addresses
FIXED_DETECTORS = (*PATTERN_DETECTORS, find_emails, find_addresses, *ID_DETECTORS)
# names without cue words: gazetteers and capitalisation (Latin), script-aware rules (the others)
NAME_DETECTORS = (find_names, find_latin_names, find_lowercase_names, *SCRIPT_NAME_DETECTORS)


def merge_same_type(findings: Iterable[Finding], text: str) -> list[Finding]:
    """Overlapping findings of one type become their union ("Ingrid" + "Ingrid Bauer")."""
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.type, f.start)):
        last = merged[-1] if merged else None
        if last is not None and last.type == f.type and f.start < last.end:
            end = max(last.end, f.end)
            merged[-1] = Finding(f.type, last.start, end, max(last.score, f.score), text[last.start:end])
        else:
            merged.append(f)
    return merged


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset, best (score, length) first; return it in text order."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in ranked:
        if f.end > f.start and not any(f.overlaps(k) for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


@dataclass
class Detector:
    """Finds personal data in text. `types` limits the entity types reported (default: all)."""

    known: KnownEntities = field(default_factory=KnownEntities)
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    name_heuristics: bool = True
    types: frozenset[str] = frozenset(ENTITY_TYPES)

    def _sources(self) -> list[Callable[[str], Iterator[Finding]]]:
        sources: list[Callable[[str], Iterator[Finding]]] = list(FIXED_DETECTORS)
        sources.append(lambda text: find_phones(text, self.phone_regions))
        sources.append(self.known.find)
        if self.name_heuristics:
            sources.extend(NAME_DETECTORS)
        return sources

    def candidates(self, text: str) -> list[Finding]:
        """Every raw match, before overlap resolution."""
        return [f for source in self._sources() for f in source(text) if f.type in self.types]

    def detect(self, text: str) -> list[Finding]:
        return resolve_overlaps(merge_same_type(self.candidates(text), text))
