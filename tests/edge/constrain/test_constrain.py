"""JSON schema -> grammar compilation (checked against the real llama.cpp grammar engine in
test_schema_hostile.py and test_schema_fuzz.py)."""

import json
import random

import pytest

from edge.constrain import schema_to_gbnf, schema_to_grammar
from edge.constrain.check import check_grammar
from edge.constrain.grammar import Grammar
from edge.constrain.matcher import CompiledGrammar, Vocabulary
from edge.constrain.numbers import int_range
from edge.constrain.schema import _Compiler
from edge.errors import SchemaError

VOCAB = Vocabulary.from_texts(["x"], [])  # the matcher's character steps need no real vocabulary


def _accepter(grammar: Grammar):
    check_grammar(grammar)
    g = CompiledGrammar(grammar, VOCAB)
    return lambda text: g.accepting(g.advance_text(g.start, text))


def _range_accepter(lo: int, hi: int):
    c = _Compiler({})
    c.rules["root"] = int_range(lo, hi, c)
    return _accepter(Grammar(c.rules))


def _not_canonical(n: int) -> list[str]:
    """Spellings of n that JSON allows or not, but that are never the canonical integer text."""
    digits = str(abs(n))
    sign = "-" if n < 0 else ""
    return [f"{sign}0{digits}", f"{sign}00{digits}", f"+{digits}", f"{sign}{digits}.0", f"{sign}{digits} "]


def test_integer_ranges_match_brute_force_on_every_small_range():
    """Every range in [-30, 30]: exactly the integers inside, no leading zeros, never "-0"."""
    for lo in range(-30, 31):
        for hi in range(lo, 31):
            accepts = _range_accepter(lo, hi)
            for n in range(-45, 46):
                assert accepts(str(n)) == (lo <= n <= hi), (lo, hi, n)
            for n in range(lo, hi + 1):
                for text in _not_canonical(n):
                    assert not accepts(text), (lo, hi, text)
            assert not any(accepts(t) for t in ("-0", "", "-", "00")), (lo, hi)


@pytest.mark.parametrize("seed", range(4))
def test_random_large_integer_ranges_sampled(seed):
    rng = random.Random(seed)
    for _ in range(60):
        lo = rng.randint(-10 ** rng.randint(1, 80), 10 ** rng.randint(1, 80))
        hi = lo + rng.randint(0, 10 ** rng.randint(0, 80))
        accepts = _range_accepter(lo, hi)
        inside = [lo, hi, rng.randint(lo, hi), rng.randint(lo, hi)]
        outside = [lo - 1, hi + 1, lo - rng.randint(1, 10**30), hi + rng.randint(1, 10**30)]
        for n in inside:
            assert accepts(str(n)), (lo, hi, n)
            assert not any(accepts(t) for t in _not_canonical(n)), (lo, hi, n)
        for n in outside:
            assert not accepts(str(n)), (lo, hi, n)


@pytest.mark.parametrize("schema,inside,outside", [
    ({"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 4}, [2, 3], [1, 4]),
    ({"type": "integer", "minimum": -2.5, "maximum": 2.5}, [-2, 0, 2], [-3, 3]),
    ({"type": "integer", "minimum": 5, "exclusiveMinimum": 7, "maximum": 9}, [8, 9], [7, 10]),
    ({"type": "integer", "minimum": 10**20}, [10**20, 10**21 - 1], [10**20 - 1, 0]),
    ({"type": "integer", "maximum": -(10**20)}, [-(10**20), -(10**21) + 1], [-(10**20) + 1, 0]),
    ({"type": "integer", "minimum": 0}, [0, 10**15], [-1]),
    ({"type": "integer"}, [0, -7, 10**15], []),
])
def test_integer_bounds_from_the_schema(schema, inside, outside):
    accepts = _accepter(schema_to_grammar(schema))
    assert all(accepts(str(n)) for n in inside)
    assert not any(accepts(str(n)) for n in outside)
    assert not accepts("-0") and not accepts("01")


def test_gbnf_has_root_and_enum_literals():
    g = schema_to_gbnf({"type": "object", "properties": {"color": {"enum": ["red", "green"]}}})
    assert g.startswith("root ::=")
    assert '"red\\""' in g and '"green\\""' in g  # the enum trie shares the opening quote


def test_enum_values_match_exactly_even_when_one_is_a_prefix_of_another():
    values = [1, 12, 123, "a", "ab", "abc", None, True, {"k": [1]}, 1.5]
    accepts = _accepter(schema_to_grammar({"enum": values}))
    for v in values:
        assert accepts(json.dumps(v)), v
    for text in ["2", "1234", '"abcd"', '"b"', "nul", "1.", '{"k": [2]}']:
        assert not accepts(text), text


def test_enum_keeps_only_values_of_the_declared_type():
    accepts = _accepter(schema_to_grammar({"type": "string", "enum": ["a", 1, None]}))
    assert accepts('"a"') and not accepts("1") and not accepts("null")


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^a+$"},
    {"$ref": "#/$defs/missing"},
    {"type": "integer", "minimum": 5, "maximum": 1},
    {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 4},
    {"type": "object", "properties": {"a": {}}, "required": ["b"]},
    {"type": "string", "enum": [1, 2]},
    {"type": "string", "minLength": 5, "maxLength": 2},
])
def test_unsupported_or_contradictory_schemas_fail_clearly(schema):
    with pytest.raises(SchemaError):
        schema_to_gbnf(schema)
