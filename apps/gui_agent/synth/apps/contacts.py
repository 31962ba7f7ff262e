"""Contacts tasks: favourite, call, delete, edit phone/email/name, add a contact."""

from __future__ import annotations

import random

from ..draft import Context, Draft, nth, row, say, set_text, tap

LIST, FORM, DETAIL = "contact_list__contacts", "edit_contact__", "contact_detail__"
FIRST = ("Nina", "Omar", "Priya", "Quentin", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wen", "Yusuf", "Lena", "Marco")
LAST = ("Ortiz", "Singh", "Moreau", "Tanaka", "Berg", "Costa", "Nguyen", "Fischer", "Kowalski", "Reyes", "Ahmed")


def _person(ctx: Context, rng: random.Random) -> dict:
    return rng.choice(ctx.state["contacts"])


def _open(ctx: Context, rng: random.Random, name: str) -> tuple[str, ...]:
    """Open a contact's detail screen: by its row, or by searching for it first."""
    if rng.random() < 0.7:
        return (row(LIST, name),)
    return (set_text("contact_list__search", name.split()[rng.randint(0, 1)]), nth(LIST, 0))


def _phone(rng: random.Random) -> str:
    return f"555-{rng.randint(200, 999):04d}"


def _one(name: str, **expect: object) -> dict:
    return {"list": "contacts", "where": {"name": name}, "count": 1, **({"expect": expect} if expect else {})}


def favourite(ctx: Context, rng: random.Random) -> Draft:
    p = _person(ctx, rng)
    want = not p["favorite"]
    task = say(rng, ("Mark {n} as a favourite", "Add {n} to favourites", "Make {n} a favourite", "Star {n}")
               if want else ("Remove {n} from favourites", "Unfavourite {n}", "Take {n} off the favourites"),
               n=p["name"])
    return Draft(ctx.app, task, f"open {p['name']}, tap favourite", (*_open(ctx, rng, p["name"]), tap(DETAIL + "favorite")),
                 (_one(p["name"], favorite=want),), "favourite")


def call(ctx: Context, rng: random.Random) -> Draft:
    p = _person(ctx, rng)
    task = say(rng, ("Call {n}", "Phone {n}", "Ring {n}", "Give {n} a call", "Make a call to {n}"), n=p["name"])
    return Draft(ctx.app, task, f"open {p['name']}, tap call", (*_open(ctx, rng, p["name"]), tap(DETAIL + "call")),
                 ({"path": "calls", "contains": p["name"]},), "call")


def delete(ctx: Context, rng: random.Random) -> Draft:
    p = _person(ctx, rng)
    task = say(rng, ("Delete the contact {n}", "Remove {n} from my contacts", "Delete {n}", "Erase the contact {n}"),
               n=p["name"])
    return Draft(ctx.app, task, f"open {p['name']}, delete", (*_open(ctx, rng, p["name"]), tap(DETAIL + "delete")),
                 ({"list": "contacts", "where": {"name": p["name"]}, "count": 0},
                  {"path": "contacts", "length": len(ctx.state["contacts"]) - 1}), "delete")


def edit(ctx: Context, rng: random.Random) -> Draft:
    p = _person(ctx, rng)
    field = rng.choice(("phone", "email", "name"))
    first = p["name"].split()[0]
    value = {"phone": _phone(rng), "email": f"{first.lower()}.{rng.randint(1, 99)}@example.org",
             "name": f"{first} {rng.choice(LAST)}"}[field]
    task = say(rng, {"phone": ("Change {n}'s phone number to {v}", "Update the phone of {n} to {v}",
                               "Set {n}'s number to {v}"),
                     "email": ("Set {n}'s email to {v}", "Change the email of {n} to {v}", "Update {n}'s email to {v}"),
                     "name": ("Rename {n} to {v}", "Change the name of {n} to {v}")}[field], n=p["name"], v=value)
    keep = {"phone": p["phone"]} if field == "name" else {field: value}
    return Draft(ctx.app, task, f"open {p['name']}, edit, type the new {field}, save",
                 (*_open(ctx, rng, p["name"]), tap(DETAIL + "edit"), set_text(FORM + field, value), tap(FORM + "save")),
                 (_one(value if field == "name" else p["name"], **keep),), "edit")


def add(ctx: Context, rng: random.Random) -> Draft:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    phone = _phone(rng) if rng.random() < 0.8 else ""
    email = f"{name.split()[0].lower()}@example.net" if rng.random() < 0.4 else ""
    task = say(rng, ("Add a contact named {n}", "Create a contact {n}", "Save a new contact called {n}",
                     "Add {n} to my contacts"), n=name)
    task += f" with phone {phone}" if phone else ""
    task += (" and email " if phone else " with email ") + email if email else ""
    lines = [tap("contact_list__add_contact"), set_text(FORM + "name", name)]
    lines += [set_text(FORM + "phone", phone)] if phone else []
    lines += [set_text(FORM + "email", email)] if email else []
    expect = {k: v for k, v in (("phone", phone), ("email", email)) if v}
    return Draft(ctx.app, task, "open a new contact, type the details, save", (*lines, tap(FORM + "save")),
                 (_one(name, **expect),), "add")


FAMILIES = {"favourite": favourite, "call": call, "delete": delete, "edit": edit, "add": add}
