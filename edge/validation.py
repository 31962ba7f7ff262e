"""pydantic validation errors as one line per problem, each naming its key path.

Profiles and bundle manifests report every problem at once, so a file with an unknown key, a
missing key and a wrong type is fixed in one edit, not three rounds of trial and error.
"""

from __future__ import annotations

from pydantic import ValidationError

MAX_LINES = 20  # a file with thousands of bad keys was not written by hand: the first ones say enough


def key_path(loc: tuple[int | str, ...]) -> str:
    """`runtime.eog_token_ids[0]` from pydantic's ("runtime", "eog_token_ids", 0)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def problems(exc: ValidationError, unknown_hint: str, tags: frozenset[str] = frozenset()) -> list[str]:
    """One line per error; a path starting with one of `tags` (a discriminated union's) loses it."""
    lines = []
    for err in exc.errors():
        loc = err["loc"][1:] if err["loc"] and err["loc"][0] in tags else err["loc"]
        key = key_path(loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key: {unknown_hint}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            lines.append(f"{key}: {err['msg']} (got {_short(err.get('input'))})")
    return lines


def join(where: str, lines: list[str], advice: str = "", limit: int = MAX_LINES) -> str:
    """`where: problem` for one, else a count and the problems one per line; `advice` last."""
    tail = f"\n{advice}" if advice and len(lines) > 1 else f"; {advice}" if advice else ""
    if len(lines) == 1:
        return f"{where}: {lines[0]}{tail}"
    shown = [f"  {line}" for line in lines[:limit]] + ([f"  ... and {len(lines) - limit} more"] * (len(lines) > limit))
    return f"{where}: {len(lines)} problems:\n" + "\n".join(shown) + tail


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
