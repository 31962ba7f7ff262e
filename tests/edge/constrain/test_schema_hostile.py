"""Hostile JSON schemas (issue 14): each reproduction of the attack run fails cleanly, fast and small.

Before: a cyclic $ref compiled to `def-a ::= def-a` and llama.cpp segfaulted; integer ranges
grew exponentially with the digits of their bounds; deep nesting raised RecursionError; a
20,000-value enum kept one llama.cpp parse stack per value.
"""

from __future__ import annotations

import json
import random

import httpx
import jsonschema
import pytest

from edge import SamplingParams
from edge.constrain import schema_to_gbnf, schema_to_grammar
from edge.constrain.grammar import Grammar, Lit, Ref, Rep, seq
from edge.constrain.matcher import CompiledGrammar
from edge.errors import SchemaError
from tests.conftest import run_cli
from tests.edge.constrain.llama_grammar_probe import probe
from tests.edge.constrain.matcher_walks import VOCAB, walk
from tests.edge.server.conftest import ServeProcess, assert_openai_error, chat_body

SELF = {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}
CYCLES = {
    "self": SELF,
    "a<->b": {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}},
    "left, beside a way out": {"$ref": "#/$defs/a",
                               "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "string"}]}}},
    "endless object": {"$ref": "#/$defs/a", "$defs": {"a": {"type": "object", "properties": {
        "next": {"$ref": "#/$defs/a"}}}}},
    "endless list": {"$ref": "#/$defs/n", "$defs": {"n": {"type": "array", "minItems": 1,
                                                          "items": {"$ref": "#/$defs/n"}}}},
    "through definitions": {"definitions": {"x": {"allOf": [{"$ref": "#/definitions/x"}]}},
                            "$ref": "#/definitions/x"},
}
TREE = {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 8},
    "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}}, "required": ["name"]}}}
NESTED_LISTS = {"$ref": "#/$defs/l", "$defs": {"l": {"type": "array", "items": {"$ref": "#/$defs/l"}}}}
HUGE_RANGE = {"type": "integer", "minimum": -(10**400), "maximum": 10**400}
ODD_RANGE = {"type": "integer", "minimum": -int("73" * 200), "maximum": int("5091" * 100)}
ENUM_20K = {"enum": [f"value-{i}" for i in range(20_000)]}


def _deep(levels: int) -> dict:
    s: dict = {"type": "integer"}
    for _ in range(levels):
        s = {"type": "array", "items": s}
    return s


@pytest.mark.parametrize("name", CYCLES)
def test_cycles_without_an_instance_are_a_clear_schema_error(name):
    with pytest.raises(SchemaError, match="never finish|left-recursive"):
        schema_to_gbnf(CYCLES[name])
    with pytest.raises(SchemaError):  # when the request is validated, before any model sees it
        SamplingParams(json_schema=CYCLES[name])


