"""Compile a JSON Schema into the grammar IR, so that generated text can only be valid JSON
that the schema accepts.

Supported: type (object, array, string, integer, number, boolean, null, and lists of types),
properties/required, items/minItems/maxItems, enum/const, minLength/maxLength, integer
minimum/maximum/exclusiveMinimum/exclusiveMaximum, anyOf/oneOf, a single allOf, $ref to
#/$defs or #/definitions (recursion included, when an instance can end). Objects with
`properties` are produced with every declared property, in declared order (valid whether or
not a property is required) and no extra ones.
Keywords that a grammar cannot enforce here (pattern, multipleOf, not, if/then/else,
patternProperties) are refused rather than silently ignored.

`compile_schema` checks and compiles once per distinct schema (cached), within the bounds of
limits.py, and checks the result is safe for llama.cpp (check.py); SamplingParams calls it, so
a bad schema fails when a request is validated, before it is queued for a model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import jsonschema

from ..errors import SchemaError
from ..sampling import check_json_schema
from .check import check_grammar
from .document import scan_document
from .gbnf import to_gbnf
from .grammar import Alt, Chars, Expr, Grammar, Lit, Ref, Rep, alt, chars, seq
from .limits import HOIST_DEPTH, MAX_COMPILE_DEPTH, MAX_GBNF_CHARS, MAX_LITERAL_CHARS, MAX_SUBSCHEMAS
from .literals import literal_choice
from .numbers import int_bound, int_range

UNSUPPORTED = ("pattern", "multipleOf", "not", "if", "then", "else", "patternProperties",
               "dependentSchemas", "propertyNames", "contains", "uniqueItems")
WS = Rep(chars(" \n"), 0, 2)  # bounded whitespace: small models otherwise loop on blanks
INT_DIGITS = 16  # an integer without bounds has at most this many digits
DIGIT = chars("0-9")


@dataclass(frozen=True)
class CompiledSchema:
    grammar: Grammar  # shared through the cache: read it, never change it
    gbnf: str


def compile_schema(schema: object) -> CompiledSchema:
    """The checked grammar and GBNF of a JSON schema, or SchemaError (cached per distinct schema)."""
    return _compile_text(scan_document(schema))


def schema_to_grammar(schema: dict) -> Grammar:
    """Compile a JSON schema (checked first) into a Grammar whose root is the whole answer."""
    return compile_schema(schema).grammar


@lru_cache(maxsize=32)
def _compile_text(text: str) -> CompiledSchema:
    schema = json.loads(text)
    check_json_schema(schema)
    c = _Compiler(schema)
    c.rules["root"] = c.compile(schema, "#", 0)
    grammar = Grammar(c.rules, "root")
    check_grammar(grammar)
    gbnf = to_gbnf(grammar)
    if len(gbnf) > MAX_GBNF_CHARS:
        raise SchemaError(f"the schema compiles to {len(gbnf):,} characters of grammar, over the limit of "
                          f"{MAX_GBNF_CHARS:,} (MAX_GBNF_CHARS): simplify it")
    return CompiledSchema(grammar, gbnf)


def _str_char() -> Expr:
    escape = seq(Lit("\\"), alt(chars('"\\/bfnrt'), seq(Lit("u"), Rep(chars("0-9a-fA-F"), 4, 4))))
    return alt(chars('"\\\x00-\x1f', negated=True), escape)


class _Compiler:
    def __init__(self, root_schema: dict) -> None:
        self.root = root_schema
        self.rules: dict[str, Expr] = {}
        self.defs: dict[tuple[str, str], str] = {}
        self.compiled = 0
        self.literal_chars = 0

    def rule(self, name: str, build) -> Ref:
        if name not in self.rules:
            self.rules[name] = Lit("")  # placeholder lets recursive schemas refer to themselves
            self.rules[name] = build()
        return Ref(name)

    def fresh(self, prefix: str, expr: Expr) -> Ref:
        """A new rule holding `expr` (keeps expressions shallow for both grammar engines)."""
        name = f"{prefix}-{len(self.rules)}"
        self.rules[name] = expr
        return Ref(name)

    def prim(self, name: str) -> Ref:
        return self.rule(name, lambda: PRIMITIVES[name](self))

    def compile(self, s: dict | bool, path: str, depth: int) -> Expr:
        self.compiled += 1
        if self.compiled > MAX_SUBSCHEMAS:
            raise SchemaError(f"the schema expands to more than {MAX_SUBSCHEMAS:,} subschemas (MAX_SUBSCHEMAS)")
        if depth > MAX_COMPILE_DEPTH:
            raise SchemaError(f"the schema nests deeper than {MAX_COMPILE_DEPTH} subschemas "
                              f"(MAX_COMPILE_DEPTH, $ref chains included) at {path}")
        expr = self._compile(s, path, depth)
        if depth and depth % HOIST_DEPTH == 0 and not isinstance(expr, Ref | Lit | Chars):
            expr = self.fresh("sub", expr)
        return expr

    def _compile(self, s: dict | bool, path: str, depth: int) -> Expr:
        if s is True or s == {}:
            return self.prim("value")
        if s is False:
            raise SchemaError(f"schema at {path} is `false`: nothing can satisfy it")
        if not isinstance(s, dict):
            raise SchemaError(f"schema at {path} must be an object")
        for key in UNSUPPORTED:
            if key in s:
                raise SchemaError(f"constrained output does not support `{key}` (at {path})")
        if "$ref" in s:
            _alone(s, "$ref", path)
            return self.ref(s["$ref"], path, depth)
        if "const" in s or "enum" in s:
            return self.literals(s, path)
        for key in ("anyOf", "oneOf"):
            if key in s:
                _alone(s, key, path)
                return alt(*(self.compile(sub, f"{path}/{key}/{i}", depth + 1) for i, sub in enumerate(s[key])))
        if "allOf" in s:
            _alone(s, "allOf", path)
            if len(s["allOf"]) != 1:
                raise SchemaError(f"constrained output supports allOf with one schema only (at {path})")
            return self.compile(s["allOf"][0], f"{path}/allOf/0", depth + 1)
        t = s.get("type")
        if isinstance(t, list):
            return alt(*(self._compile({**s, "type": one}, path, depth) for one in t))
        if t is None:
            t = "object" if "properties" in s else "array" if "items" in s else None
        if t is None:
            return self.prim("value")
        build = TYPES.get(t)
        if build is None:
            raise SchemaError(f"unknown type {t!r} at {path}")
        return build(self, s, path, depth)

    def ref(self, ref: str, path: str, depth: int) -> Ref:
        m = re.fullmatch(r"#/(\$defs|definitions)/([^/]+)", ref)
        if not m or m.group(2) not in self.root.get(m.group(1), {}):
            raise SchemaError(f"unresolvable $ref {ref!r} at {path}; only #/$defs/NAME is supported")
        key = (m.group(1), m.group(2))
        if key not in self.defs:  # distinct names per def, even when two sanitize alike
            name = f"def-{re.sub(r'[^A-Za-z0-9]', '-', key[1])[:40]}"
            self.defs[key] = name if name not in self.defs.values() else f"{name}-{len(self.defs)}"
        target = self.root[key[0]][key[1]]
        return self.rule(self.defs[key], lambda: self.compile(target, ref, depth + 1))

    def literals(self, s: dict, path: str) -> Expr:
        values = [s["const"]] if "const" in s else list(s["enum"])
        t = s.get("type")
        if t is not None:  # only the values of the declared type(s) satisfy the whole schema
            values = [v for v in values if _has_type(v, t)]
        rest = {k: v for k, v in s.items() if k not in ANNOTATIONS and k not in ("enum", "const", "type")}
        if rest:  # other keywords beside the values: keep the values that satisfy them too
            defs = {k: self.root[k] for k in ("$defs", "definitions") if k in self.root}
            others = {k: v for k, v in s.items() if k not in ("enum", "const")} | defs
            check = jsonschema.validators.validator_for(self.root)(others)
            values = [v for v in values if check.is_valid(v)]
        if not values:
            raise SchemaError(f"enum/const at {path} leaves no value that satisfies the schema")
        texts = [json.dumps(v) for v in values]
        self.literal_chars += sum(map(len, texts))
        if self.literal_chars > MAX_LITERAL_CHARS:
            raise SchemaError(f"enum and const values total more than {MAX_LITERAL_CHARS:,} characters "
                              "(MAX_LITERAL_CHARS)")
        return literal_choice(texts, self)


ANNOTATIONS = frozenset(("title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
                         "writeOnly", "format", "$defs", "definitions", "$schema", "$id", "$anchor"))


def _alone(s: dict, key: str, path: str) -> None:
    """`key` is compiled on its own: a sibling that constrains too would be silently dropped."""
    extra = sorted(k for k in s if k != key and k not in ANNOTATIONS)
    if extra:
        raise SchemaError(f"constrained output does not support {extra} beside `{key}` (at {path}): "
                          f"move them into the schema(s) that `{key}` refers to")


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _has_type(v: object, t: str | list) -> bool:
    if isinstance(t, list):
        return any(_has_type(v, one) for one in t)
    if t in ("integer", "number"):
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        return t == "number" or float(v).is_integer()
    return isinstance(v, _JSON_TYPES.get(t, ()))


def _object(c: _Compiler, s: dict, path: str, depth: int) -> Expr:
    props = s.get("properties")
    if not props:
        return c.prim("object")
    missing = set(s.get("required", ())) - set(props)
    if missing:
        raise SchemaError(f"required properties {sorted(missing)} are not declared at {path}/properties")
    members = []
    for i, (key, sub) in enumerate(props.items()):
        members += [Lit(", " if i else ""), Lit(json.dumps(key) + ": "),
                    c.compile(sub, f"{path}/properties/{key[:40]}", depth + 1)]
    return seq(Lit("{"), WS, *members, WS, Lit("}"))


def _array(c: _Compiler, s: dict, path: str, depth: int) -> Expr:
    item = c.compile(s.get("items", True), f"{path}/items", depth + 1)
    lo, hi = int(s.get("minItems", 0)), s.get("maxItems")
    if hi is not None and int(hi) < lo:
        raise SchemaError(f"maxItems < minItems at {path}")
    if hi == 0:
        return Lit("[]")
    tail = Rep(seq(Lit(", "), item), max(lo - 1, 0), None if hi is None else int(hi) - 1)
    body = seq(item, tail)
    return seq(Lit("["), body if lo > 0 else Rep(body, 0, 1), Lit("]"))


def _string(c: _Compiler, s: dict, path: str, depth: int) -> Expr:
    lo, hi = int(s.get("minLength", 0)), s.get("maxLength")
    if lo == 0 and hi is None:
        return c.prim("string")
    if hi is not None and int(hi) < lo:
        raise SchemaError(f"maxLength < minLength at {path}")
    return seq(Lit('"'), Rep(c.prim("char"), lo, None if hi is None else int(hi)), Lit('"'))


def _integer(c: _Compiler, s: dict, path: str, depth: int) -> Expr:
    lows = [math.ceil(int_bound(s["minimum"], "minimum", path))] if "minimum" in s else []
    highs = [math.floor(int_bound(s["maximum"], "maximum", path))] if "maximum" in s else []
    if "exclusiveMinimum" in s:
        lows.append(math.floor(int_bound(s["exclusiveMinimum"], "exclusiveMinimum", path)) + 1)
    if "exclusiveMaximum" in s:
        highs.append(math.ceil(int_bound(s["exclusiveMaximum"], "exclusiveMaximum", path)) - 1)
    if not lows and not highs:
        return c.prim("integer")
    # a missing side allows INT_DIGITS digits, or as many as the other bound has
    width = max(INT_DIGITS, *(len(str(abs(b))) for b in lows + highs))
    lo, hi = max(lows, default=-(10**width - 1)), min(highs, default=10**width - 1)
    if lo > hi:
        raise SchemaError(f"integer range at {path} is empty ({lo} > {hi})")
    return int_range(lo, hi, c)


TYPES = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _integer,
    "number": lambda c, s, p, d: c.prim("number"),
    "boolean": lambda c, s, p, d: alt(Lit("true"), Lit("false")),
    "null": lambda c, s, p, d: Lit("null"),
}


def _generic_object(c: _Compiler) -> Expr:
    member = seq(c.prim("string"), Lit(": "), c.prim("value"))
    return seq(Lit("{"), WS, Rep(seq(member, Rep(seq(Lit(", "), member))), 0, 1), WS, Lit("}"))


def _generic_array(c: _Compiler) -> Expr:
    v = c.prim("value")
    return seq(Lit("["), Rep(seq(v, Rep(seq(Lit(", "), v))), 0, 1), Lit("]"))


def _magnitude() -> Expr:
    """Digits of an integer's absolute value: no leading zeros (so never "-0" with a sign)."""
    return alt(Lit("0"), seq(chars("1-9"), Rep(DIGIT, 0, INT_DIGITS - 1)))


PRIMITIVES = {
    "char": lambda c: _str_char(),
    "string": lambda c: seq(Lit('"'), Rep(c.prim("char")), Lit('"')),
    "integer": lambda c: alt(Lit("0"), seq(Rep(Lit("-"), 0, 1), chars("1-9"), Rep(DIGIT, 0, INT_DIGITS - 1))),
    "number": lambda c: seq(
        Rep(Lit("-"), 0, 1), _magnitude(), Rep(seq(Lit("."), Rep(DIGIT, 1, None)), 0, 1),
        Rep(seq(chars("eE"), Rep(chars("+-"), 0, 1), Rep(DIGIT, 1, None)), 0, 1),
    ),
    "object": _generic_object,
    "array": _generic_array,
    "value": lambda c: Alt((c.prim("object"), c.prim("array"), c.prim("string"), c.prim("number"),
                            Lit("true"), Lit("false"), Lit("null"))),
}
