"""Compile a JSON Schema into the grammar IR, so that generated text can only be valid JSON
that the schema accepts.

Supported: type (object, array, string, integer, number, boolean, null, and lists of types),
properties/required, items/minItems/maxItems, enum/const, minLength/maxLength, integer
minimum/maximum/exclusiveMinimum/exclusiveMaximum, anyOf/oneOf, a single allOf, $ref to
#/$defs or #/definitions. Objects with `properties` are produced with every declared property,
in declared order (valid whether or not a property is required) and no extra ones.
Keywords that a grammar cannot enforce here (pattern, multipleOf, not, if/then/else,
patternProperties) are refused rather than silently ignored.
"""

from __future__ import annotations

import json
import re

from ..errors import SchemaError
from ..sampling import check_json_schema
from .grammar import Alt, Expr, Grammar, Lit, Ref, Rep, alt, chars, seq

UNSUPPORTED = ("pattern", "multipleOf", "not", "if", "then", "else", "patternProperties",
               "dependentSchemas", "propertyNames", "contains", "uniqueItems")
WS = Rep(chars(" \n"), 0, 2)  # bounded whitespace: small models otherwise loop on blanks
MAX_INT_DIGITS = 15


def _str_char() -> Expr:
    escape = seq(Lit("\\"), alt(chars('"\\/bfnrt'), seq(Lit("u"), Rep(chars("0-9a-fA-F"), 4, 4))))
    return alt(chars('"\\\x00-\x1f', negated=True), escape)


