"""The dashboard with its design agent: feedback, modes, approve, undo, why, fallback."""

from __future__ import annotations

import pandas as pd
import pytest

from hub_kernel import config
from hub_kernel.agents.controller import MetaController
from hub_kernel.agents.design import DesignAgent
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.modes import Controls
from widgets import Dashboard

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def home(hub_home, monkeypatch):
    monkeypatch.setenv("HUB_RELAYOUT_EVERY", "2")
    config.reload_settings()
    return hub_home


def views(dashboard):
    return {v.tile.id: v for v in dashboard._grid.children}


def click(dashboard, tile_id, action):
    view = views(dashboard)[tile_id]
    next(b for b in view.children[0].children if f"hub-{action}" in b._dom_classes).click()


def banner_button(dashboard, css):
    return next(b for b in dashboard._banner.children if css in b._dom_classes)


def make(user="ann", **kwargs):
    return Dashboard.from_path(None, user=user,
                               controller=MetaController(agent=DesignAgent(seed=0)), **kwargs)


def test_supervised_thumbs_down_removes_a_tile_and_undo_brings_it_back(home):
    Controls().set_mode("supervised", user="ann")
    dashboard = make()
    before = dashboard.tile_layout.to_dict()
    target = dashboard.tile_layout.ids[1]
    click(dashboard, target, "down")
    click(dashboard, target, "down")  # second interaction: a round runs
    assert target not in dashboard.tile_layout
    assert dashboard._banner.layout.display == "flex"
    assert "thumbs down" in dashboard._banner.children[0].value
    assert "thumbs down" in dashboard.why._table.value
    banner_button(dashboard, "hub-undo").click()
    assert dashboard.tile_layout.to_dict() == before


def test_assisted_proposal_waits_for_approve(home):
    dashboard = make()
    assert dashboard._mode.value == "assisted"
    liked = dashboard.tile_layout.ids[-1]
    before = dashboard.tile_layout.to_dict()
    click(dashboard, liked, "up")
    click(dashboard, liked, "up")
    assert dashboard.tile_layout.to_dict() == before
    banner_button(dashboard, "hub-approve").click()
    assert dashboard.tile_layout.ids[0] == liked
    assert AuditLog().entries(action="approve")[-1].approved_by == "ann"


def test_mode_switch_is_stored_and_audited(home):
    dashboard = make()
    dashboard._mode.value = "autonomous"
    assert Controls().mode(user="ann", dashboard=dashboard.dashboard_id) == "autonomous"
    assert AuditLog().entries(action="set mode autonomous")
    again = make()
    assert again._mode.value == "autonomous"


def test_returning_user_gets_their_layout_others_the_default(home):
    Controls().set_mode("autonomous")
    first = make()
    default = first.tile_layout.to_dict()
    liked = first.tile_layout.ids[-1]
    click(first, liked, "up")
    click(first, liked, "up")
    assert first.tile_layout.ids[0] == liked
    assert make().tile_layout.ids[0] == liked
    assert make(user="bob").tile_layout.to_dict() == default


def test_crashing_agent_keeps_the_layout_and_says_so(home):
    Controls().set_mode("autonomous")

    class Broken(DesignAgent):
        def propose(self, *args, **kwargs):
            raise RuntimeError("boom")

    dashboard = Dashboard.from_path(None, user="ann", controller=MetaController(agent=Broken()))
    before = dashboard.tile_layout.to_dict()
    assert dashboard.relayout() is None
    assert dashboard.tile_layout.to_dict() == before
    assert "kept its last good layout" in dashboard._banner.children[0].value


def test_why_panel_escapes_column_names(home):
    Controls().set_mode("supervised")
    frame = pd.DataFrame({HOSTILE: [1.0, 2.0, 3.0, 4.0], "b": [1.0, 5.0, 2.0, 0.0]})
    dashboard = Dashboard(frame, title="hostile.csv", user="ann",
                          controller=MetaController(agent=DesignAgent(seed=0)))
    hostile_tile = next(t.id for t in dashboard.tile_layout if HOSTILE in t.title)
    click(dashboard, hostile_tile, "down")
    click(dashboard, hostile_tile, "down")
    html = dashboard.why._table.value + dashboard._banner.children[0].value
    assert "onerror" in html and HOSTILE not in html and "&lt;img" in html


def test_dwell_and_clicks_from_the_page_are_stored_without_a_round(home):
    from hub_kernel.agents.events import EventStore

    dashboard = make()
    before = dashboard.tile_layout.to_dict()
    message = {"dwell": {"overview": 7.5, "no-such-tile": 3.0}, "clicks": {"missing": 2}}
    for _ in range(3):  # more than relayout_every messages: still no re-arrangement
        dashboard._dwell._received(dashboard._dwell, message, [])
    dashboard._dwell._received(dashboard._dwell, {"dwell": {"overview": "soon"}}, [])
    events = EventStore().events(user="ann")
    assert [(e.tile, e.kind, e.value) for e in events[:2]] == [("overview", "dwell", 7.5),
                                                               ("missing", "click", 2.0)]
    assert len(events) == 6 and dashboard.tile_layout.to_dict() == before


def test_layout_history_restores_any_version_from_the_page(home):
    dashboard = make()
    first = dashboard.tile_layout.to_dict()
    click(dashboard, "missing", "first")
    click(dashboard, "bar-weather", "expand")
    labels = [label for label, _ in dashboard.why._versions.options]
    assert len(labels) == 3 and labels[-1].startswith("v1 ")
    dashboard.why._versions.value = 1
    next(b for b in dashboard.why.children[1].children
         if "hub-restore" in b._dom_classes).click()
    assert dashboard.tile_layout.to_dict() == first
    assert "Restored" in dashboard._banner.children[0].value
    assert len(dashboard.why._versions.options) == 4  # nothing lost: the restore is a version


def test_skill_level_is_stated_in_the_toolbar_and_remembered(home):
    from hub_kernel.agents.events import EventStore

    dashboard = make()
    assert dashboard._skill.value == ""
    dashboard._skill.value = "expert"
    assert EventStore().skills() == {"ann": "expert"}
    assert make()._skill.value == "expert"
