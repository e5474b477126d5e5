"""The tile's buttons: one widget the page draws, acting only on the actions it has."""

from __future__ import annotations

from widgets.controls import ActionBar
from widgets.tiles import CONTROLS


def test_a_press_from_the_page_calls_the_action_and_unknown_ones_are_ignored(caplog):
    pressed: list[str] = []
    bar = ActionBar(CONTROLS, pressed.append, title="<span>t</span>")
    assert [a["action"] for a in bar.actions] == [c[0] for c in CONTROLS]
    assert {"action": "pin", "label": "", "icon": "thumbtack"}.items() <= bar.actions[2].items()
    bar._received(bar, {"action": "up"}, [])
    bar._received(bar, {"action": "<script>"}, [])
    bar._received(bar, ["up"], [])
    assert pressed == ["up"] and "unknown button" in caplog.text
    bar.click("down")
    assert pressed == ["up", "down"]
    bar.switch("pin", True)
    bar.switch("lock", True)
    bar.switch("pin", False)
    assert bar.on == ["lock"]