def test_cli_reports_a_cyclic_schema_instead_of_crashing(tmp_path):
    path = tmp_path / "self.json"
    path.write_text(json.dumps(SELF))
    proc = run_cli("run", "--json-schema", str(path), "hi", timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert "error:" in proc.stderr and "never finish" in proc.stderr


def _matcher_walks(schema: dict, seeds: range) -> list[str]:
    compiled = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    return [t for t in (walk(compiled, random.Random(seed), 300) for seed in seeds) if t is not None]


@pytest.mark.parametrize("schema", [TREE, NESTED_LISTS], ids=["tree", "nested lists"])
def test_productive_recursion_works_in_llamacpp_and_the_matcher(schema):
    gbnf = schema_to_gbnf(schema)
    [result] = probe([gbnf], walks=6, seed=1)
    assert result["loaded"], gbnf
    texts = result["texts"] + _matcher_walks(schema, range(6))
    assert texts
    for text in texts:
        jsonschema.validate(json.loads(text), schema)


def test_integer_ranges_grow_linearly_with_the_digits():
    # before: 10**17 gave 5.6 M characters of grammar (28 s); +-10**400 exhausted 5 GB
    assert len(schema_to_gbnf({"type": "integer", "minimum": 0, "maximum": 10**17})) < 2_000
    assert len(schema_to_gbnf(HUGE_RANGE)) < 20_000
    assert len(schema_to_gbnf(ODD_RANGE)) < 200 * 400


def test_huge_integer_ranges_hold_exactly_in_llamacpp_and_the_matcher():
    results = probe([schema_to_gbnf(HUGE_RANGE), schema_to_gbnf(ODD_RANGE)], walks=4, seed=2)
    for schema, result in zip((HUGE_RANGE, ODD_RANGE), results, strict=True):
        assert result["loaded"]
        for text in result["texts"] + _matcher_walks(schema, range(4)):
            assert text == str(int(text)), text  # canonical: no leading zeros, no "-0"
            jsonschema.validate(int(text), schema)
    accepts = CompiledGrammar(schema_to_grammar(ODD_RANGE), VOCAB)
    for n in (ODD_RANGE["minimum"], ODD_RANGE["maximum"], ODD_RANGE["minimum"] - 1, ODD_RANGE["maximum"] + 1):
        inside = ODD_RANGE["minimum"] <= n <= ODD_RANGE["maximum"]
        assert accepts.accepting(accepts.advance_text(accepts.start, str(n))) == inside


def test_a_20000_value_enum_is_a_trie_llamacpp_loads():
    compiled = CompiledGrammar(schema_to_grammar(ENUM_20K), VOCAB)
    state = compiled.advance_text(compiled.start, '"value-1')
    assert len(compiled._states[state]) < 20  # a flat alternation keeps ~11,000 values alive here
    [result] = probe([schema_to_gbnf(ENUM_20K)], walks=4, seed=3)
    assert result["loaded"]
    for text in result["texts"]:
        jsonschema.validate(json.loads(text), ENUM_20K)


@pytest.mark.parametrize("schema, limit", [
    (_deep(300), "MAX_SCHEMA_DEPTH"),
    ({"$ref": "#/$defs/d0", "$defs": {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(200)}
      | {"d200": {"type": "null"}}}, "MAX_COMPILE_DEPTH"),
    ({"type": "object", "properties": {f"p{i}": {"type": "null"} for i in range(2_001)}}, "MAX_SUBSCHEMAS"),
    ({"enum": [f"value-{i}" for i in range(40_000)]}, "MAX_LITERAL_CHARS"),
    ({"enum": list(range(60_000))}, "MAX_SCHEMA_NODES"),
    ({"type": "string", "maxLength": 10**9}, "MAX_GRAMMAR_SIZE"),
    ({"type": "array", "minItems": 10**7}, "MAX_GRAMMAR_SIZE"),
    ({"type": "integer", "maximum": 10**5000}, "MAX_INT_DIGITS"),
])
def test_size_and_depth_bounds_are_schema_errors_that_name_the_limit(schema, limit):
    with pytest.raises(SchemaError, match=limit):
        SamplingParams(json_schema=schema)


@pytest.mark.parametrize("key", ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("type_", ["integer", "number"])
def test_non_finite_bounds_are_schema_errors(key, value, type_):
    with pytest.raises(SchemaError, match="Infinity or NaN"):
        schema_to_gbnf({"type": type_, key: value})


@pytest.mark.parametrize("grammar", [
    Grammar({"root": Ref("root")}),
    Grammar({"root": seq(Ref("root"), Lit("x"))}),
    Grammar({"root": Rep(Rep(Lit("x"), 0, 1))}),
    Grammar({"root": seq(Lit("("), Ref("root"), Lit(")"))}),
    Grammar({"root": Ref("missing")}),
], ids=["self", "left", "empty repeated", "endless", "undefined"])
def test_grammars_given_directly_are_checked_the_same_way(grammar):
    with pytest.raises(SchemaError):
        SamplingParams(grammar=grammar)


def _schema_body(schema: dict, **extra) -> dict:
    return chat_body("Write a JSON value.", max_tokens=12, temperature=0,
                     response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}, **extra)


def test_a_real_server_answers_400_for_hostile_schemas_and_keeps_serving():
    """`edgesplit serve` in a subprocess: a crash would show as a dead process, not a dead pytest."""
    srv = ServeProcess()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            for schema in (SELF, CYCLES["a<->b"], _deep(300)):
                err = assert_openai_error(c.post("/v1/chat/completions", json=_schema_body(schema)), 400)
                assert "never finish" in err["message"] or "MAX_SCHEMA_DEPTH" in err["message"]
            # Python's JSON (and the server's) reads Infinity; the schema check must refuse it
            raw = json.dumps(_schema_body({"type": "integer", "maximum": float("inf")}))
            resp = c.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
            assert "Infinity" in assert_openai_error(resp, 400)["message"]
            resp = c.post("/v1/chat/completions", json=_schema_body(HUGE_RANGE))
            assert resp.status_code == 200, resp.text
            text = resp.json()["choices"][0]["message"]["content"]
            if resp.json()["choices"][0]["finish_reason"] == "stop":
                jsonschema.validate(int(text), HUGE_RANGE)
            assert c.get("/health").status_code == 200
            resp = c.post("/v1/chat/completions", json=chat_body("Say hello.", max_tokens=8))
            assert resp.status_code == 200 and isinstance(resp.json()["choices"][0]["message"]["content"], str)
        assert srv.proc.poll() is None
    finally:
        srv.stop()
