"""App docs (validation, skeleton tool), UI trees and the environment's actions and navigation."""

from __future__ import annotations

import copy
import json

import pytest

from apps.gui_agent.doc import parse_doc, render_doc
from apps.gui_agent.env import VISIBLE_ROWS, UIEnv
from apps.gui_agent.errors import ActionError, AppDocError
from apps.gui_agent.sim import APPS, DATA, app_doc, load_app
from apps.gui_agent.uitree import element_type, parse_hierarchy, skeleton_from_dumps


def raw_doc(app: str = "clock") -> dict:
    return json.loads((DATA / app / "doc.json").read_text())


def test_shipped_apps_load_with_state_and_xml_screens():
    assert set(APPS) >= {"clock", "contacts", "notes", "settings"}
    for name in APPS:
        app = load_app(name)
        assert app.state and isinstance(app.state, dict)
        assert set(app.screens) == {s.name for s in app.doc.screens}
        for screen in app.doc.screens:
            tree = app.screens[screen.name]
            assert tree.attrs.get("rotation") == "0"  # uiautomator <hierarchy>
            assert all(tree.find(el.id) is not None for el in screen.elements)
    assert load_app("clock").state is not load_app("clock").state  # fresh state per instance


def test_duplicate_element_name_is_rejected_naming_it():
    data = raw_doc()
    data["screens"][1]["elements"][0]["name"] = "alarms__add_alarm"
    with pytest.raises(AppDocError, match="duplicate element name 'alarms__add_alarm'"):
        parse_doc(data)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["screens"][1]["paths"].update(alarms=["alarms__no_such_button"]), "unknown element 'alarms__no_such_button'"),
    (lambda d: d["screens"][1]["paths"].update(nowhere=["alarms__add_alarm"]), "unknown screen 'nowhere'"),
    (lambda d: d["screens"][1]["paths"].update(timer=["alarms__add_alarm"]), "'alarms__add_alarm' is on screen 'alarms'"),
    (lambda d: d["screens"][1]["paths"].update(alarms=["alarms__timer_tab"]), "ends on screen 'timer'"),
    (lambda d: d["screens"][0]["elements"][1].update(opens="ghost"), "'alarms__add_alarm' opens unknown screen 'ghost'"),
    (lambda d: d["screens"][1]["elements"][3].update(options=[]), "'edit_alarm__repeat' lists no options"),
    (lambda d: d["screens"][0]["elements"][0].update(type="widget"), "type"),
    (lambda d: d["screens"][0]["elements"][0].update(colour="red"), "colour"),
    (lambda d: d.update(home="lobby"), "home screen 'lobby'"),
])
def test_bad_docs_are_rejected_naming_the_problem(mutate, message):
    data = copy.deepcopy(raw_doc())
    mutate(data)
    with pytest.raises(AppDocError, match=message):
        parse_doc(data, "clock doc")


def test_skeleton_from_uiautomator_dumps():
    dumps = {name: (DATA / "notes" / "screens" / f"{name}.xml").read_text() for name in ("notes", "note_editor")}
    skel = skeleton_from_dumps(dumps, "notes")
    assert skel["package"] == "com.edge.notes" and skel["home"] == "notes"
    els = {e["name"]: e for s in skel["screens"] for e in s["elements"]}
    assert els["notes__note_list"]["type"] == "list"
    assert els["notes__new_note"]["type"] == "button" and els["notes__new_note"]["description"] == "New note"
    assert els["note_editor__title"]["type"] == "input"
    assert "notes__note_list_row" not in els  # rows of a list are items, not elements
    parse_doc(skel)  # a skeleton is already a valid doc
    with pytest.raises(AppDocError, match="not valid XML"):
        parse_hierarchy("<hierarchy><node", "dump")
    with pytest.raises(AppDocError, match="<hierarchy>"):
        parse_hierarchy("<root/>", "dump")


def test_element_type_guesses():
    def node(cls: str, **flags: str):
        attrs = {"class": cls, "resource-id": "a:id/x", "text": "t", **flags}
        return parse_hierarchy(f"<hierarchy>{_node_xml(attrs)}</hierarchy>").children[0]

    assert element_type(node("android.widget.EditText")) == "input"
    assert element_type(node("android.widget.Switch")) == "switch"
    assert element_type(node("android.widget.SeekBar")) == "slider"
    assert element_type(node("android.widget.Spinner")) == "dropdown"
    assert element_type(node("android.widget.TextView", clickable="true")) == "button"
    assert element_type(node("android.widget.TextView")) == "text"


def _node_xml(attrs: dict) -> str:
    return "<node " + " ".join(f'{k}="{v}"' for k, v in attrs.items()) + "/>"


def test_render_shows_state_and_rows():
    env = UIEnv(load_app("clock"))
    tree = env.render()
    rows = tree.find("alarm_list").children
    assert [r.text for r in rows] == ["07:00 Work Weekdays on", "09:30 Gym Weekends off", "22:15 Take pills Daily on"]
    assert tree.find("next_alarm").text == "Next alarm: 07:00"
    assert "<hierarchy" in tree.to_xml()
    settings = UIEnv(load_app("settings"))
    settings.tap("settings__network")
    wifi = settings.render().find("wifi")
    assert wifi.attrs["checked"] == "true" and wifi.text == "on"


def test_navigation_follows_doc_paths_and_back():
    env = UIEnv(load_app("settings"))
    env.select("sound__ringtone", "marimba")  # case-insensitive option, reached via settings__sound
    assert env.screen == "sound" and env.state["ringtone"] == "Marimba"
    env.tap("display__dark_mode")  # no path sound -> display: back to settings first
    assert [str(a) for a in env.log if a.auto] == [
        "[nav] $settings__sound.tap() @ settings", "[nav] back() @ sound", "[nav] $settings__display.tap() @ settings"]
    assert env.state["dark_mode"] is True and env.script_actions == 2
    env.back()
    assert env.screen == "settings"


def test_unreachable_screen_is_explained():
    env = UIEnv(load_app("contacts"))
    with pytest.raises(ActionError, match="cannot be reached"):
        env.tap("contact_detail__call")


def test_scroll_moves_the_visible_rows_and_get_text_reads_them():
    env = UIEnv(load_app("contacts"))
    first = env.get_text("contact_list__contacts").splitlines()
    assert len(first) == VISIBLE_ROWS and first[0].startswith("Alice Martin")
    env.scroll("contact_list__contacts", "down")
    later = env.get_text("contact_list__contacts").splitlines()
    assert later[-1].startswith("Hugo Petit") and later != first
    with pytest.raises(ActionError, match="up' or 'down"):
        env.scroll("contact_list__contacts", "sideways")


def test_app_rules_reject_bad_input():
    env = UIEnv(load_app("clock"))
    env.set_text("edit_alarm__hour", "25")
    with pytest.raises(ActionError, match="hour must be 0-23"):
        env.tap("edit_alarm__save")
    settings = UIEnv(load_app("settings"))
    with pytest.raises(ActionError, match="0-100"):
        settings.set_text("display__brightness", "bright")
    with pytest.raises(ActionError, match="no option 'Huge'"):
        settings.select("display__font_size", "Huge")


def test_search_filters_the_list():
    env = UIEnv(load_app("contacts"))
    env.set_text("contact_list__search", "grace")
    assert env.items("contact_list__contacts") == ["Grace Lee 555-0107"]


def test_render_doc_lists_every_element_for_the_prompt():
    for name in APPS:
        doc = app_doc(name)
        text = render_doc(doc)
        assert all(f"${n} (" in text for n in doc.element_names)
