"""JSON schema -> grammar compilation (checked against the real llama.cpp grammar parser elsewhere)."""

import random
import re

import pytest

from edge.constrain import schema_to_gbnf
from edge.constrain.schema import int_range
from edge.errors import SchemaError


def _regex(expr) -> str:
    from edge.constrain.grammar import Alt, Chars, Lit, Rep, Seq

    match expr:
        case Lit(t):
            return re.escape(t)
        case Chars(ranges, False):
            return "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if a != b else "") for a, b in ranges) + "]"
        case Seq(items):
            return "".join(f"(?:{_regex(i)})" for i in items)
        case Alt(opts):
            return "|".join(f"(?:{_regex(o)})" for o in opts)
        case Rep(item, lo, hi):
            return f"(?:{_regex(item)}){{{lo},{'' if hi is None else hi}}}"
    raise AssertionError(expr)


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 9), (1, 5), (0, 100), (7, 1234), (-50, 50), (-999, -10), (18, 120),
                                   (99, 101), (-5, 0)])
def test_integer_range_matches_exactly_the_range(lo, hi):
    rx = re.compile(_regex(int_range(lo, hi)))
    for n in range(lo - 30, hi + 31):
        assert bool(rx.fullmatch(str(n))) == (lo <= n <= hi), n
    assert not rx.fullmatch("0" + str(abs(hi))) or hi == 0  # no leading zeros


def test_random_integer_ranges():
    rng = random.Random(0)
    for _ in range(30):
        lo = rng.randint(-5000, 5000)
        hi = lo + rng.randint(0, 3000)
        rx = re.compile(_regex(int_range(lo, hi)))
        for n in [lo - 1, lo, hi, hi + 1] + [rng.randint(lo - 100, hi + 100) for _ in range(40)]:
            assert bool(rx.fullmatch(str(n))) == (lo <= n <= hi), (lo, hi, n)


def test_gbnf_has_root_and_enum_literals():
    g = schema_to_gbnf({"type": "object", "properties": {"color": {"enum": ["red", "green"]}}})
    assert g.startswith("root ::=")
    assert '"\\"red\\""' in g


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^a+$"},
    {"$ref": "#/$defs/missing"},
    {"type": "integer", "minimum": 5, "maximum": 1},
    {"type": "object", "properties": {"a": {}}, "required": ["b"]},
])
def test_unsupported_or_contradictory_schemas_fail_clearly(schema):
    with pytest.raises(SchemaError):
        schema_to_gbnf(schema)
