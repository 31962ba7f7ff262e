"""Task families read off the doc alone, for any app whose state keeps an element's value under
the element's id (switches as booleans, sliders as numbers, dropdowns as the chosen option).

Every switch, slider and dropdown bound that way yields tasks: its name comes from the element's
description ("Wi-Fi switch" -> "Wi-Fi"), slider ranges from "0-100" in the description, option
values from the doc. Scripts sometimes spell out the doc's path from the home screen and sometimes
rely on the environment's automatic navigation.
"""

from __future__ import annotations

import random
import re

from ..doc import ElementDoc
from .draft import Context, Draft, lower_first, say, select, set_text, tap

_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")
_KIND_WORDS = re.compile(r"\s*\b(switch|slider|toggle)\b.*$", re.IGNORECASE)

SWITCH_ON = ("Turn on {what}", "Switch on {what}", "Enable {what}", "Turn {what} on", "Please turn on {what}")
SWITCH_OFF = ("Turn off {what}", "Switch off {what}", "Disable {what}", "Turn {what} off", "Please turn off {what}")
SLIDER = ("Set the {what} to {n}", "Change the {what} to {n}", "Make the {what} {n}", "Put the {what} at {n}",
          "Adjust the {what} to {n}")
DROPDOWN = ("Set the {what} to {opt}", "Change the {what} to {opt}", "Choose {opt} as the {what}",
            "Pick {opt} for the {what}", "Use {opt} for the {what}")


def _what(el: ElementDoc) -> str:
    """The thing an element sets, as a task names it: "Airplane mode switch" -> "airplane mode"."""
    name = _KIND_WORDS.sub("", el.description).strip(" ,.")
    words = name.split()
    # one word ("Bluetooth") or a capitalised phrase ("Do Not Disturb") is a name: keep it
    return lower_first(name) if len(words) > 1 and all(w.islower() for w in words[1:]) else name


def _bound(ctx: Context, types: tuple[str, ...]) -> list[tuple[str, ElementDoc]]:
    return [(s.name, el) for s in ctx.doc.screens for el in s.elements
            if el.type in types and el.id in ctx.state]


def _lines(ctx: Context, rng: random.Random, screen: str, *actions: str) -> tuple[str, ...]:
    return (ctx.nav(screen) if rng.random() < 0.5 else ()) + actions


def switch(ctx: Context, rng: random.Random) -> Draft | None:
    found = _bound(ctx, ("switch",))
    if not found:
        return None
    screen, el = rng.choice(found)
    want = not ctx.state[el.id]  # a tap flips it: only the change away from the initial value is a task
    what = _what(el)
    task = say(rng, SWITCH_ON if want else SWITCH_OFF, what=what)
    plan = f"open {screen}, switch {what} {'on' if want else 'off'}"
    return Draft(ctx.app, task, plan, _lines(ctx, rng, screen, tap(el.name)),
                 ({"path": el.id, "equals": want},), "switch")


def slider(ctx: Context, rng: random.Random) -> Draft | None:
    found = _bound(ctx, ("slider",))
    if not found:
        return None
    screen, el = rng.choice(found)
    m = _RANGE.search(el.description)
    lo, hi = (int(m.group(1)), int(m.group(2))) if m else (0, 100)
    n = rng.randint(lo, hi)
    what = _KIND_WORDS.sub("", el.description.split(",")[0]).strip().lower()
    task = say(rng, SLIDER, what=what, n=n)
    return Draft(ctx.app, task, f"open {screen}, set the {what} to {n}",
                 _lines(ctx, rng, screen, set_text(el.name, n)), ({"path": el.id, "equals": n},), "slider")


def dropdown(ctx: Context, rng: random.Random) -> Draft | None:
    found = _bound(ctx, ("dropdown",))
    if not found:
        return None
    screen, el = rng.choice(found)
    opt = rng.choice([o for o in el.options if o != ctx.state[el.id]] or el.options)
    what = lower_first(el.description.strip(" ."))
    task = say(rng, DROPDOWN, what=what, opt=opt)
    return Draft(ctx.app, task, f"open {screen}, choose {opt}", _lines(ctx, rng, screen, select(el.name, opt)),
                 ({"path": el.id, "equals": opt},), "dropdown")


FAMILIES = {"switch": switch, "slider": slider, "dropdown": dropdown}