class _Compiler:
    def __init__(self, root_schema: dict) -> None:
        self.root = root_schema
        self.rules: dict[str, Expr] = {}

    def rule(self, name: str, build) -> Ref:
        if name not in self.rules:
            self.rules[name] = Lit("")  # placeholder lets recursive schemas refer to themselves
            self.rules[name] = build()
        return Ref(name)

    def prim(self, name: str) -> Ref:
        return self.rule(name, lambda: PRIMITIVES[name](self))

    def compile(self, s: dict | bool, path: str) -> Expr:
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
            return self.ref(s["$ref"], path)
        if "const" in s:
            return Lit(json.dumps(s["const"]))
        if "enum" in s:
            return alt(*(Lit(json.dumps(v)) for v in s["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in s:
                return alt(*(self.compile(sub, f"{path}/{key}/{i}") for i, sub in enumerate(s[key])))
        if "allOf" in s:
            if len(s["allOf"]) != 1:
                raise SchemaError(f"constrained output supports allOf with one schema only (at {path})")
            return self.compile(s["allOf"][0], f"{path}/allOf/0")
        t = s.get("type")
        if isinstance(t, list):
            return alt(*(self.compile({**s, "type": one}, path) for one in t))
        if t is None:
            t = "object" if "properties" in s else "array" if "items" in s else None
        if t is None:
            return self.prim("value")
        build = TYPES.get(t)
        if build is None:
            raise SchemaError(f"unknown type {t!r} at {path}")
        return build(self, s, path)

    def ref(self, ref: str, path: str) -> Ref:
        m = re.fullmatch(r"#/(\$defs|definitions)/([^/]+)", ref)
        if not m or m.group(2) not in self.root.get(m.group(1), {}):
            raise SchemaError(f"unresolvable $ref {ref!r} at {path}; only #/$defs/NAME is supported")
        name = "def-" + re.sub(r"[^A-Za-z0-9]", "-", m.group(2))
        target = self.root[m.group(1)][m.group(2)]
        return self.rule(name, lambda: self.compile(target, ref))


def _object(c: _Compiler, s: dict, path: str) -> Expr:
    props = s.get("properties")
    if not props:
        return c.prim("object")
    missing = set(s.get("required", ())) - set(props)
    if missing:
        raise SchemaError(f"required properties {sorted(missing)} are not declared at {path}/properties")
    members = []
    for i, (key, sub) in enumerate(props.items()):
        members += [Lit(", " if i else ""), Lit(json.dumps(key) + ": "), c.compile(sub, f"{path}/properties/{key}")]
    return seq(Lit("{"), WS, *members, WS, Lit("}"))


def _array(c: _Compiler, s: dict, path: str) -> Expr:
    item = c.compile(s.get("items", True), f"{path}/items")
    lo, hi = int(s.get("minItems", 0)), s.get("maxItems")
    if hi is not None and int(hi) < lo:
        raise SchemaError(f"maxItems < minItems at {path}")
    if hi == 0:
        return Lit("[]")
    tail = Rep(seq(Lit(", "), item), max(lo - 1, 0), None if hi is None else int(hi) - 1)
    body = seq(item, tail)
    return seq(Lit("["), body if lo > 0 else Rep(body, 0, 1), Lit("]"))


def _string(c: _Compiler, s: dict, path: str) -> Expr:
    lo, hi = int(s.get("minLength", 0)), s.get("maxLength")
    if lo == 0 and hi is None:
        return c.prim("string")
    return seq(Lit('"'), Rep(c.prim("char"), lo, None if hi is None else int(hi)), Lit('"'))


def _integer(c: _Compiler, s: dict, path: str) -> Expr:
    lo, hi = s.get("minimum"), s.get("maximum")
    if "exclusiveMinimum" in s:
        lo = max(int(s["exclusiveMinimum"]) + 1, lo if lo is not None else -(10**MAX_INT_DIGITS))
    if "exclusiveMaximum" in s:
        hi = min(int(s["exclusiveMaximum"]) - 1, hi if hi is not None else 10**MAX_INT_DIGITS)
    if lo is None and hi is None:
        return c.prim("integer")
    lo = -(10**MAX_INT_DIGITS - 1) if lo is None else int(-(-lo // 1))  # ceil for float bounds
    hi = 10**MAX_INT_DIGITS - 1 if hi is None else int(hi // 1)
    if lo > hi:
        raise SchemaError(f"integer range at {path} is empty ({lo} > {hi})")
    return int_range(lo, hi)


def int_range(lo: int, hi: int) -> Expr:
    """Digits of exactly the integers in [lo, hi], no leading zeros, '-' for negatives."""
    parts = []
    if lo < 0:
        neg_hi, neg_lo = -lo, max(1, -hi)
        if neg_lo <= neg_hi:
            parts.append(seq(Lit("-"), _nonneg(neg_lo, neg_hi)))
    if hi >= 0:
        parts.append(_nonneg(max(lo, 0), hi))
    return alt(*parts)


def _nonneg(lo: int, hi: int) -> Expr:
    out = []
    for n in range(len(str(lo)), len(str(hi)) + 1):
        a, b = max(lo, 10 ** (n - 1) if n > 1 else 0), min(hi, 10**n - 1)
        if a <= b:
            out.append(_same_len(str(a), str(b)))
    return alt(*out)


def _same_len(a: str, b: str) -> Expr:
    if len(a) == 1:
        return chars(f"{a}-{b}") if a != b else Lit(a)
    if a[0] == b[0]:
        return seq(Lit(a[0]), _same_len(a[1:], b[1:]))
    n = len(a) - 1
    options = [seq(Lit(a[0]), _same_len(a[1:], "9" * n))]
    if int(b[0]) - int(a[0]) > 1:
        options.append(seq(chars(f"{int(a[0]) + 1}-{int(b[0]) - 1}"), Rep(chars("0-9"), n, n)))
    options.append(seq(Lit(b[0]), _same_len("0" * n, b[1:])))
    return alt(*options)


TYPES = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _integer,
    "number": lambda c, s, p: c.prim("number"),
    "boolean": lambda c, s, p: alt(Lit("true"), Lit("false")),
    "null": lambda c, s, p: Lit("null"),
}


def _generic_object(c: _Compiler) -> Expr:
    member = seq(c.prim("string"), Lit(": "), c.prim("value"))
    return seq(Lit("{"), WS, Rep(seq(member, Rep(seq(Lit(", "), member))), 0, 1), WS, Lit("}"))


def _generic_array(c: _Compiler) -> Expr:
    v = c.prim("value")
    return seq(Lit("["), Rep(seq(v, Rep(seq(Lit(", "), v))), 0, 1), Lit("]"))


PRIMITIVES = {
    "char": lambda c: _str_char(),
    "string": lambda c: seq(Lit('"'), Rep(c.prim("char")), Lit('"')),
    "integer": lambda c: seq(Rep(Lit("-"), 0, 1), alt(Lit("0"), seq(chars("1-9"), Rep(chars("0-9"), 0, MAX_INT_DIGITS)))),
    "number": lambda c: seq(
        c.prim("integer"), Rep(seq(Lit("."), Rep(chars("0-9"), 1, None)), 0, 1),
        Rep(seq(chars("eE"), Rep(chars("+-"), 0, 1), Rep(chars("0-9"), 1, None)), 0, 1),
    ),
    "object": _generic_object,
    "array": _generic_array,
    "value": lambda c: Alt((c.prim("object"), c.prim("array"), c.prim("string"), c.prim("number"),
                            Lit("true"), Lit("false"), Lit("null"))),
}


def schema_to_grammar(schema: dict) -> Grammar:
    """Compile a JSON schema (checked first) into a Grammar whose root is the whole answer."""
    check_json_schema(schema)
    c = _Compiler(schema)
    root = c.compile(schema, "#")
    c.rules["root"] = root
    return Grammar(c.rules, "root")
