"""The script language: an AutoDroid-V2-style DSL over Python syntax.

    $notes__new_note.tap()
    $note_editor__title.set_text("python tutorial")     # text is typed verbatim, never edited
    item = $notes__note_list.match("Shopping")          # first row containing the text
    item.long_tap()
    $contact_list__contacts[0].tap()                     # rows by index
    for row in $alarms__alarm_list:
        if row.get_text().endswith("on"):
            row.long_tap()
    back()

`$name` refers to an element of the app doc. The source is parsed with Python's `ast` after the
`$` sigils (outside string literals only) become plain identifiers with a reserved prefix; it is
never compiled or executed by Python (see interp.py).
"""

from __future__ import annotations

import ast

from .errors import ScriptSyntaxError

ELEMENT_PREFIX = "__el_"
MAX_SOURCE_CHARS = 8000


def _string_end(src: str, i: int) -> int:
    """Index just past the string literal that starts at src[i] (a quote character)."""
    quote = src[i] * 3 if src[i:i + 3] in ('"""', "'''") else src[i]
    j = i + len(quote)
    while j < len(src):
        if src[j] == "\\":
            j += 2
            continue
        if src.startswith(quote, j):
            return j + len(quote)
        if src[j] == "\n" and len(quote) == 1:
            return j  # unterminated: let the parser report it
        j += 1
    return j


def desugar(src: str) -> str:
    """Replace `$name` with an identifier; string literals and comments are left byte for byte."""
    out, i = [], 0
    while i < len(src):
        ch = src[i]
        if ch in "\"'":
            end = _string_end(src, i)
            out.append(src[i:end])
            i = end
        elif ch == "#":
            end = src.find("\n", i)
            end = len(src) if end < 0 else end
            out.append(src[i:end])
            i = end
        elif ch == "$" and i + 1 < len(src) and (src[i + 1].isalpha() or src[i + 1] == "_"):
            out.append(ELEMENT_PREFIX)
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_script(src: str) -> ast.Module:
    """Parse a script; syntax errors name the line."""
    if len(src) > MAX_SOURCE_CHARS:
        raise ScriptSyntaxError(f"the script is {len(src)} characters; the limit is {MAX_SOURCE_CHARS}")
    try:
        return ast.parse(desugar(src), mode="exec")
    except SyntaxError as exc:
        line = exc.lineno or 0
        lines = src.splitlines()
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        raise ScriptSyntaxError(f"syntax error: {exc.msg}", line, text) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ScriptSyntaxError(f"the script cannot be parsed: {type(exc).__name__}") from None


def element_name(identifier: str) -> str | None:
    return identifier[len(ELEMENT_PREFIX):] if identifier.startswith(ELEMENT_PREFIX) else None


def strip_fences(text: str) -> str:
    """The code inside a ```python fence (if the model wrote one); the text itself otherwise."""
    if "```" not in text:
        return text.strip("\n")
    body = text.split("```", 2)[1]
    first, _, rest = body.partition("\n")
    # only a language tag on the fence line is dropped; script text is never edited
    return (rest if first.strip().isalpha() or not first.strip() else body).strip("\n")
