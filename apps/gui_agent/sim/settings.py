"""Settings: switches, sliders and dropdowns bound to one flat state dict (keys = element ids)."""

from __future__ import annotations

from ..doc import ElementDoc
from ..env import SimApp, UIEnv
from ..errors import ActionError

SLIDER_MAX = {"brightness": 100, "volume": 10}


class SettingsApp(SimApp):
    name = "settings"

    def text_of(self, el: ElementDoc) -> str | None:
        if el.id == "wifi_network":
            return f"Connected to {self.state['wifi_network']}" if self.state["wifi"] else "Wi-Fi is off"
        if el.id not in self.state:
            return None
        value = self.state[el.id]
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value)

    def on_tap(self, ui: UIEnv, el: ElementDoc, index: int | None) -> None:
        if el.type != "switch":
            return super().on_tap(ui, el, index)
        self.state[el.id] = not self.state[el.id]
        if el.id == "airplane_mode" and self.state["airplane_mode"]:
            self.state.update(wifi=False, bluetooth=False)

    def on_set_text(self, ui: UIEnv, el: ElementDoc, text: str) -> None:
        top = SLIDER_MAX[el.id]
        try:
            value = int(str(text).strip().rstrip("%"))
        except ValueError:
            raise ActionError(f"${el.name} takes a number 0-{top}, got {text!r}") from None
        if not 0 <= value <= top:
            raise ActionError(f"${el.name} takes a number 0-{top}, got {value}")
        self.state[el.id] = value

    def on_select(self, ui: UIEnv, el: ElementDoc, option: str) -> None:
        self.state[el.id] = option
