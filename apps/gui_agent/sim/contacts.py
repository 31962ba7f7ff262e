"""Contacts: a searchable list, favourites, a detail screen, a form, and a call log."""

from __future__ import annotations

from ..doc import ElementDoc
from ..env import SimApp, UIEnv
from ..errors import ActionError

FORM = "edit_contact__"
FIELDS = ("name", "phone", "email")


class ContactsApp(SimApp):
    name = "contacts"
    current: dict | None = None  # the contact on the detail screen
    editing: dict | None = None  # the contact in the form (None: a new one)

    def _rows(self, el: ElementDoc) -> list[dict]:
        people = sorted(self.state["contacts"], key=lambda c: c["name"].lower())
        if el.name == "favorites__favorite_list":
            return [c for c in people if c["favorite"]]
        query = self.form.get("contact_list__search", "").strip().lower()
        return [c for c in people if query in c["name"].lower() or query in c["phone"]]

    def list_items(self, el: ElementDoc) -> list[str]:
        return [f"{c['name']} {c['phone']}" for c in self._rows(el)]

    def text_of(self, el: ElementDoc) -> str | None:
        screen, _, field = el.name.partition("__")
        if screen == "contact_detail" and self.current is not None:
            if field == "favorite":
                return "Remove from favourites" if self.current["favorite"] else "Add to favourites"
            return self.current.get(field)
        return super().text_of(el)

    def on_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        if el.type == "list" and index is not None:
            self.current = self._rows(el)[index]
            return
        super().on_tap(ui, el, index)

    def tap_handlers(self, ui: UIEnv, index: int | None) -> dict:
        return {
            "contact_list__add_contact": lambda: self._open_form(None),
            "contact_detail__edit": lambda: self._open_form(self.current),
            "contact_detail__favorite": self._toggle_favorite,
            "contact_detail__call": lambda: self.state["calls"].append(self._current()["name"]),
            "contact_detail__delete": lambda: self._delete(ui),
            "edit_contact__save": lambda: self._save(ui),
            "edit_contact__cancel": ui.close,
        }

    def _current(self) -> dict:
        if self.current is None:
            raise ActionError("no contact is open: tap a row of $contact_list__contacts first")
        return self.current

    def _toggle_favorite(self) -> None:
        contact = self._current()
        contact["favorite"] = not contact["favorite"]

    def _open_form(self, contact: dict | None) -> None:
        self.editing = contact
        keep = {k: v for k, v in self.form.items() if not k.startswith(FORM)}
        self.form = {**keep, **{FORM + f: (contact or {}).get(f, "") for f in FIELDS}}

    def _save(self, ui: UIEnv) -> None:
        values = {f: self.form.get(FORM + f, "").strip() for f in FIELDS}
        if not values["name"]:
            raise ActionError("the contact has no name: set $edit_contact__name before saving")
        if self.editing is None:
            self.state["contacts"].append({**values, "favorite": False})
        else:
            self.editing.update(values)
        ui.close()

    def _delete(self, ui: UIEnv) -> None:
        contact = self._current()
        self.state["contacts"].remove(contact)
        self.current = None
        ui.close()
