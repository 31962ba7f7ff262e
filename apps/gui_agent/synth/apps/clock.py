"""Clock tasks: switch, add, move, rename, repeat and delete alarms; start the timer."""

from __future__ import annotations

import random

from ..draft import Context, Draft, row, say, select, set_text, tap

LIST, FORM = "alarms__alarm_list", "edit_alarm__"
LABELS = ("Yoga", "Dentist", "School run", "Swim", "Lunch", "Piano", "Nap", "Bus", "Meds", "Study", "Walk dog",
          "Laundry", "Call mum", "Bake bread", "Water plants")
REPEAT_WORDS = {"Daily": "every day", "Weekdays": "on weekdays", "Weekends": "on weekends", "Once": "just once"}


def _alarm(ctx: Context, rng: random.Random) -> tuple[dict, str]:
    a = rng.choice(ctx.state["alarms"])
    return a, rng.choice((a["label"], a["time"]))  # a row is found by its label or its time


def _where(a: dict) -> dict:
    return {"label": a["label"]}


def _time(rng: random.Random) -> tuple[int, int]:
    return rng.randint(0, 23), rng.choice((0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, rng.randint(0, 59)))


def switch(ctx: Context, rng: random.Random) -> Draft:
    a, ref = _alarm(ctx, rng)
    want = not a["enabled"]
    w = "on" if want else "off"
    task = say(rng, (f"Turn {w} the {{r}} alarm", f"Switch the {{r}} alarm {w}", f"Set the {{r}} alarm {w}",
                     ("Enable" if want else "Disable") + " the {r} alarm"), r=ref)
    if rng.random() < 0.5:
        return Draft(ctx.app, task, f"long-tap the {ref} alarm to switch it {w}", (row(LIST, ref, "long_tap"),),
                     ({"list": "alarms", "where": _where(a), "count": 1, "expect": {"enabled": want}},), "switch")
    return Draft(ctx.app, task, f"open the {ref} alarm, switch it {w}, save",
                 (row(LIST, ref), tap(FORM + "enabled"), tap(FORM + "save")),
                 ({"list": "alarms", "where": _where(a), "count": 1, "expect": {"enabled": want}},), "switch")


def add(ctx: Context, rng: random.Random) -> Draft:
    h, m = _time(rng)
    label = rng.choice(LABELS) if rng.random() < 0.7 else ""
    repeat = rng.choice(ctx.options(FORM + "repeat")) if rng.random() < 0.5 else ""
    when = f"{h}:{m:02d}"
    task = say(rng, ("Set an alarm for {t}", "Add an alarm at {t}", "Create an alarm at {t}", "Wake me at {t}",
                     "New alarm at {t}"), t=when)
    if label:
        task += say(rng, (" labelled {x}", " called {x}", " named {x}"), x=label)
    if repeat:
        task += f" that rings {REPEAT_WORDS.get(repeat, repeat)}"
    lines = [tap("alarms__add_alarm"), set_text(FORM + "hour", h), set_text(FORM + "minute", f"{m:02d}")]
    lines += [set_text(FORM + "label", label)] if label else []
    lines += [select(FORM + "repeat", repeat)] if repeat else []
    where = {"time": f"{h:02d}:{m:02d}", **({"label": label} if label else {})}
    expect = {"enabled": True, **({"repeat": repeat} if repeat else {})}
    return Draft(ctx.app, task, "open a new alarm, type the time" + (", name it" if label else "")
                 + (", choose the days" if repeat else "") + ", save", (*lines, tap(FORM + "save")),
                 ({"list": "alarms", "where": where, "count": 1, "expect": expect},), "add")


def move(ctx: Context, rng: random.Random) -> Draft:
    a, ref = _alarm(ctx, rng)
    h, m = _time(rng)
    task = say(rng, ("Change the {r} alarm to {t}", "Move the {r} alarm to {t}", "Make the {r} alarm ring at {t}",
                     "Set the {r} alarm to {t}"), r=ref, t=f"{h}:{m:02d}")
    return Draft(ctx.app, task, f"open the {ref} alarm, type the new time, save",
                 (row(LIST, ref), set_text(FORM + "hour", h), set_text(FORM + "minute", f"{m:02d}"), tap(FORM + "save")),
                 ({"list": "alarms", "where": _where(a), "count": 1, "expect": {"time": f"{h:02d}:{m:02d}"}},), "move")


def rename(ctx: Context, rng: random.Random) -> Draft:
    a, ref = _alarm(ctx, rng)
    new = rng.choice(LABELS)
    task = say(rng, ("Rename the {r} alarm to {x}", "Call the {r} alarm {x}", "Change the label of the {r} alarm to {x}",
                     "Relabel the {r} alarm as {x}"), r=ref, x=new)
    return Draft(ctx.app, task, f"open the {ref} alarm, type the new name, save",
                 (row(LIST, ref), set_text(FORM + "label", new), tap(FORM + "save")),
                 ({"list": "alarms", "where": {"label": new}, "count": 1, "expect": {"time": a["time"]}},), "rename")


def repeat(ctx: Context, rng: random.Random) -> Draft:
    a, ref = _alarm(ctx, rng)
    opt = rng.choice([o for o in ctx.options(FORM + "repeat") if o != a["repeat"]])
    task = say(rng, ("Make the {r} alarm ring {w}", "Set the {r} alarm to repeat {w}", "Have the {r} alarm go off {w}",
                     "Change the {r} alarm to {o}"), r=ref, w=REPEAT_WORDS.get(opt, opt), o=opt)
    return Draft(ctx.app, task, f"open the {ref} alarm, choose {opt}, save",
                 (row(LIST, ref), select(FORM + "repeat", opt), tap(FORM + "save")),
                 ({"list": "alarms", "where": _where(a), "count": 1, "expect": {"repeat": opt}},), "repeat")


def delete(ctx: Context, rng: random.Random) -> Draft:
    a, ref = _alarm(ctx, rng)
    task = say(rng, ("Delete the {r} alarm", "Remove the {r} alarm", "Get rid of the {r} alarm", "Erase the {r} alarm"),
               r=ref)
    return Draft(ctx.app, task, f"open the {ref} alarm, delete it", (row(LIST, ref), tap(FORM + "delete")),
                 ({"list": "alarms", "where": _where(a), "count": 0},
                  {"path": "alarms", "length": len(ctx.state["alarms"]) - 1}), "delete")


def timer(ctx: Context, rng: random.Random) -> Draft:
    n = rng.choice((1, 2, 4, 5, 7, 8, 10, 12, 20, 25, 30, 40, 45, 60, 90, rng.randint(1, 120)))
    task = say(rng, ("Start a {n} minute timer", "Set a timer for {n} minutes", "Count down {n} minutes",
                     "Start the timer for {n} minutes", "Time {n} minutes for me"), n=n)
    nav = (tap("alarms__timer_tab"),) if rng.random() < 0.5 else ()
    return Draft(ctx.app, task, f"type {n} minutes, start the timer",
                 (*nav, set_text("timer__timer_minutes", n), tap("timer__start")),
                 ({"path": "timer.minutes", "equals": n}, {"path": "timer.running", "equals": True}), "timer")


FAMILIES = {"switch": switch, "add": add, "move": move, "rename": rename, "repeat": repeat, "delete": delete,
            "timer": timer}
