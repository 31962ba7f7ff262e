"""Clock: alarms (list, form, on/off) and a countdown timer."""

from __future__ import annotations

from ..doc import ElementDoc
from ..env import SimApp, UIEnv
from ..errors import ActionError

FORM = "edit_alarm__"


def _number(text: str, what: str, top: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ActionError(f"the {what} must be a number 0-{top}, got {text!r}") from None
    if not 0 <= value <= top:
        raise ActionError(f"the {what} must be 0-{top}, got {value}")
    return value


class ClockApp(SimApp):
    name = "clock"
    editing: int | None = None

    @property
    def alarms(self) -> list[dict]:
        return self.state["alarms"]

    def list_items(self, el: ElementDoc) -> list[str]:
        return [f"{a['time']} {a['label']} {a['repeat']} {'on' if a['enabled'] else 'off'}" for a in self.alarms]

    def text_of(self, el: ElementDoc) -> str | None:
        if el.name == "alarms__next_alarm":
            on = sorted(a["time"] for a in self.alarms if a["enabled"])
            return f"Next alarm: {on[0]}" if on else "No alarms on"
        if el.name == "timer__timer_status":
            t = self.state["timer"]
            return f"Running: {t['minutes']} min" if t["running"] else "Stopped"
        return super().text_of(el)

    def tap_handlers(self, ui: UIEnv, index: int | None) -> dict:
        return {
            "alarms__alarm_list": lambda: self._open_alarm(index),
            "alarms__add_alarm": lambda: self._open_alarm(None),
            "edit_alarm__enabled": self._toggle_form,
            "edit_alarm__save": lambda: self._save(ui),
            "edit_alarm__delete": lambda: self._delete(ui),
            "edit_alarm__cancel": ui.close,
            "timer__start": self._start_timer,
            "timer__reset": lambda: self.state.update(timer={"minutes": 0, "running": False}),
        }

    def on_long_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        if el.name == "alarms__alarm_list" and index is not None:
            self.alarms[index]["enabled"] = not self.alarms[index]["enabled"]

    def _open_alarm(self, index: int | None) -> None:
        self.editing = index
        a = self.alarms[index] if index is not None else {"time": ":", "label": "", "repeat": "Once", "enabled": True}
        hour, _, minute = a["time"].partition(":")
        self.form = {FORM + "hour": hour, FORM + "minute": minute, FORM + "label": a["label"],
                     FORM + "repeat": a["repeat"], FORM + "enabled": "on" if a["enabled"] else "off"}

    def _toggle_form(self) -> None:
        self.form[FORM + "enabled"] = "off" if self.form.get(FORM + "enabled") == "on" else "on"

    def _save(self, ui: UIEnv) -> None:
        f = self.form
        hour = _number(f.get(FORM + "hour", ""), "hour", 23)
        minute = _number(f.get(FORM + "minute", ""), "minute", 59)
        alarm = {"time": f"{hour:02d}:{minute:02d}", "label": f.get(FORM + "label", ""),
                 "repeat": f.get(FORM + "repeat", "Once"), "enabled": f.get(FORM + "enabled") == "on"}
        if self.editing is None:
            self.alarms.append(alarm)
        else:
            self.alarms[self.editing] = alarm
        self.alarms.sort(key=lambda a: a["time"])
        ui.close()

    def _delete(self, ui: UIEnv) -> None:
        if self.editing is not None:
            del self.alarms[self.editing]
        ui.close()

    def _start_timer(self) -> None:
        minutes = _number(self.form.get("timer__timer_minutes", ""), "timer length in minutes", 999)
        if minutes == 0:
            raise ActionError("set the timer length (timer__timer_minutes) before starting it")
        self.state["timer"] = {"minutes": minutes, "running": True}
