"""Notes tasks: pin/unpin, copy, delete, rewrite, rename, write a new note."""

from __future__ import annotations

import random

from ..draft import Context, Draft, row, say, set_text, tap

LIST, EDITOR, MENU = "notes__note_list", "note_editor__", "note_menu__"
TITLES = ("Holiday", "Budget", "Garden", "Workout", "Gift ideas", "Movies", "Passwords hint", "Reading", "Chores",
          "Birthday", "Recipes to try", "Car", "Plans")
BODIES = ("buy stamps", "call the plumber", "tomatoes, basil, mint", "run 5 km", "pay rent on Friday",
          "socks for dad", "Alien, Heat, Up", "ask about the lease", "fix the bike", "book the train",
          "water the ferns", "renew passport")


def _note(ctx: Context, rng: random.Random) -> dict:
    return rng.choice(ctx.state["notes"])


def _one(title: str, **expect: object) -> dict:
    return {"list": "notes", "where": {"title": title}, "count": 1, **({"expect": expect} if expect else {})}


def pin(ctx: Context, rng: random.Random) -> Draft:
    n = _note(ctx, rng)
    want = not n["pinned"]
    task = say(rng, ("Pin the {t} note", "Pin {t} to the top", "Keep the {t} note at the top") if want else
               ("Unpin the {t} note", "Stop pinning the {t} note", "Unpin {t}"), t=n["title"])
    return Draft(ctx.app, task, f"long-tap the {n['title']} note, tap pin",
                 (row(LIST, n["title"], "long_tap"), tap(MENU + "pin")), (_one(n["title"], pinned=want),), "pin")


def copy(ctx: Context, rng: random.Random) -> Draft:
    n = _note(ctx, rng)
    task = say(rng, ("Duplicate the {t} note", "Copy the {t} note", "Make a duplicate of the {t} note"), t=n["title"])
    return Draft(ctx.app, task, f"long-tap the {n['title']} note, tap duplicate",
                 (row(LIST, n["title"], "long_tap"), tap(MENU + "duplicate")),
                 (_one(f"{n['title']} (copy)"), _one(n["title"])), "copy")


def delete(ctx: Context, rng: random.Random) -> Draft:
    n = _note(ctx, rng)
    task = say(rng, ("Delete the {t} note", "Remove the {t} note", "Throw away the {t} note", "Delete {t}"),
               t=n["title"])
    return Draft(ctx.app, task, f"long-tap the {n['title']} note, tap delete",
                 (row(LIST, n["title"], "long_tap"), tap(MENU + "delete")),
                 ({"list": "notes", "where": {"title": n["title"]}, "count": 0},
                  {"path": "notes", "length": len(ctx.state["notes"]) - 1}), "delete")


def rewrite(ctx: Context, rng: random.Random) -> Draft:
    n, body = _note(ctx, rng), rng.choice(BODIES)
    task = say(rng, ("Change the text of the {t} note to {b}", "Make the {t} note say {b}",
                     "Set the body of the {t} note to {b}", "Overwrite the {t} note with {b}"), t=n["title"], b=body)
    return Draft(ctx.app, task, f"open the {n['title']} note, type the new text, save",
                 (row(LIST, n["title"]), set_text(EDITOR + "body", body), tap(EDITOR + "save")),
                 (_one(n["title"], body=body),), "rewrite")


def rename(ctx: Context, rng: random.Random) -> Draft:
    n, title = _note(ctx, rng), rng.choice(TITLES)
    task = say(rng, ("Rename the {t} note to {x}", "Change the title of the {t} note to {x}",
                     "Retitle the {t} note as {x}"), t=n["title"], x=title)
    return Draft(ctx.app, task, f"open the {n['title']} note, type the new title, save",
                 (row(LIST, n["title"]), set_text(EDITOR + "title", title), tap(EDITOR + "save")),
                 (_one(title, body=n["body"]),), "rename")


def write(ctx: Context, rng: random.Random) -> Draft:
    title, body = rng.choice(TITLES), rng.choice(BODIES)
    task = say(rng, ("Create a note titled {x} with the text {b}", "Write a note called {x} saying {b}",
                     "New note {x}: {b}", "Add a note named {x} that says {b}", "Make a note {x} with {b}"),
               x=title, b=body)
    return Draft(ctx.app, task, "open a new note, type title and text, save",
                 (tap("notes__new_note"), set_text(EDITOR + "title", title), set_text(EDITOR + "body", body),
                  tap(EDITOR + "save")), (_one(title, body=body),), "write")


FAMILIES = {"pin": pin, "copy": copy, "delete": delete, "rewrite": rewrite, "rename": rename, "write": write}
