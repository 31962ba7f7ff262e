"""A sandboxed interpreter for the script language: it walks the `ast` itself.

Nothing is passed to exec/eval/compile. Only whitelisted node types run; calls are limited to a
few builtins, the element methods of the DSL and a handful of str/list methods; attributes that
start with `_` do not exist. Limits: interpreter steps, UI actions (20), iterations per loop,
wall time, variables, and the size of every value a script builds (bounds.py: nesting depth and
items + characters, counted the way C would walk them), checked before each operation that C
runs in one call (comparison, `in`, repetition, concatenation, str/f-strings, min/max), so no
single step can run long or allocate much. Every error names the line. The hard wall-clock and
memory limits are the worker process's (sandbox.py).
"""

from __future__ import annotations

import ast
import operator
import time
from dataclasses import dataclass, field
from typing import Any

from .bounds import cost
from .env import UIEnv
from .errors import ActionError, LimitExceeded, SandboxViolation, ScriptError, ScriptSyntaxError
from .script import element_name, parse_script
from .values import ElementRef, ItemRef, kind_of, to_str


@dataclass(frozen=True)
class Limits:
    max_steps: int = 5000
    max_actions: int = 20
    max_loop_iterations: int = 100
    max_seconds: float = 5.0
    max_size: int = 10_000  # items + characters of one value, every path through nested lists counted
    max_depth: int = 16  # nesting of lists and tuples
    max_total: int = 1_000_000  # the sizes of all values built, summed over the run
    max_vars: int = 200
    max_pow_bits: int = 256


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CMPOPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_STR_METHODS = {"lower", "upper", "strip", "startswith", "endswith", "split", "find", "count"}
_ELEMENT_METHODS = {"tap", "long_tap", "set_text", "get_text", "scroll", "select", "match"}
_FORBIDDEN = {"open", "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "getattr",
              "setattr", "delattr", "input", "breakpoint", "type", "object", "dir", "help", "exit", "quit"}


@dataclass
class RunResult:
    ok: bool
    error: ScriptError | None
    output: list[str] = field(default_factory=list)
    steps: int = 0

    def error_dict(self) -> dict | None:
        e = self.error
        return None if e is None else {"line": e.line, "reason": e.reason, "source": e.source_line,
                                       "type": type(e).__name__}


