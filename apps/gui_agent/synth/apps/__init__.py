"""Task families of the shipped apps whose effects live in lists (alarms, contacts, notes).

Each module maps family names to `fn(ctx, rng) -> Draft | None`. Apps whose state keeps element
values by id need none: docwalk.py reads their tasks off the doc.
"""

from . import clock, contacts, notes

FAMILIES = {"clock": clock.FAMILIES, "contacts": contacts.FAMILIES, "notes": notes.FAMILIES}
