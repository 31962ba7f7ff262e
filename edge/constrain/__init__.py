"""Constrained output: JSON schema -> grammar IR -> each backend's constraint engine."""

from .check import check_grammar
from .gbnf import to_gbnf
from .grammar import Grammar
from .schema import CompiledSchema, compile_schema, schema_to_grammar


def schema_to_gbnf(schema: dict) -> str:
    """llama.cpp GBNF for a JSON schema (compiled once per distinct schema)."""
    return compile_schema(schema).gbnf


__all__ = ["CompiledSchema", "Grammar", "check_grammar", "compile_schema", "schema_to_gbnf",
           "schema_to_grammar", "to_gbnf"]
