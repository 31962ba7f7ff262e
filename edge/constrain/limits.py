"""Bounds on what a schema may compile to, so that no request can make the compiler, the
token matcher or llama.cpp's grammar engine run long, recurse too deep or exhaust memory.

Each bound is checked before the work it protects, and a breach is a SchemaError that names it.
"""

MAX_SCHEMA_DEPTH = 64  # nesting of the schema document (objects, lists); jsonschema recurses ~150 deep
MAX_SCHEMA_NODES = 50_000  # values in the schema document
MAX_COMPILE_DEPTH = 48  # nested subschemas, $ref chains included
MAX_SUBSCHEMAS = 2_000  # subschemas in the document, and compiled (jsonschema checks ~0.2 ms each)
MAX_INT_DIGITS = 1_000  # digits of an integer bound
MAX_LITERAL_CHARS = 300_000  # JSON text of all enum and const values together
MAX_GRAMMAR_SIZE = 100_000  # grammar elements once llama.cpp has expanded every repetition
MAX_GBNF_CHARS = 1_000_000  # length of the GBNF text handed to llama.cpp
MAX_EXPR_DEPTH = 150  # nesting inside one rule (parentheses for llama.cpp's recursive parser)
HOIST_DEPTH = 8  # deeper parts become rules of their own, keeping every rule shallow
