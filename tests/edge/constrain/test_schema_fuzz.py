"""A seeded JSON-schema fuzzer against the compiler's bounds and llama.cpp's grammar engine.

Every generated schema either compiles within the bounds of edge/constrain/limits.py or raises
SchemaError (never another exception, never past the deadline). Each compiled grammar goes to
llama.cpp in a child process (a crash there is a failure here, not a dead pytest), which must
load it; strings sampled from it, by llama.cpp and by the token matcher, must validate against
the schema.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.constrain import compile_schema
from edge.constrain.limits import MAX_GBNF_CHARS
from edge.constrain.matcher import CompiledGrammar
from edge.errors import SchemaError
from tests.edge.constrain.llama_grammar_probe import probe
from tests.edge.constrain.matcher_walks import VOCAB, walk

DEFS = ("a", "b", "c")

json_scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=6) | st.floats(
    allow_nan=False, allow_infinity=False, width=32)
json_values = st.recursive(json_scalars, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=4), v,
                                                                                              max_size=3), max_leaves=6)
bounds = st.integers(-(10**40), 10**40) | st.integers(-50, 50) | st.floats(allow_nan=True, allow_infinity=True)
lengths = st.integers(0, 12) | st.sampled_from([10**9, 10**6])


def _optional(**keys) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional=keys)


def _typed(name: str, **keys) -> st.SearchStrategy[dict]:
    return _optional(**keys).map(lambda d: {"type": name, **d})


leaves = st.one_of(
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": "number"}, {}, {"type": "string"}]),
    _typed("integer", minimum=bounds, maximum=bounds, exclusiveMinimum=bounds, exclusiveMaximum=bounds),
    _typed("string", minLength=lengths, maxLength=lengths),
    st.lists(json_values, min_size=1, max_size=12).map(lambda vs: {"enum": vs}),
    json_values.map(lambda v: {"const": v}),
    st.sampled_from(DEFS).map(lambda d: {"$ref": f"#/$defs/{d}"}),
    st.sampled_from([{"type": "string", "pattern": "a+"}, {"type": "number", "maximum": float("inf")},
                     {"type": "integer", "minimum": float("nan")}, {"not": {}}, {"$ref": "#/$defs/zz"}]),
)


def _composites(child: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    array = st.tuples(child, _optional(minItems=lengths, maxItems=lengths)).map(
        lambda t: {"type": "array", "items": t[0], **t[1]})
    props = st.dictionaries(st.text(max_size=5), child, min_size=1, max_size=4)
    obj = st.tuples(props, st.randoms(use_true_random=False)).map(lambda t: {
        "type": "object", "properties": t[0], "required": [k for k in t[0] if t[1].random() < 0.5]})
    return st.one_of(array, obj, st.lists(child, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs}),
                     child.map(lambda x: {"allOf": [x]}),
                     child.map(lambda x: {**x, "type": ["object", "array", "string"]} if "type" not in x else x))


bodies = st.recursive(leaves, _composites, max_leaves=12)
schemas = st.tuples(bodies, st.dictionaries(st.sampled_from(DEFS), bodies, max_size=3)).map(
    lambda t: {**t[0], "$defs": t[1]} if t[1] else t[0])


def _matcher_texts(grammar, seed: int, walks: int = 2) -> list[str]:
    compiled, rng = CompiledGrammar(grammar, VOCAB), random.Random(seed)
    return [t for t in (walk(compiled, rng, 200) for _ in range(walks)) if t is not None]


@pytest.mark.slow
def test_generated_schemas_compile_within_bounds_and_llamacpp_accepts_them():
    compiled: dict[str, tuple[dict, str]] = {}
    counts: Counter[str] = Counter()

    @settings(derandomize=True, max_examples=250, deadline=5000, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(schemas)
    def compile_one(schema: dict) -> None:
        counts["tried"] += 1
        try:
            result = compile_schema(schema)
        except SchemaError:
            counts["refused"] += 1
            return
        assert len(result.gbnf) <= MAX_GBNF_CHARS
        for text in _matcher_texts(result.grammar, len(compiled)):
            jsonschema.validate(json.loads(text), schema)
            counts["matcher texts"] += 1
        compiled[json.dumps(schema)] = (schema, result.gbnf)

    compile_one()
    items = list(compiled.values())
    results = probe([gbnf for _, gbnf in items], walks=1, seed=0)
    for (schema, gbnf), result in zip(items, results, strict=True):
        assert result["loaded"], f"llama.cpp refused the grammar of {schema}:\n{gbnf}"
        for text in result["texts"]:
            jsonschema.validate(json.loads(text), schema)
            counts["llama.cpp texts"] += 1
    counts["compiled"] = len(items)
    print("schema fuzz:", dict(counts))
    assert counts["compiled"] >= 30 and counts["refused"] >= 10  # the generator reaches both outcomes