class Interpreter:
    def __init__(self, env: UIEnv, limits: Limits | None = None) -> None:
        self.env = env
        self.limits = limits or Limits()
        env.max_actions = self.limits.max_actions
        self.vars: dict[str, Any] = {}
        self.output: list[str] = []
        self.steps = 0
        self.built = 0
        self.loops = 0  # loops entered and not left: `break` outside one is an error, as in Python
        self.deadline = 0.0

    def run(self, source: str) -> RunResult:
        """Run `source`; a stopped script gives ok=False and the error, never an exception."""
        lines = source.splitlines()
        self.deadline = time.monotonic() + self.limits.max_seconds
        try:
            self._block(parse_script(source).body)
        except ScriptError as exc:
            if exc.line and not exc.source_line and exc.line <= len(lines):
                exc.source_line = lines[exc.line - 1].strip()
            return RunResult(False, exc, self.output, self.steps)
        return RunResult(True, None, self.output, self.steps)

    # -- statements ------------------------------------------------------------------------
    def _block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self._stmt(stmt)

    def _stmt(self, node: ast.stmt) -> None:
        try:
            self._tick()
            handler = getattr(self, f"_s_{type(node).__name__}", None)
            if handler is None:
                raise SandboxViolation(f"{_describe(node)} is not allowed in scripts")
            handler(node)
        except (_Break, _Continue):
            raise
        except ScriptError as exc:
            if not exc.line:
                exc.line = node.lineno
                exc.args = (f"line {node.lineno}: {exc.reason}",)
            raise
        except (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, OverflowError) as exc:
            raise ScriptError(f"{type(exc).__name__}: {exc}", node.lineno) from None
        except RecursionError:
            raise LimitExceeded("the expression is nested too deeply", node.lineno) from None
        except MemoryError:
            raise LimitExceeded("the script ran out of memory", node.lineno) from None

    def _s_Expr(self, node: ast.Expr) -> None:
        self._eval(node.value)

    def _s_Pass(self, node: ast.Pass) -> None:
        pass

    def _s_Break(self, node: ast.Break) -> None:
        raise self._jump(_Break, "break")

    def _s_Continue(self, node: ast.Continue) -> None:
        raise self._jump(_Continue, "continue")

    def _jump(self, kind: type[Exception], word: str) -> Exception:
        if not self.loops:  # ast.parse accepts it; only Python's compiler would refuse it
            raise ScriptSyntaxError(f"'{word}' outside a loop")
        return kind()

    def _s_Assign(self, node: ast.Assign) -> None:
        value = self._eval(node.value)
        for target in node.targets:
            self._assign(target, value)

    def _s_AugAssign(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise SandboxViolation("augmented assignment works on plain variables only")
        current = self._eval(ast.Name(node.target.id, ast.Load()))
        self._assign(node.target, self._binop(node.op, current, self._eval(node.value)))

    def _assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            _check_identifier(target.id)
            if element_name(target.id) is not None:
                raise SandboxViolation(f"cannot assign to the element ${element_name(target.id)}")
            if target.id not in self.vars and len(self.vars) >= self.limits.max_vars:
                raise LimitExceeded(f"the script uses more than {self.limits.max_vars} variables")
            self.vars[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(value)
            if len(values) != len(target.elts):
                raise ScriptError(f"cannot unpack {len(values)} values into {len(target.elts)} names")
            for t, v in zip(target.elts, values, strict=True):
                self._assign(t, v)
        else:
            raise SandboxViolation("only plain variables can be assigned")

    def _s_If(self, node: ast.If) -> None:
        self._block(node.body if self._eval(node.test) else node.orelse)

    def _loop_body(self, body: list[ast.stmt]) -> bool:
        """Run one iteration; False when the loop must stop (break)."""
        self.loops += 1
        try:
            self._block(body)
        except _Break:
            return False
        except _Continue:
            pass
        finally:
            self.loops -= 1
        return True

    def _s_For(self, node: ast.For) -> None:
        iterable = self._iterable(self._eval(node.iter))
        for n, value in enumerate(iterable):
            if n >= self.limits.max_loop_iterations:
                raise LimitExceeded(f"the loop ran more than {self.limits.max_loop_iterations} iterations")
            self._assign(node.target, value)
            if not self._loop_body(node.body):
                return
        self._block(node.orelse)

    def _s_While(self, node: ast.While) -> None:
        n = 0
        while self._eval(node.test):
            n += 1
            if n > self.limits.max_loop_iterations:
                raise LimitExceeded(f"the loop ran more than {self.limits.max_loop_iterations} iterations")
            if not self._loop_body(node.body):
                return
        self._block(node.orelse)

    def _iterable(self, value: Any):
        if isinstance(value, ElementRef):
            return [ItemRef(value.name, i) for i in range(len(self.env.items(value.name)))]
        if isinstance(value, (range, list, tuple, str)):
            return value
        raise ScriptError(f"cannot loop over {kind_of(value)}")

    # -- expressions -----------------------------------------------------------------------
    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise LimitExceeded(f"the script took more than {self.limits.max_steps} steps")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"the script ran longer than {self.limits.max_seconds:g} s")

    def _eval(self, node: ast.expr) -> Any:
        self._tick()
        handler = getattr(self, f"_e_{type(node).__name__}", None)
        if handler is None:
            raise SandboxViolation(f"{_describe(node)} is not allowed in scripts")
        return handler(node)

    def _e_Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise SandboxViolation(f"{type(node.value).__name__} literals are not allowed")
        if isinstance(node.value, str) and not _encodable(node.value):
            raise ScriptError("the string has a lone surrogate (e.g. \\ud800): not valid text")
        return node.value

    def _e_Name(self, node: ast.Name) -> Any:
        name = element_name(node.id)
        if name is not None:
            return ElementRef(name)
        if node.id in self.vars:
            return self.vars[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in _FORBIDDEN or node.id.startswith("_"):
            raise SandboxViolation(f"{node.id} is not available in scripts")
        if node.id in _BUILTINS:
            raise SandboxViolation(f"{node.id} can only be called, e.g. {node.id}(...)")
        raise ScriptError(f"name {node.id!r} is not defined")

    def _e_List(self, node: ast.List) -> list:
        return self._sized([self._eval(e) for e in node.elts])

    def _e_Tuple(self, node: ast.Tuple) -> tuple:
        return self._sized(tuple(self._eval(e) for e in node.elts))

    def _e_JoinedStr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                if v.format_spec is not None or v.conversion != -1:
                    raise SandboxViolation("f-string format specs and conversions are not allowed")
                parts.append(self._str(self._eval(v.value)))
            else:
                parts.append(self._eval(v))
            self._check_length(sum(map(len, parts)))  # before the join, not after
        return self._sized("".join(parts))

    def _e_BinOp(self, node: ast.BinOp) -> Any:
        return self._binop(node.op, self._eval(node.left), self._eval(node.right))

    def _binop(self, op: ast.operator, a: Any, b: Any) -> Any:
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise SandboxViolation(f"operator {type(op).__name__} is not allowed")
        self._check_binop(op, a, b)
        return self._sized(fn(a, b))

    def _check_binop(self, op: ast.operator, a: Any, b: Any) -> None:
        """Refuse an operation whose result would be too big *before* computing it."""
        limit = self.limits.max_size
        if isinstance(op, ast.Mult):
            seq, n = (a, b) if isinstance(a, (str, list, tuple)) else (b, a)
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 0:
                # the elements' own size counts once per repetition: [[0] * 100] * 100 is 10,000
                size = len(seq) if isinstance(seq, str) else self._cost(seq) - 1
                if size * n > limit:
                    raise LimitExceeded(f"the result would have size {size * n}; the limit is {limit}")
        elif isinstance(op, ast.Add) and isinstance(a, (str, list, tuple)):
            if self._cost(a) + self._cost(b) > limit:
                raise LimitExceeded(f"the result would be larger than the size limit {limit}")
        elif isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int):
            # a ** b has more than (bits(a) - 1) * b bits; under the bound it costs a few multiplications
            if b > 0 and (abs(a).bit_length() - 1) * b > self.limits.max_pow_bits:
                raise LimitExceeded(f"{a} ** {b} is too large a number")
        elif isinstance(op, ast.Mod) and isinstance(a, str):
            raise SandboxViolation("%-formatting of strings is not allowed; use f-strings or +")

    def _cost(self, value: Any) -> int:
        """The value's size; LimitExceeded when over the limit (a list can grow after it was built)."""
        return cost(value, self.limits.max_size, self.limits.max_depth, (ElementRef, ItemRef))

    def _check_length(self, n: int) -> None:
        if n > self.limits.max_size:
            raise LimitExceeded(f"a value of {n} items is larger than the limit {self.limits.max_size}")

    def _sized(self, value: Any) -> Any:
        """Every value the script builds passes here: its size, depth and the run's total are bounded."""
        if isinstance(value, int) and value.bit_length() > self.limits.max_pow_bits:
            raise LimitExceeded("a number is too large")
        self.built += self._cost(value)
        if self.built > self.limits.max_total:
            raise LimitExceeded(f"the script built more than {self.limits.max_total} items in all")
        return value

    def _str(self, value: Any) -> str:
        """str() of a value, its size checked before C renders it (repr of nested lists walks them all)."""
        self._cost(value)
        return self._sized(to_str(value))

    def _e_UnaryOp(self, node: ast.UnaryOp) -> Any:
        fn = _UNARY.get(type(node.op))
        if fn is None:
            raise SandboxViolation(f"operator {type(node.op).__name__} is not allowed")
        return self._sized(fn(self._eval(node.operand)))

    def _e_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for expr in node.values:
            value = self._eval(expr)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _e_Compare(self, node: ast.Compare) -> bool:
        left = self._eval(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            self._cost(left), self._cost(right)  # C compares nested lists element by element
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True

    def _e_IfExp(self, node: ast.IfExp) -> Any:
        return self._eval(node.body) if self._eval(node.test) else self._eval(node.orelse)

    def _e_Subscript(self, node: ast.Subscript) -> Any:
        value = self._eval(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self._eval(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if not isinstance(value, (str, list, tuple)):
                raise ScriptError(f"cannot slice {kind_of(value)}")
            return self._sized(value[slice(*parts)])
        index = self._eval(node.slice)
        if isinstance(value, ElementRef):
            if not isinstance(index, int) or isinstance(index, bool):
                raise ScriptError(f"list rows are indexed by integers, not {kind_of(index)}")
            return ItemRef(value.name, index)
        if isinstance(value, (str, list, tuple)):
            return value[index]
        raise ScriptError(f"cannot index {kind_of(value)}")

    def _e_Attribute(self, node: ast.Attribute) -> Any:
        _check_chain(node)
        raise SandboxViolation(f"attribute .{node.attr} can only be called as a method, e.g. .{node.attr}()")

    # -- calls -------------------------------------------------------------------------------
    def _e_Call(self, node: ast.Call) -> Any:
        if node.keywords:
            raise SandboxViolation("keyword arguments are not allowed")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise SandboxViolation("*arguments are not allowed")
        if isinstance(node.func, ast.Attribute):
            _check_chain(node.func)
            target = self._eval(node.func.value)
            return self._method(target, node.func.attr, [self._eval(a) for a in node.args])
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if element_name(name) is None and name not in self.vars and name in _BUILTINS:
                return _BUILTINS[name](self, *[self._eval(a) for a in node.args])
            self._e_Name(node.func)  # raises the right error for forbidden or unknown names
        raise SandboxViolation("only builtins and element methods can be called")

    def _method(self, target: Any, method: str, args: list[Any]) -> Any:
        if isinstance(target, ElementRef):
            return self._element_method(target, method, args)
        if isinstance(target, ItemRef):
            if args:
                raise ActionError(f"{method}() on a list row takes no arguments")
            return self.env.item_action(target.list_name, target.index, method)
        if isinstance(target, str) and method in _STR_METHODS:
            return self._sized(getattr(target, method)(*args))
        if isinstance(target, list) and method == "append":
            if len(args) != 1:
                raise ScriptError("append() takes one value")
            self._check_length(self._cost(target) + self._cost(args[0]))
            target.append(args[0])
            self.built += self._cost(args[0])
            return None
        raise ScriptError(f"{kind_of(target)} has no method {method}()")

    def _element_method(self, ref: ElementRef, method: str, args: list[Any]) -> Any:
        if method not in _ELEMENT_METHODS:
            raise ActionError(f"elements have no method {method}(); use {', '.join(sorted(_ELEMENT_METHODS))}")
        env, name = self.env, ref.name
        if method in ("set_text", "select", "match"):
            if len(args) != 1 or not isinstance(args[0], (str, int, float)):
                raise ActionError(f"{method}() takes one text argument")
            text = str(args[0])
            if method == "match":
                return ItemRef(name, env.match(name, text))
            return env.set_text(name, text) if method == "set_text" else env.select(name, text)
        if method == "scroll":
            return env.scroll(name, *[str(a) for a in args[:1]])
        if args:
            raise ActionError(f"{method}() takes no arguments")
        return getattr(env, method)(name)


def _b_len(it: Interpreter, value: Any) -> int:
    return len(it.env.items(value.name)) if isinstance(value, ElementRef) else len(value)


def _b_range(it: Interpreter, *args: int) -> range:
    if not all(isinstance(a, int) for a in args):
        raise ScriptError("range() takes integers")
    numbers = range(*args)
    # builtins like max() or `in` would walk a huge range in C, between two interpreter steps
    if len(numbers) > it.limits.max_size:
        raise LimitExceeded(f"range() of {len(numbers)} numbers is over the limit {it.limits.max_size}")
    return numbers


def _b_print(it: Interpreter, *args: Any) -> None:
    if len(it.output) < 100:
        it.output.append(it._sized(" ".join(it._str(a) for a in args)))


def _b_int(it: Interpreter, value: Any) -> int:
    if isinstance(value, str) and len(value) > 100:  # decimal parsing is quadratic in the digits
        raise LimitExceeded(f"int() of a {len(value)}-character string; the limit is 100")
    return it._sized(int(value))


def _b_minmax(fn: Any) -> Any:
    def call(it: Interpreter, *args: Any) -> Any:
        for a in args:
            it._cost(a)  # C compares every pair
        return fn(*args)
    return call


_BUILTINS = {
    "back": lambda it: it.env.back(), "len": _b_len, "range": _b_range, "print": _b_print,
    "str": lambda it, v="": it._str(v), "int": _b_int, "abs": lambda it, v: it._sized(abs(v)),
    "min": _b_minmax(min), "max": _b_minmax(max),
}


def _check_identifier(name: str) -> None:
    if name.startswith("_") and element_name(name) is None:
        raise SandboxViolation(f"names starting with '_' ({name}) are not allowed")


def _check_chain(node: ast.expr) -> None:
    """Refuse `_` attributes anywhere in a chain like a.b[0].c(), the first one in reading order."""
    attrs = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    for attr in reversed(attrs):
        if attr.startswith("_"):
            raise SandboxViolation(f"attribute {attr} is not allowed")


def _describe(node: ast.AST) -> str:
    names = {"Import": "import", "ImportFrom": "import", "FunctionDef": "defining functions",
             "Lambda": "lambda", "ClassDef": "defining classes", "With": "with", "Try": "try",
             "Global": "global", "Delete": "del", "ListComp": "list comprehensions"}
    return names.get(type(node).__name__, f"a {type(node).__name__} expression")


def _encodable(text: str) -> bool:
    """Valid Unicode text (no lone surrogates): what the UI, the log and JSON replies can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
