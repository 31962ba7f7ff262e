"""A first, iterative look at a schema document, before anything recurses into it.

jsonschema's own check recurses (about 150 schema levels empty-stack), `json.dumps` refuses
integers of more than 4300 digits, and JSON has no Infinity or NaN: all of that is found here
with a bounded walk, and the canonical text returned is the compile cache's key.
"""

from __future__ import annotations

import json
import math

from ..errors import SchemaError
from .limits import MAX_INT_DIGITS, MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, MAX_SUBSCHEMAS

_DATA_KEYS = ("enum", "const", "default", "examples")
_MAX_BITS = int(MAX_INT_DIGITS * math.log2(10)) + 1


def scan_document(schema: object) -> str:
    """The schema as JSON text (property order kept), or SchemaError naming the bound it breaks."""
    if not isinstance(schema, dict):
        raise SchemaError(f"a JSON schema must be an object, got {type(schema).__name__}")
    stack: list[tuple[object, str, int, bool]] = [(schema, "#", 1, False)]  # value, path, depth, is data
    nodes = subschemas = 0
    while stack:
        value, path, depth, data = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            raise SchemaError(f"the schema has more than {MAX_SCHEMA_NODES:,} values (MAX_SCHEMA_NODES)")
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaError(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels (MAX_SCHEMA_DEPTH) "
                              f"at ...{path[-60:]}")
        _check_scalar(value, path)
        if isinstance(value, dict):
            subschemas += not data
            if subschemas > MAX_SUBSCHEMAS:  # jsonschema's own check costs ~0.2 ms per subschema
                raise SchemaError(f"the schema has more than {MAX_SUBSCHEMAS:,} subschemas (MAX_SUBSCHEMAS)")
            for key, sub in value.items():
                if not isinstance(key, str):
                    raise SchemaError(f"object keys in a JSON schema must be strings, got {key!r} at {path}")
                # paths stay short; enum/const values are data, not subschemas
                stack.append((sub, f"{path}/{key[:40]}", depth + 1, data or key in _DATA_KEYS))
        elif isinstance(value, list | tuple):
            stack.extend((sub, f"{path}/{i}", depth + 1, data) for i, sub in enumerate(value))
    return json.dumps(schema)


def _check_scalar(value: object, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str | dict | list | tuple):
        return
    if isinstance(value, int):
        if value.bit_length() > _MAX_BITS:
            raise SchemaError(f"a number at {path} has more than {MAX_INT_DIGITS} digits (MAX_INT_DIGITS)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaError(f"{value} at {path}: JSON has no Infinity or NaN; give a finite number")
    else:
        raise SchemaError(f"{type(value).__name__} at {path} is not a JSON value")
