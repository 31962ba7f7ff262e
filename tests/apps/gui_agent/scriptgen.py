"""A seeded generator of scripts over the interpreter's syntax, hostile constructs included.

Every script mixes ordinary statements (assignments, loops, element actions) with the things an
attacker tries: deep nesting with shared halves, repetition, huge numbers, long strings,
recursion, dunder attributes, imports, forbidden builtins and Python syntax outside the DSL.
"""

from __future__ import annotations

import random

ELEMENTS = ["$notes__new_note", "$notes__note_list", "$note_editor__title", "$note_editor__body",
            "$note_editor__save", "$nope__missing", "$__class__", "$_x"]
VARS = ["a", "b", "s", "n", "xs"]
BUILTINS = ["len", "range", "str", "int", "abs", "min", "max", "print"]
FORBIDDEN = ["open", "eval", "exec", "getattr", "type", "__import__", "globals", "vars", "compile", "input"]
METHODS = ["lower", "upper", "strip", "split", "find", "count", "startswith", "append", "tap", "long_tap",
           "set_text", "get_text", "match", "select", "scroll", "__class__", "__dict__", "mro", "format", "join"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "<<", "@", "&"]
CMPOPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]

HOSTILE = [
    "a = 1\nb = 1\nfor i in range({d}):\n    a = [a, a]\n    b = [b, b]\nx = a == b",
    "a = 1\nfor i in range({d}):\n    a = (a, a)\nx = str(a)",
    "a = []\nfor i in range({d}):\n    a = [a]\nx = a == [a]",
    "a = []\na.append(a)\nx = [a] == [a]\nprint(a)",
    's = "ab"\nwhile len(s) < 10**{e}:\n    s = s + s',
    "x = [[0] * {n}] * {n}",
    "x = 'x' * {n} * {n}",
    "x = {n} ** {n} ** {n}",
    "x = int('9' * {n})",
    "x = 2 ** {n}\ny = str(x)",
    "x = -(10 ** 70) ** 3",
    "x = (-8) ** 0.5",
    "x = 1e308 * 10\ny = int(x)",
    "def f():\n    return f()\nf()",
    "f = lambda: f\nf()",
    "x = [i for i in range({n})]",
    "x = {{1: 2}}",
    "x = {{1, 2}}",
    "import os\nos.system('true')",
    "from sys import modules",
    "x = ().__class__.__bases__[0].__subclasses__()",
    "x = back.__globals__",
    "x = getattr(back, '__code__')",
    "x = __builtins__",
    "try:\n    x = 1\nexcept Exception:\n    pass",
    "with open('/etc/passwd') as f:\n    pass",
    "del a",
    "global a",
    "x = (y := 3)",
    "x = [*range(3)]",
    "x = f'{{1:>{n}}}'",
    "x = f'{{a!r}}'",
    "x = '%s' * {n} % ()",
    "x = b'bytes'",
    "x = " + "(" * 120 + "1" + ")" * 120,
    "x = " + "-" * 2000 + "1",
    "x = " + "[" * 90 + "]" * 90,
    "xs = []\nz = [xs] * 2000\nfor i in range(99):\n    xs.append('y' * 99)\nq = str(z)",
    "s = 'x' * 9999\nt = f'{{s}}{{s}}'",
    "n = 0\nwhile True:\n    n += 1",
    "for i in range(10**12):\n    pass",
    "x = max(range(10**9))",
    "x = 'a' in range(10**12)",
    "x = '\\ud800'\n$note_editor__title.set_text(x)",
    "x = '\\x00' * 50\n$notes__note_list.match(x).tap()",
]


PRELUDE = 'a = 2\nb = 3\nn = 5\ns = "ab"\nxs = [1, "x"]\nlist_of_lists = [xs, [xs]]\n$notes__new_note.tap()'


