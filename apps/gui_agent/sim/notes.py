"""Notes: a searchable list (pinned first), an editor, and a long-tap menu."""

from __future__ import annotations

from ..doc import ElementDoc
from ..env import SimApp, UIEnv
from ..errors import ActionError

FORM = "note_editor__"


class NotesApp(SimApp):
    name = "notes"
    editing: dict | None = None
    selected: dict | None = None  # the note whose menu is open

    def _rows(self) -> list[dict]:
        query = self.form.get("notes__search", "").strip().lower()
        notes = [n for n in self.state["notes"] if query in (n["title"] + " " + n["body"]).lower()]
        return sorted(notes, key=lambda n: not n["pinned"])  # stable: pinned first, else as created

    def list_items(self, el: ElementDoc) -> list[str]:
        return [f"{'[pinned] ' if n['pinned'] else ''}{n['title']}: {n['body'][:40]}" for n in self._rows()]

    def tap_handlers(self, ui: UIEnv, index: int | None) -> dict:
        return {
            "notes__note_list": lambda: self._open_editor(self._rows()[index] if index is not None else None),
            "notes__new_note": lambda: self._open_editor(None),
            "note_editor__save": lambda: self._save(ui),
            "note_editor__cancel": ui.close,
            "note_menu__pin": lambda: self._menu(ui, "pin"),
            "note_menu__duplicate": lambda: self._menu(ui, "duplicate"),
            "note_menu__delete": lambda: self._menu(ui, "delete"),
        }

    def on_long_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        if el.name == "notes__note_list" and index is not None:
            self.selected = self._rows()[index]
            ui.open("note_menu")

    def _open_editor(self, note: dict | None) -> None:
        self.editing = note
        keep = {k: v for k, v in self.form.items() if not k.startswith(FORM)}
        self.form = {**keep, FORM + "title": (note or {}).get("title", ""), FORM + "body": (note or {}).get("body", "")}

    def _save(self, ui: UIEnv) -> None:
        title, body = self.form.get(FORM + "title", "").strip(), self.form.get(FORM + "body", "")
        if not title and not body.strip():
            raise ActionError("the note is empty: set $note_editor__title or $note_editor__body first")
        title = title or " ".join(body.split()[:4])
        if self.editing is None:
            self.state["notes"].append({"title": title, "body": body, "pinned": False})
        else:
            self.editing.update(title=title, body=body)
        ui.close()

    def _menu(self, ui: UIEnv, what: str) -> None:
        note = self.selected
        if note is None:
            raise ActionError("no note is selected: long-tap a row of $notes__note_list first")
        notes = self.state["notes"]
        if what == "pin":
            note["pinned"] = not note["pinned"]
        elif what == "duplicate":
            notes.insert(notes.index(note) + 1, {**note, "title": f"{note['title']} (copy)", "pinned": False})
        else:
            notes.remove(note)
        self.selected = None
        ui.close()
