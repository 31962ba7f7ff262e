"""Constrained output: JSON schema -> grammar IR -> each backend's constraint engine."""

from .gbnf import to_gbnf
from .grammar import Grammar
from .schema import schema_to_grammar


def schema_to_gbnf(schema: dict) -> str:
    return to_gbnf(schema_to_grammar(schema))


__all__ = ["Grammar", "schema_to_gbnf", "schema_to_grammar", "to_gbnf"]
