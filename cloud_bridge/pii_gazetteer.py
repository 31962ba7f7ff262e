"""Word lists behind name detection, loaded once: given names, surnames, dictionary words.

- given names: the US census lists shipped by the `names` package (MIT) plus the project's
  `data/given_names_extra.txt` (names common elsewhere);
- surnames: the census surname list (88,799 names) plus `data/surnames_east_asian.txt`;
- dictionary words: the lower-case entries of Webster's Second (public domain, shipped by the
  `english-words` package), to tell "jonas" from "will";
- `data/*.txt` lists for the non-Latin scripts and the words that are never part of a name.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from edge.errors import EdgeError


class GazetteerMissingError(EdgeError):
    """A word list that name detection needs is not installed."""


def read_words(name: str) -> frozenset[str]:
    """Whitespace-separated words of `cloud_bridge/data/<name>`, '#' lines skipped."""
    text = resources.files("cloud_bridge").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


def _census(filename: str) -> frozenset[str]:
    try:
        import names
    except ImportError:
        raise GazetteerMissingError(
            "name detection needs the `names` package: pip install 'edgesplit[cloud]'") from None
    path = Path(names.__file__).parent / filename
    with path.open(encoding="ascii") as fh:
        return frozenset(line.split(maxsplit=1)[0].lower() for line in fh if line.strip())


@functools.cache
def given_names() -> frozenset[str]:
    return _census("dist.female.first") | _census("dist.male.first") | read_words("given_names_extra.txt")


@functools.cache
def surnames() -> frozenset[str]:
    return _census("dist.all.last") | read_words("surnames_east_asian.txt")


@functools.cache
def dictionary_words() -> frozenset[str]:
    """Lower-case common words; proper nouns (capitalised entries) are left out."""
    try:
        from english_words import get_english_words_set
    except ImportError:
        raise GazetteerMissingError(
            "name detection needs the `english-words` package: pip install 'edgesplit[cloud]'") from None
    return frozenset(w for w in get_english_words_set(["web2"], lower=False) if w.islower())


@functools.cache
def words(name: str) -> frozenset[str]:
    return read_words(name)
