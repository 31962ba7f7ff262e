"""Person names in Latin script without cue words: gazetteers, capitalisation and name shape.

Text is cut into runs of adjacent title-case words (with particles such as "van der", "de la",
"bin" inside). A run is a name when its first word is a known given name, when it starts with a
known East Asian surname, or when it has two or more words and none is a dictionary word
("Thabo Mokoena"). The finding covers the whole run, so surnames with "O'", "Mc", hyphens or
particles never stay outside the placeholder. A lower-case word is a name when it is a given name
and not a dictionary word ("met with jonas", never "will" or "mark"). Sentence-initial words that
are dictionary words ("Tell", "Hope") are dropped from the front of a run first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import pii_gazetteer as gz
from .spans import Finding

_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[A-Z])|-(?=[^\W\d_]))*")
PARTICLES = frozenset("van der den de del della di da das dos du la le von zu ter ten bin ibn bint al el y".split())
# a name right after these is a place or a building ("St Anne's", "Lake Victoria")
PLACE_PREFIXES = frozenset("St St. Saint Ste Mount Mt Lake Fort Port Cape Glen".split())
_SENTENCE_END = ".!?:;\n\"“”«»()[]-–—•*"


def _is_title(tok: str) -> bool:
    return tok[0].isupper() and not tok.isupper() or (len(tok) == 1 and tok.isupper())


def _linked(tok: str) -> bool:
    """"al-Hashimi", "el-Sayed", "bin-Laden": a particle hyphened to a title-case name."""
    head, _, tail = tok.partition("-")
    return head.lower() in PARTICLES and bool(tail) and tail[0].isupper()


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t")
    return not before or before[-1] in _SENTENCE_END


def _runs(text: str) -> Iterator[list[re.Match]]:
    """Maximal runs of title-case words joined by single spaces, particles allowed inside."""
    run: list[re.Match] = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        joined = run and text[run[-1].end():m.start()] == " "
        if not joined:
            if run:
                yield run
            run = []
        if (_is_title(tok) or _linked(tok)) and tok not in gz.words("not_names.txt"):
            run.append(m)
        elif run and tok.lower() in PARTICLES and text[m.end():m.end() + 1] == " ":
            run.append(m)  # kept only if a title-case word follows (trimmed below)
        else:
            if run:
                yield run
            run = []
    if run:
        yield run


def _after_place_word(text: str, start: int) -> bool:
    words = text[max(0, start - 8):start].split()
    return bool(words) and words[-1] in PLACE_PREFIXES


def _trim(run: list[re.Match]) -> list[re.Match]:
    while run and run[-1].group().lower() in PARTICLES:
        run = run[:-1]
    return run


def _is_word(tok: str) -> bool:
    low = tok.lower()
    return low in gz.dictionary_words() and low not in gz.words("names_not_words.txt")


def _given(tok: str) -> bool:
    return tok.lower() in gz.given_names()


def _judge(run: list[re.Match], text: str) -> float:
    """Score of a run as a person's name, 0 when it is not one."""
    toks = [m.group() for m in run]
    first, rest = toks[0], [t for t in toks[1:] if t.lower() not in PARTICLES]
    if first.lower() in gz.words("everyday_names.txt"):
        # "Grace Kelly" yes, "Hope" or "Faith Lane" no
        return 0.7 if rest and not _is_word(rest[0]) else 0.0
    if _given(first) and not (_sentence_initial(text, run[0].start()) and _is_word(first) and not rest):
        return 0.7
    if first.lower() in gz.words("surnames_east_asian.txt") and rest:
        return 0.65
    if rest and not any(_is_word(t) for t in toks if t.lower() not in PARTICLES):
        return 0.6
    return 0.0


def find_latin_names(text: str) -> Iterator[Finding]:
    for run in _runs(text):
        # a capitalised sentence opener ("Tell", "Please") is not part of the name after it
        while run and _sentence_initial(text, run[0].start()) and _is_word(run[0].group()) and not _given(run[0].group()):
            run = run[1:]
        while run and run[0].group().lower() in PARTICLES:
            run = run[1:]
        run = _trim(run)
        if not run or _after_place_word(text, run[0].start()):
            continue
        score = _judge(run, text)
        if score:
            start, end = run[0].start(), run[-1].end()
            yield Finding("PERSON", start, end, score, text[start:end])


def find_lowercase_names(text: str) -> Iterator[Finding]:
    """"met with jonas": a given name that is no dictionary word, written in lower case."""
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.islower() and len(tok) >= 3 and _given(tok) and not _is_word(tok) \
                and tok not in gz.words("everyday_names.txt") and tok not in gz.words("function_words.txt"):
            yield Finding("PERSON", m.start(), m.end(), 0.6, tok)
