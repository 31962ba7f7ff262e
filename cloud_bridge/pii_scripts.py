"""Person names in Cyrillic, Chinese, Japanese, Korean and Arabic script, without cue words.

Each script has its own signal:
- Cyrillic: a known given name in any case form ("Наталью", "Дмитрию") or a run of title-case
  words with surname/patronymic endings ("-ов", "-ская", "-енко", "-вна"), next to a given name;
- Chinese: a common surname plus one or two characters, bounded by punctuation, the text's edge or
  the function characters around a name (和, 给, 是, 说 ...); in Japanese text (it has kana): a
  common kanji surname that opens a run of at most three more kanji, followed by kana or an
  honorific, never by a place suffix (県, 市, 駅);
- Korean: a three-syllable word opening with a surname, followed by 씨 or 님;
- Arabic: a known given name plus the names, "ال" family names and بن/أبو links after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import pii_gazetteer as gz
from .spans import Finding

_CYR_WORD = re.compile(r"[А-ЯЁЇІЄҐ][а-яёїієґ'’-]+")
_CYR_SURNAME = re.compile(
    r"(?:ов|ев|ёв|ин|ын|ова|ева|ёва|ина|ына|ский|ская|цкий|цкая|енко|чук|ук|юк|вич|вна|ична|швили|дзе|ян)"
    r"(?:а|у|ым|ой|ом|е|ого|ому|ую|ой)?$")


def _cyr_given(tok: str) -> bool:
    names = gz.words("given_names_cyrillic.txt")
    stems = (tok, tok[:-1], tok[:-1] + "а", tok[:-1] + "я", tok[:-1] + "й", tok[:-2] + "а", tok[:-2] + "я",
             tok[:-2], tok[:-1] + "ь")
    return any(s in names for s in stems)


def _adjacent_runs(pattern: re.Pattern, text: str) -> Iterator[list[re.Match]]:
    run: list[re.Match] = []
    for m in pattern.finditer(text):
        if run and text[run[-1].end():m.start()] != " ":
            yield run
            run = []
        run.append(m)
    if run:
        yield run


def find_cyrillic_names(text: str) -> Iterator[Finding]:
    for run in _adjacent_runs(_CYR_WORD, text):
        run = run[:4]
        given = [_cyr_given(m.group()) for m in run]
        surname = [bool(_CYR_SURNAME.search(m.group())) for m in run]
        if any(given) or (len(run) >= 2 and sum(surname) >= 2):
            first = next(i for i in range(len(run)) if given[i] or surname[i])
            last = max(i for i in range(len(run)) if given[i] or surname[i] or i == first + 1 and any(given))
            start, end = run[first].start(), run[last].end()
            yield Finding("PERSON", start, end, 0.75, text[start:end])


_HAN = r"\u4e00-\u9fff\u3400-\u4dbf々"
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
# characters that sit around a Chinese name: before it (和王小明), after it (王小明说)
ZH_BEFORE = set("和跟给让把叫与同对向被是请找问见帮天在由替了友事哥姐弟妹妈爸叔姨舅师")
ZH_AFTER = set("给是的了在和说打也都很就还要会能帮一去来对让把被请先女老同医今昨已不为从跟与下上")
ZH_TITLES = ("先生", "女士", "老师", "同学", "医生", "经理", "小姐")


def _zh_end_ok(text: str, end: int) -> bool:
    if end >= len(text) or not re.match(rf"[{_HAN}]", text[end]):
        return True
    return text[end] in ZH_AFTER or text.startswith(ZH_TITLES, end)


def _zh_surname_at(text: str, i: int) -> int:
    for size in (2, 1):
        if text[i:i + size] in gz.words("surnames_zh.txt"):
            return size
    return 0


def find_chinese_names(text: str) -> Iterator[Finding]:
    if _KANA.search(text) or not _HAN_RUN.search(text):
        return
    i = 0
    while i < len(text):
        size = _zh_surname_at(text, i)
        before_ok = i == 0 or not re.match(rf"[{_HAN}]", text[i - 1]) or text[i - 1] in ZH_BEFORE
        if size and before_ok:
            for given in (2, 1):
                end = i + size + given
                body = text[i + size:end]
                if len(body) == given and re.fullmatch(rf"[{_HAN}]+", body) and not (set(body) & ZH_AFTER) \
                        and _zh_end_ok(text, end):
                    yield Finding("PERSON", i, end, 0.7, text[i:end])
                    i = end - 1
                    break
        i += 1


JA_PLACE = set("県市区町村郡駅都府道州港島橋")


def find_japanese_names(text: str) -> Iterator[Finding]:
    if not _KANA.search(text):
        return
    surnames = gz.words("surnames_ja.txt")
    for m in _HAN_RUN.finditer(text):
        run = m.group()
        size = next((n for n in (3, 2, 1) if run[:n] in surnames), 0)
        if not size or len(run) > size + 3 or set(run[size:]) & JA_PLACE:
            continue
        if m.end() < len(text) and text[m.end()] in JA_PLACE:
            continue
        yield Finding("PERSON", m.start(), m.end(), 0.7, run)


_HANGUL_NAME = re.compile(r"(?<![\uac00-\ud7a3])([\uac00-\ud7a3]{3})(?=\s?(?:씨|님|선생님))")


def find_korean_names(text: str) -> Iterator[Finding]:
    for m in _HANGUL_NAME.finditer(text):
        if m.group(1)[0] in gz.words("surnames_ko.txt"):
            yield Finding("PERSON", m.start(1), m.end(1), 0.75, m.group(1))


_AR_WORD = re.compile(r"[\u0621-\u064a\u0671-\u06d3]+")
AR_LINKS = frozenset(("بن", "ابن", "بنت", "أبو", "ابو", "عبد"))


def _ar_given(tok: str) -> bool:
    given = gz.words("given_names_arabic.txt")
    return tok in given or (tok.startswith("عبد") and len(tok) > 4)


def find_arabic_names(text: str) -> Iterator[Finding]:
    for run in _adjacent_runs(_AR_WORD, text):
        i = 0
        while i < len(run):
            if not _ar_given(run[i].group()):
                i += 1
                continue
            j = i + 1
            while j < len(run) and j - i < 4:
                tok = run[j].group()
                if _ar_given(tok) or tok in AR_LINKS or (tok.startswith("ال") and len(tok) > 4 and j == i + 1):
                    j += 1
                else:
                    break
            start, end = run[i].start(), run[j - 1].end()
            yield Finding("PERSON", start, end, 0.7, text[start:end])
            i = j


SCRIPT_NAME_DETECTORS = (find_cyrillic_names, find_chinese_names, find_japanese_names, find_korean_names,
                         find_arabic_names)
