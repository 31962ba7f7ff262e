"""Email addresses in any script and in the spelled-out forms people use to dodge scrapers.

"jürgen.müller@beispiel.de", "张伟@例子.中国", "bob at example dot com", "lena [at] posteo [dot] de",
"x.wong(at)mail.example(dot)hk". A spelled-out address must end in a known top-level domain, so
"look at the house" never becomes an address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .spans import Finding

_LABEL = r"[^\W_](?:[\w'-]*[^\W_])?"
_LOCAL = r"[^\W_][\w.+%'-]*"
# internationalized: any script in local part and domain labels; TLD letters (or punycode)
EMAIL_INTL = re.compile(rf"(?<![\w.+%'-]){_LOCAL}@(?:{_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)(?![\w-])")

_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+|\s+@\s*|\s*@\s+)"
_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\.)"
_TLDS = ("com|org|net|edu|gov|info|biz|io|co|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ie|is|pl|pt|cz|sk|hu|ro|bg|gr|"
         "hr|si|rs|lt|lv|ee|tr|il|ae|sa|eg|ng|ke|jp|cn|hk|in|au|nz|ca|us|br|ar|cl|mx|ru|ua|za|kr|tw|sg|my|th|vn|"
         "id|ph|eu|me|dev|app|ne|ac|or")
# bounded segment counts and lengths keep the scan linear on "a dot a dot a dot ..."
EMAIL_SPELLED = re.compile(
    rf"(?<![\w.-])[A-Za-z0-9][\w'+-]{{0,63}}(?:{_DOT}[\w'+-]{{1,63}}){{0,4}}{_AT}[A-Za-z0-9][\w-]{{0,62}}"
    rf"(?:{_DOT}[A-Za-z0-9][\w-]{{0,62}}){{0,4}}{_DOT}(?:{_TLDS})(?![\w-])", re.I)


def find_emails(text: str) -> Iterator[Finding]:
    for m in EMAIL_INTL.finditer(text):
        yield Finding("EMAIL", m.start(), m.end(), 0.99, m.group())
    for m in EMAIL_SPELLED.finditer(text):
        yield Finding("EMAIL", m.start(), m.end(), 0.9, m.group())
