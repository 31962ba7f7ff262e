"""A fixed answer template filled field by field, each field constrained on its own.

    readiness: <the model writes only this integer>
    fatigue: <...>

We write the template's words; the model writes only the values, each under a tiny grammar
(an integer range or an enum), so a whole answer costs a handful of tokens instead of a JSON
object's thirty, and every call extends the previous prompt (the backend reuses its KV cache).
Without a grammar engine the same template is filled unconstrained and the values are parsed.
"""

from __future__ import annotations

import json

from edge import Engine


def fill(engine: Engine, messages: list[dict], fields: list[tuple[str, dict]], seed: int, temperature: float,
         constrained: bool = True, max_tokens: int = 8) -> str:
    """Return the filled template, `name: value` per line; values are JSON (integers, quoted enums)."""
    text = engine.render(messages)
    lines = []
    for i, (name, schema) in enumerate(fields):
        text += f"{name}: "
        kw: dict = {"json_schema": schema} if constrained else {"stop": ("\n",)}
        limit = _limit(schema, max_tokens) if constrained else max_tokens
        value = engine.generate(text, max_tokens=limit, temperature=temperature, seed=seed * 31 + i, **kw).text
        value = value.strip().splitlines()[0] if value.strip() else ""
        text += value + "\n"
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _limit(schema: dict, default: int) -> int:
    """Tokens a value needs. An integer stops at its last digit: no extra decode just to sample the end."""
    if schema.get("type") == "integer" and "minimum" in schema and "maximum" in schema:
        lo, hi = int(schema["minimum"]), int(schema["maximum"])
        return max(len(str(lo)), len(str(hi)))
    return max(default, 16)  # a quoted label


def parse_fields(text: str) -> dict[str, object]:
    """`name: value` lines -> {name: JSON value or the raw text}."""
    out: dict[str, object] = {}
    for line in text.splitlines():
        name, sep, raw = line.partition(":")
        if not sep:
            continue
        try:
            out[name.strip()] = json.loads(raw.strip())
        except json.JSONDecodeError:
            out[name.strip()] = raw.strip().strip('"')
    return out