class ScriptGen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def script(self) -> str:
        """Half the scripts are well typed (they run on past the first line), half anything goes."""
        typed = self.r.random() < 0.5
        lines = [PRELUDE] if typed else []
        lines += [self.typed_stmt() if typed else self.stmt(0) for _ in range(self.r.randint(1, 6))]
        if self.r.random() < 0.5:
            pos = self.r.randint(0, len(lines))
            d, e, n = self.r.randint(5, 40), self.r.randint(3, 9), self.r.choice([3, 99, 9999, 10**6, 10**12])
            lines.insert(pos, self.r.choice(HOSTILE).format(d=d, e=e, n=n))
        return "\n".join(lines)

    def stmt(self, depth: int) -> str:
        r, pad = self.r, "    "
        kind = r.choice(["assign", "assign", "aug", "expr", "action", "action", "if", "for", "while", "flow"])
        if depth >= 2 and kind in ("if", "for", "while"):
            kind = "assign"
        if kind == "assign":
            return f"{r.choice(VARS)} = {self.expr(0)}"
        if kind == "aug":
            return f"{r.choice(VARS)} {r.choice(['+=', '-=', '*=', '**='])} {self.expr(1)}"
        if kind == "expr":
            return self.expr(0)
        if kind == "action":
            return self.action()
        if kind == "flow":
            return r.choice(["pass", "break", "continue", "back()"])
        body = "\n".join(pad + line for s in range(r.randint(1, 2)) for line in self.stmt(depth + 1).split("\n"))
        if kind == "if":
            return f"if {self.expr(1)}:\n{body}" + (f"\nelse:\n{pad}pass" if r.random() < 0.3 else "")
        if kind == "for":
            it = r.choice([f"range({self.int_lit()})", "$notes__note_list", self.expr(1), "xs"])
            return f"for {r.choice(VARS)} in {it}:\n{body}"
        return f"n = 0\nwhile n < {r.randint(0, 300)}:\n{pad}n += 1\n{body}"

    def typed_stmt(self) -> str:
        r = self.r
        kind = r.choice(["int", "str", "list", "append", "loop", "action", "cmp"])
        if kind == "int":
            return f"n = {self.typed('int', 0)}"
        if kind == "str":
            return f"s = {self.typed('str', 0)}"
        if kind == "list":
            return f"xs = {self.typed('list', 0)}"
        if kind == "append":
            return f"xs.append({self.typed(r.choice(['int', 'str', 'list']), 1)})"
        if kind == "loop":
            return f"for a in {r.choice(['xs', 'range(n % 50)', 's', '$notes__note_list'])}:\n    b = {self.typed('str', 1)}"
        if kind == "cmp":
            return f"b = {self.typed('list', 1)} {r.choice(CMPOPS[:6])} {self.typed('list', 1)}"
        return self.action()

    def typed(self, t: str, depth: int) -> str:
        """An expression of type int, str or list; leaves are literals or the prelude's variables."""
        r, leaf = self.r, depth >= 3 or self.r.random() < 0.35
        if t == "int":
            if leaf:
                return r.choice(["n", "a", "3", "len(s)", "len(xs)", "10**6", "2**200", "-7", "0"])
            return f"({self.typed('int', depth + 1)} {r.choice(['+', '-', '*', '//', '%', '**'])} "\
                   f"{self.typed('int', depth + 1)})"
        if t == "str":
            if leaf:
                return r.choice(["s", '"ab"', "'x' * 900", "str(n)", "s.upper()", "f'{n}-{s}'", "str(xs)"])
            return r.choice([f"({self.typed('str', depth + 1)} + {self.typed('str', depth + 1)})",
                             f"({self.typed('str', depth + 1)} * {self.typed('int', depth + 1)})",
                             f"{self.typed('str', depth + 1)}[{self.typed('int', depth + 1)}:]"])
        if leaf:
            return r.choice(["xs", "[]", "[n, s]", "[xs, xs]", "[[xs] * 9]", "list_of_lists", "s.split('a')"])
        return r.choice([f"({self.typed('list', depth + 1)} + {self.typed('list', depth + 1)})",
                         f"({self.typed('list', depth + 1)} * {self.typed('int', depth + 1)})",
                         f"[{self.typed('list', depth + 1)}, {self.typed('list', depth + 1)}]",
                         f"{self.typed('list', depth + 1)}[::-1]"])

    def action(self) -> str:
        el, r = self.r.choice(ELEMENTS), self.r
        method = r.choice(["tap()", "long_tap()", "get_text()", f"set_text({self.expr(1)})",
                           f"match({self.str_lit()}).tap()", f"[{r.randint(-3, 9)}].long_tap()", "scroll()"])
        return f"{el}.{method}" if not method.startswith("[") else f"{el}{method}"

    def int_lit(self) -> str:
        return self.r.choice(["0", "1", "-1", "7", "100", "10**9", "2**64", "10**80", "-(2**255)", "True"])

    def str_lit(self) -> str:
        return self.r.choice(['""', '"a"', '"Shopping"', "'x' * 5000", '"$5 # not a comment"', "'\\n'", '"\\u00e9"'])

    def expr(self, depth: int) -> str:
        r = self.r
        if depth >= 3 or r.random() < 0.3:
            return r.choice([self.int_lit(), self.str_lit(), r.choice(VARS), "1.5", "1e308", "None", "[]", "()"])
        kind = r.choice(["bin", "bin", "cmp", "bool", "unary", "list", "tuple", "call", "method", "sub",
                         "slice", "fstr", "ifexp", "forbidden", "attr"])
        e = lambda: self.expr(depth + 1)  # noqa: E731
        return {
            "bin": lambda: f"({e()} {r.choice(BINOPS)} {e()})",
            "cmp": lambda: f"({e()} {r.choice(CMPOPS)} {e()})",
            "bool": lambda: f"({e()} {r.choice(['and', 'or'])} {e()})",
            "unary": lambda: f"({r.choice(['not ', '-', '+', '~'])}{e()})",
            "list": lambda: "[" + ", ".join(e() for _ in range(r.randint(0, 3))) + "]",
            "tuple": lambda: "(" + ", ".join(e() for _ in range(r.randint(1, 3))) + ",)",
            "call": lambda: f"{r.choice(BUILTINS)}({', '.join(e() for _ in range(r.randint(0, 2)))})",
            "method": lambda: f"{e()}.{r.choice(METHODS)}({e() if r.random() < 0.5 else ''})",
            "sub": lambda: f"{e()}[{e()}]",
            "slice": lambda: f"{e()}[{self.int_lit()}:{self.int_lit()}:{r.choice(['', '1', '-1', '0'])}]",
            "fstr": lambda: "f'{" + e().replace("'", '"') + "} and {" + r.choice(VARS) + "}'",
            "ifexp": lambda: f"({e()} if {e()} else {e()})",
            "forbidden": lambda: f"{r.choice(FORBIDDEN)}({e()})",
            "attr": lambda: f"{e()}.{r.choice(['__class__', '__dict__', 'real', '_x', 'tap'])}",
        }[kind]()
