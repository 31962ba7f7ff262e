"""Postal addresses of several countries, with the city / postcode tail that follows them.

A street line (UK/US "221B Baker Street", German "Hauptstr. 12", "Am Markt 3", Nordic/Dutch
"-gatan 53", French "14 rue des Écoles", Japanese romaji "2-3-1 Marunouchi, Chiyoda-ku", a PO box)
is extended over what directly follows it: ", London NW1 6XE", ", Austin, TX 78731",
", 10115 Berlin", ", ON M5V 2T6". A postcode alone is an address too when its shape is
unmistakable (UK "EH1 2NG", Japanese "〒150-0002"); Japanese addresses written in kanji start with
a prefecture and end in block numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .spans import Finding

UK_POSTCODE = r"(?:GIR 0AA|[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})"
CA_POSTCODE = r"[A-Z]\d[A-Z] \d[A-Z]\d"
_CITY = r"[A-ZÄÖÜÉ][\wäöüéèß'-]+(?:[ -](?:[A-Z][\w'-]+|upon|on|am|sur))*"
# what may follow a street line: city, state/province, postcode, in the usual orders
TAIL = (
    rf"(?:,?\s+{UK_POSTCODE}|,\s*{_CITY}(?:,?\s+{UK_POSTCODE}|,\s*[A-Z]{{2}}\s+(?:\d{{5}}(?:-\d{{4}})?|{CA_POSTCODE})"
    rf"|\s+\d{{3}}-\d{{4}})?|,\s*\d{{3}} ?\d{{2}}\s+{_CITY}|,\s*(?:[A-Z]-)?\d{{4,5}}\s+{_CITY})?")
_UNIT = r"(?:(?:Flat|Apartment|Apt\.?|Unit|Suite)\s+\w+,\s*)?"
_WORD = r"(?:[A-Z][a-z'’-]+|[NSEW]|\d+(?:st|nd|rd|th))"
STREET_TYPES = ("Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
                "Square|Sq|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Close|Crescent|Gardens|Row|Walk|View|Mews|Grove|"
                "Rise|Hill|Green|Vale|Wharf|Quay|Park|Parade|Broadway|Esplanade|Promenade")
STREET_LINES = (
    rf"{_UNIT}\b\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\.?\s+){{1,4}}(?:{STREET_TYPES})\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[\w-]+)?",
    r"\bP\.?O\.? Box \d{1,6}",
    r"\b(?:[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|gatan|vägen|gata|gade|"
    r"vej|straat|laan|gracht)|[A-ZÄÖÜ][a-zäöüß]+ (?:Straße|Allee|Platz|Weg|Ring|Gasse|Damm|Ufer)"
    r"|(?:Am|An der|Im|Auf dem|Zum|Zur|In der) [A-ZÄÖÜ][a-zäöüß]+)\s+\d{1,4}[a-z]?\b",
    r"(?i:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours)"
    r"(?:\s+(?:de la|de l'|de|du|des|la|le|l'|d')?\s*[A-ZÉÈ][\w'-]+){1,4})",
    r"\b\d{1,4}-\d{1,4}(?:-\d{1,4})?\s+[A-Z][a-z]+,\s*[A-Z][a-z]+-(?:ku|shi|cho|machi|gun)\b",
)
ADDRESS = re.compile("(?:" + "|".join(STREET_LINES) + ")" + TAIL)
POSTCODE_ALONE = re.compile(rf"(?<![\w-])(?:{UK_POSTCODE}|〒\s?\d{{3}}-?\d{{4}})(?![\w-])")
_KANJI_NUM = r"[0-9０-９一二三四五六七八九十]+"
JP_ADDRESS = re.compile(
    r"(?:〒\s?\d{3}-?\d{4}\s*)?(?:東京都|北海道|京都府|大阪府|[一-龯]{2,3}県)[一-龯ぁ-んァ-ン々ヶ]+?" + _KANJI_NUM +
    r"(?:(?:丁目|番地|番|号|条|[-－ー‐])[一-龯]?" + "(?:" + _KANJI_NUM + r")?)*(?:丁目|番地|番|号)?")


def find_addresses(text: str) -> Iterator[Finding]:
    for pattern, score in ((ADDRESS, 0.82), (JP_ADDRESS, 0.82), (POSTCODE_ALONE, 0.8)):
        for m in pattern.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] in ".,-":
                end -= 1
            yield Finding("ADDRESS", m.start(), end, score, text[m.start():end])
