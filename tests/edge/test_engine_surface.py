"""The Engine is the only way in: no code outside edge/engine.py and edge/backends/ reaches a backend."""

from __future__ import annotations

import ast
from pathlib import Path

from edge import Engine

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge", "apps", "cloud_bridge", "export", "bench", "hw_profiles", "tests")
ALLOWED = ("edge/engine.py", "edge/backends/")


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]
    return [p for p in files if not str(p.relative_to(ROOT)).startswith(ALLOWED)]


def _reaches_into_a_backend(node: ast.AST) -> bool:
    """`x._backend`, or `x.backend.<anything>` (a backend object used, not a backend name)."""
    if not isinstance(node, ast.Attribute):
        return False
    if node.attr == "_backend":
        return True
    inner = node.value
    return isinstance(inner, ast.Attribute) and inner.attr == "backend" and node.attr not in ("lower", "upper")


def test_no_code_outside_the_engine_touches_a_backend_object() -> None:
    hits = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        hits += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree) if _reaches_into_a_backend(n)]
    assert not hits, "use the Engine's public methods instead: " + ", ".join(hits)


def test_the_engine_has_no_public_backend_attribute(default_engine: Engine) -> None:
    assert not hasattr(default_engine, "backend")
    assert default_engine.backend_name == "llamacpp" and default_engine.n_vocab == default_engine.info.n_vocab


def test_the_checker_catches_a_reach_in() -> None:
    leak = ast.parse("engine.backend.tokenize('x')\nengine._backend\n")
    assert sum(_reaches_into_a_backend(n) for n in ast.walk(leak)) == 2
    assert not any(_reaches_into_a_backend(n) for n in ast.walk(ast.parse("row = {'b': engine.backend_name}")))
