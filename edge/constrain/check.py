"""Checks that a grammar is safe for llama.cpp's grammar engine and the token matcher.

llama.cpp crashes or loops on rules that can never finish (`a ::= a`), on left recursion and
on unbounded repetition of a part that can be empty; both engines recurse on nested
parentheses and expand `x{m,n}` into m..n copies. Every grammar is checked here before either
engine sees it, generally rather than per known schema: every rule defined and productive, no
left recursion, bounded size and nesting.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import SchemaError
from .grammar import Alt, Chars, Expr, Grammar, Lit, Ref, Rep, Seq
from .limits import MAX_EXPR_DEPTH, MAX_GRAMMAR_SIZE


def check_grammar(g: Grammar) -> None:
    """Raise SchemaError unless every rule is defined, shallow, finite-able and not left-recursive."""
    if g.root not in g.rules:
        raise SchemaError(f"grammar has no root rule {g.root!r}")
    for name, expr in g.rules.items():
        _check_shallow(name, expr, g.rules)
    size = sum(_size(e) for e in g.rules.values())
    if size > MAX_GRAMMAR_SIZE:
        raise SchemaError(f"the schema compiles to a grammar of {size:,} elements, over the limit of "
                          f"{MAX_GRAMMAR_SIZE:,} (MAX_GRAMMAR_SIZE): lower maxLength/maxItems/minItems, "
                          "shorten enums, or simplify the schema")
    order = _dependency_order(g)
    nullable = _fixpoint(order, g.rules, _nullable)
    productive = _fixpoint(order, g.rules, _productive)
    for name in order:
        if name not in productive:
            raise SchemaError(f"grammar rule {_where(name)} can never finish: every instance would be infinite "
                              "(a recursive schema needs a way out, e.g. an array that may be empty)")
    _check_left_recursion(order, g.rules, nullable)


def _where(rule: str) -> str:
    """A rule's name, and the schema part it came from (schema.py names $defs rules `def-NAME`)."""
    return f"{rule!r} (from $defs {rule[4:]!r})" if rule.startswith("def-") else repr(rule)


def _children(e: Expr) -> tuple[Expr, ...]:
    match e:
        case Seq(items):
            return items
        case Alt(options):
            return options
        case Rep(item):
            return (item,)
    return ()


def _check_shallow(name: str, root: Expr, rules: dict[str, Expr]) -> None:
    stack = [(root, 1)]  # iterative: the other passes recurse, and may do so only within MAX_EXPR_DEPTH
    while stack:
        e, depth = stack.pop()
        if depth > MAX_EXPR_DEPTH:
            raise SchemaError(f"grammar rule {name!r} nests deeper than {MAX_EXPR_DEPTH} (MAX_EXPR_DEPTH)")
        if isinstance(e, Ref) and e.name not in rules:
            raise SchemaError(f"grammar rule {name!r} refers to an undefined rule {e.name!r}")
        if not isinstance(e, Lit | Chars | Seq | Alt | Rep | Ref):
            raise SchemaError(f"grammar rule {name!r} holds {type(e).__name__}, not a grammar expression")
        stack.extend((c, depth + 1) for c in _children(e))


def _size(e: Expr) -> int:
    """Elements after llama.cpp's expansion: `x{m,n}` copies x (a rule of its own) max(m, n) times."""
    if isinstance(e, Rep):
        count = e.max if e.max is not None else e.min + 1
        return _size(e.item) + 2 * max(count, 1)
    return 1 + sum(_size(c) for c in _children(e))


def _dependency_order(g: Grammar) -> list[str]:
    """Rule names, each after the rules it refers to where there is no cycle (iterative DFS post-order)."""
    order: list[str] = []
    seen: set[str] = set()
    for start in [g.root, *g.rules]:
        if start in seen:
            continue
        seen.add(start)
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(_refs(g.rules[start])))]
        while stack:
            name, it = stack[-1]
            nxt = next((r for r in it if r not in seen), None)
            if nxt is None:
                order.append(name)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(_refs(g.rules[nxt]))))
    return order


def _refs(e: Expr) -> list[str]:
    if isinstance(e, Ref):
        return [e.name]
    return [r for c in _children(e) for r in _refs(c)]


def _fixpoint(order: list[str], rules: dict[str, Expr], holds) -> set[str]:
    """The least set of rules for which `holds(expr, set)` is true (dependency order: few passes)."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in order:
            if name not in found and holds(rules[name], found):
                found.add(name)
                changed = True
    return found


def _nullable(e: Expr, rules: set[str]) -> bool:
    match e:
        case Lit(text):
            return text == ""
        case Chars():
            return False
        case Seq(items):
            return all(_nullable(i, rules) for i in items)
        case Alt(options):
            return any(_nullable(o, rules) for o in options)
        case Rep(item, lo):
            return lo == 0 or _nullable(item, rules)
        case Ref(name):
            return name in rules
    return False


def _productive(e: Expr, rules: set[str]) -> bool:
    """Whether `e` derives at least one finite string, given the rules known to."""
    match e:
        case Lit() | Chars():
            return True
        case Seq(items):
            return all(_productive(i, rules) for i in items)
        case Alt(options):
            return any(_productive(o, rules) for o in options)
        case Rep(item, lo):
            return lo == 0 or _productive(item, rules)
        case Ref(name):
            return name in rules
    return False


def _left_refs(name: str, e: Expr, nullable: set[str]) -> list[str]:
    """Rules that `e` can start with before consuming any input."""
    match e:
        case Ref(ref):
            return [ref]
        case Seq(items):
            out = []
            for i in items:
                out += _left_refs(name, i, nullable)
                if not _nullable(i, nullable):
                    break
            return out
        case Alt(options):
            return [r for o in options for r in _left_refs(name, o, nullable)]
        case Rep(item, _, hi):
            if hi is None and _nullable(item, nullable):
                raise SchemaError(f"grammar rule {name!r} repeats without bound a part that can be empty")
            return _left_refs(name, item, nullable) if hi != 0 else []
    return []


def _check_left_recursion(order: list[str], rules: dict[str, Expr], nullable: set[str]) -> None:
    graph = {name: set(_left_refs(name, rules[name], nullable)) for name in order}
    state: dict[str, int] = {}  # 1 = on the DFS path, 2 = done
    for start in order:
        if state.get(start):
            continue
        state[start] = 1
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        while stack:
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[name] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise SchemaError(f"grammar rule {_where(nxt)} is left-recursive (it can refer to itself before "
                                  "any character): a schema that only refers to itself has no instance")
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(graph[nxt])))
