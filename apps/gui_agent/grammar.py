"""The output constraint: a grammar (edge's IR) for straight-line scripts over one app doc.

Element names can only be the doc's, each with the actions its type accepts; dropdowns only
their documented options; sliders only numbers. A one-line plan comment comes first.
"""

from __future__ import annotations

import json

from edge.constrain.grammar import Alt, Expr, Grammar, Lit, Ref, Rep, alt, chars, seq

from .doc import AppDoc, ElementDoc

MAX_LINES = 8
MAX_TEXT = 60


def _string() -> Expr:
    return seq(Lit('"'), Rep(chars('"\\\n', negated=True), 0, MAX_TEXT), Lit('"'))


def _element_line(el: ElementDoc) -> Expr | None:
    head = Lit(f"${el.name}")
    taps = alt(Lit(".tap()"), Lit(".long_tap()"))
    match el.type:
        case "button":
            return seq(head, taps)
        case "switch":
            return seq(head, Lit(".tap()"))
        case "input":
            return seq(head, Lit(".set_text("), Ref("string"), Lit(")"))
        case "slider":
            return seq(head, Lit('.set_text("'), Rep(chars("0-9"), 1, 3), Lit('")'))
        case "dropdown":
            return seq(head, Lit(".select("), alt(*(Lit(json.dumps(o)) for o in el.options)), Lit(")"))
        case "list":
            row = alt(seq(Lit(".match("), Ref("string"), Lit(")")), seq(Lit("["), chars("0-9"), Lit("]")))
            return seq(head, row, taps)
    return None  # text elements: reading them alone does nothing in a straight-line script


def script_grammar(doc: AppDoc) -> Grammar:
    """root ::= plan line{1,MAX_LINES}; line ::= ($element.action(...) | back()) newline."""
    lines = [e for el in (x for s in doc.screens for x in s.elements) if (e := _element_line(el)) is not None]
    rules: dict[str, Expr] = {
        "root": seq(Ref("plan"), Rep(Ref("line"), 1, MAX_LINES)),
        "plan": seq(Lit("# "), Rep(chars("\n", negated=True), 0, 100), Lit("\n")),
        "line": seq(Alt((*lines, Lit("back()"))), Lit("\n")),
        "string": _string(),
    }
    return Grammar(rules)
