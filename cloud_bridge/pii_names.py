"""Person names in Latin script without cue words: gazetteers, capitalisation and name shape.

Text is cut into runs of adjacent title-case words (with particles such as "van der", "de la",
"bin" inside). A run is a name when its first word is a known given name, when it starts with a
known East Asian surname, or when its first word is no dictionary word and the others are no
dictionary words or known surnames ("Thabo Mokoena", "Horatio Blackwood"; at a sentence start the
last must be a known surname, so German "Unsere Adresse" is not a name). The finding covers the
whole run, so surnames with "O'", "Mc", hyphens or particles never stay outside the placeholder.
A lower-case word is a name when it is a given name and not an everyday word ("met with jonas",
never "will" or "mark"). Sentence openers ("Tell", "Please", "Meine") are dropped from a run first;
an unknown word joined by "and" to a name is a name too ("Ayla and Deniz").
"""

from __future__ import annotations

import re
import unicodedata
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
    before = text[max(0, start - 16):start].rstrip(" \t")
    if not before and start > 16:
        return False  # a long run of blanks: no sentence start seen, treat as mid-sentence
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


_NEXT_WORD = re.compile(r" ([A-Z][\w'’]*)")


def _before_proper_noun(text: str, end: int) -> bool:
    """"Albert Hall", "Lincoln Memorial": a lone given name inside the name of a place or a thing."""
    m = _NEXT_WORD.match(text, end)
    return bool(m) and m.group(1) in gz.words("not_names.txt")


def _trim(run: list[re.Match]) -> list[re.Match]:
    while run and run[-1].group().lower() in PARTICLES:
        run = run[:-1]
    return run


def _is_word(tok: str) -> bool:
    """A dictionary word; a given name counts only when it is an everyday word ("will", not "emma")."""
    low = tok.lower()
    if low in gz.given_names():
        return low in gz.words("everyday_names.txt")
    return low in gz.dictionary_words()


def _fold(tok: str) -> list[str]:
    """Lookup keys of a word: lower case without accents, and each part of a hyphenated word."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", tok.lower()) if not unicodedata.combining(c))
    return [plain, *plain.split("-")] if "-" in plain else [plain]


def _given(tok: str) -> bool:
    return any(k in gz.given_names() for k in _fold(tok))


def _surname(tok: str) -> bool:
    return any(k in gz.surnames() for k in _fold(tok))


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
    # "Thabo Mokoena", "Horatio Blackwood": unknown words, the later ones no word or a surname;
    # at a sentence start ("Unsere Adresse") the last one must be a known surname
    if rest and not _is_word(first) and all(not _is_word(t) or _surname(t) for t in rest) \
            and (not _sentence_initial(text, run[0].start()) or _surname(rest[-1])):
        return 0.6
    return 0.0


_COORD = r",? (?:and|or|&|und|et|y|e|og|och|en) "
_NAME_WORD = r"[A-Z][^\W\d_]+(?:(?:['’][A-Z]|-)[^\W\d_]+)*"
_BEFORE_COORD = re.compile(rf"({_NAME_WORD}){_COORD}$")
_AFTER_COORD = re.compile(rf"{_COORD}({_NAME_WORD})\b")


def _coordinated(text: str, found: list[Finding]) -> Iterator[Finding]:
    """"Ayla and Deniz": an unknown title-case word joined by "and" to a name is a name too."""
    for f in found:
        before = _BEFORE_COORD.search(text, max(0, f.start - 40), f.start)
        after = _AFTER_COORD.match(text, f.end)
        for m in (before, after):
            if m and not _is_word(m.group(1)) and m.group(1) not in gz.words("not_names.txt"):
                yield Finding("PERSON", m.start(1), m.end(1), 0.6, m.group(1))


MAX_NAME_WORDS = 6  # a longer title-case run is a heading or a title, not one person's name


def find_latin_names(text: str) -> Iterator[Finding]:
    found = list(_latin_runs(text))
    yield from found
    yield from _coordinated(text, found)


def _opener(tok: str) -> bool:
    """A capitalised sentence opener that is not a name: "Tell", "Please", Spanish "Mi", German "Meine"."""
    return tok.lower() in gz.words("function_words.txt") or (_is_word(tok) and not _given(tok))


def _latin_runs(text: str) -> Iterator[Finding]:
    for run in _runs(text):
        if len(run) > MAX_NAME_WORDS:
            continue
        # a capitalised sentence opener ("Tell", "Please") is not part of the name after it
        while run and _sentence_initial(text, run[0].start()) and _opener(run[0].group()):
            run = run[1:]
        while run and run[0].group().lower() in PARTICLES:
            run = run[1:]
        run = _trim(run)
        if not run or _after_place_word(text, run[0].start()) or (len(run) == 1 and _before_proper_noun(text, run[0].end())):
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
                and tok not in gz.words("function_words.txt"):
            yield Finding("PERSON", m.start(), m.end(), 0.6, tok)
