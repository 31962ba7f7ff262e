"""Scoring a PII detector on a hand-labelled corpus: recall and precision per entity type.

Corpus format: one sample per line, private spans written `[[TYPE:value]]`, `#` starts a comment
line. A gold span counts as found only when findings of its type cover every one of its
characters (a surname left outside the placeholder is a leak, not a hit). A finding is correct
when it overlaps a gold span of its own type; any other finding is a false positive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .spans import Finding

_SPAN = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]")


@dataclass(frozen=True)
class Labelled:
    """A text and its gold spans `(type, start, end)`."""

    text: str
    spans: tuple[tuple[str, int, int], ...]


def parse_labelled(line: str) -> Labelled:
    """`"call [[PERSON:Ann Lee]] now"` -> text "call Ann Lee now" with one PERSON span."""
    text, spans, pos = [], [], 0
    offset = 0
    for m in _SPAN.finditer(line):
        text.append(line[pos:m.start()])
        offset += m.start() - pos
        kind, value = m.group(1), m.group(2)
        spans.append((kind, offset, offset + len(value)))
        text.append(value)
        offset += len(value)
        pos = m.end()
    text.append(line[pos:])
    return Labelled("".join(text), tuple(spans))


def load_corpus(path: str | Path) -> list[Labelled]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [parse_labelled(line) for line in lines if line.strip() and not line.startswith("#")]


@dataclass
class Score:
    """Counts for one entity type."""

    found: int = 0  # gold spans fully covered
    gold: int = 0
    correct: int = 0  # findings overlapping a gold span of their type
    predicted: int = 0
    missed: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


def _covered(findings: Iterable[Finding], kind: str, start: int, end: int) -> bool:
    chars: set[int] = set()
    for f in findings:
        if f.type == kind:
            chars.update(range(max(f.start, start), min(f.end, end)))
    return len(chars) == end - start


def evaluate(samples: Iterable[Labelled], detect: Callable[[str], list[Finding]]) -> dict[str, Score]:
    """{type: Score} over every sample; types appear when they are gold or predicted."""
    scores: dict[str, Score] = {}
    for sample in samples:
        findings = detect(sample.text)
        for kind, start, end in sample.spans:
            score = scores.setdefault(kind, Score())
            score.gold += 1
            if _covered(findings, kind, start, end):
                score.found += 1
            else:
                score.missed.append(sample.text[start:end])
        for f in findings:
            score = scores.setdefault(f.type, Score())
            score.predicted += 1
            if any(k == f.type and s < f.end and f.start < e for k, s, e in sample.spans):
                score.correct += 1
            else:
                score.false_positives.append(f.value)
    return dict(sorted(scores.items()))


def overall_precision(scores: dict[str, Score]) -> float:
    predicted = sum(s.predicted for s in scores.values())
    return sum(s.correct for s in scores.values()) / predicted if predicted else 1.0


def format_table(scores: dict[str, Score]) -> str:
    rows = [f"{'type':<14} {'recall':>7} {'found':>8} {'precision':>9} {'correct':>9}"]
    for kind, s in scores.items():
        rows.append(f"{kind:<14} {s.recall:>7.3f} {s.found:>3}/{s.gold:<4} {s.precision:>9.3f} "
                    f"{s.correct:>4}/{s.predicted:<4}")
    rows.append(f"{'all':<14} {'':>7} {'':>8} {overall_precision(scores):>9.3f}")
    return "\n".join(rows)
