"""The dashboard with its design agent: feedback, modes, approve, undo, why, fallback."""

from __future__ import annotations

import pandas as pd
import pytest

from hub_kernel.agents.controller import MetaController
from hub_kernel.agents.layout.design import DesignAgent
from hub_kernel.core import config
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.modes import Controls
from widgets import Dashboard

HOSTILE = "<img src=x onerror=alert(1)>"


_made: list[Dashboard] = []


@pytest.fixture
def home(hub_home, monkeypatch):
    monkeypatch.setenv("HUB_RELAYOUT_EVERY", "2")
    config.reload_settings()
    yield hub_home
    while _made:  # no analysis outlives the test's HUB_HOME
        assert _made.pop().wait(120)


def views(dashboard):
    return {v.tile.id: v for v in dashboard._grid.children}


def click(dashboard, tile_id, action):
    view = views(dashboard)[tile_id]
    view.header.click(action)


class Clock:
    """The dwell tracker's clock, moved by hand (the kernel bounds reports by its clock)."""

    def __init__(self, tracker):
        self.now = tracker._clock()
        tracker._clock = lambda: self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def banner_button(dashboard, css):
    return next(b for b in dashboard._banner.children if css in b._dom_classes)


def make(user="ann", **kwargs):
    dashboard = Dashboard.from_path(None, user=user,
                                    controller=MetaController(agent=DesignAgent(seed=0)),
                                    **kwargs)
    _made.append(dashboard)
    return dashboard


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


def test_in_assisted_mode_the_strategy_agents_analysis_change_waits_for_approve(home):
    first = make()
    assert first._mode.value == "assisted"
    taken = next(t.id for t in first.tile_layout if t.analysis)
    first.tile_layout.remove(taken)  # ann's stored layout has one analysis fewer
    again = make()  # the strategy agent still picks it: in assisted mode that is a proposal
    assert taken not in again.tile_layout
    pending = again.session.governor.pending()
    assert pending and pending[0].agent == "strategy"
    assert "analysis strategy agent would show" in again._banner.children[0].value
    assert len(make().session.governor.pending()) == 1  # a second visit does not repeat it
    banner_button(again, "hub-approve").click()
    assert taken in again.tile_layout and taken in {v.tile.id for v in again._grid.children}
    assert AuditLog().entries(action="approve")[-1].approved_by == "ann"


def test_mode_switch_is_stored_and_audited(home):
    dashboard = make()
    dashboard._mode.value = "autonomous"
    assert Controls().mode(user="ann", dashboard=dashboard.dashboard_id) == "autonomous"
    assert AuditLog().entries(action="set mode autonomous")
    again = make()
    assert again._mode.value == "autonomous"


def test_a_viewers_page_lowers_the_mode_but_cannot_raise_it_above_the_operators(home):
    dashboard = make(user="bob", operator=False)
    Controls().set_mode("supervised", dashboard=dashboard.dashboard_id)  # an operator's cap
    dashboard.set_user("bob", operator=False)  # re-read: the page shows the mode in force
    assert dashboard._mode.value == "supervised"
    dashboard._mode.value = "autonomous"
    assert "bob may not raise the agents&#x27; mode to autonomous here: an operator set " \
        "supervised" in dashboard._status.value
    assert dashboard._mode.value == "supervised"  # the menu shows the mode in force
    assert AuditLog().entries(action="refused set mode autonomous")[-1].approved_by == "bob"
    dashboard._mode.value = "assisted"
    assert Controls().mode(user="bob", dashboard=dashboard.dashboard_id) == "assisted"
    assert Controls().operator_mode(dashboard=dashboard.dashboard_id) == "supervised"


def test_a_viewers_page_approves_their_own_proposals_only(home):
    from hub_kernel.exceptions import AuthorityError
    from hub_kernel.safety.governor import LayoutGovernor

    dashboard = make(user="bob", operator=False)
    liked = dashboard.tile_layout.ids[-1]
    click(dashboard, liked, "up")
    click(dashboard, liked, "up")
    (pending,) = dashboard.session.governor.pending()
    other = LayoutGovernor(dashboard.tile_layout.copy(), user="bob",
                           dashboard=dashboard.dashboard_id)
    with pytest.raises(AuthorityError, match="eve may not approve"):
        other.approve(pending.id, by="eve")  # eve is not bob, nor an operator
    other.close()
    banner_button(dashboard, "hub-approve").click()  # bob decides his own
    assert dashboard.tile_layout.ids[0] == liked


def test_returning_user_gets_their_layout_others_the_default(home):
    Controls().set_mode("autonomous")
    first = make()
    default = first.tile_layout.to_dict()
    liked = first.tile_layout.ids[-1]
    click(first, liked, "up")
    click(first, liked, "up")
    assert first.tile_layout.ids[0] == liked
    # back in assisted mode the agent only proposes: ann's page opens as she left it
    Controls().set_mode("assisted")
    assert make().tile_layout.ids[0] == liked
    # bob gets a plan of his own (the strategy agent explores, and what ann taught carries
    # over a little: the learner is shared), not ann's stored layout
    assert make(user="bob").tile_layout.ids != make().tile_layout.ids
    assert default["tiles"]


def test_crashing_agent_keeps_the_layout_and_says_so(home):
    Controls().set_mode("autonomous")

    class Broken(DesignAgent):
        def decide(self, *args, **kwargs):
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
    from hub_kernel.agents.common.events import EventStore

    dashboard = make()
    assert dashboard.wait(120)  # the analyses' compute times are stored first
    before = dashboard.tile_layout.to_dict()
    clock = Clock(dashboard._dwell)
    message = {"dwell": {"overview": 7.5, "no-such-tile": 3.0}, "clicks": {"missing": 2}}
    for _ in range(3):  # more than relayout_every messages: still no re-arrangement
        clock.tick(10.0)  # longer than a report period: capped at one (and a second)
        dashboard._dwell._received(dashboard._dwell, message, [])
    hostile = {"dwell": {"overview": "soon", "missing": 1e9}, "clicks": {"overview": -3,
                                                                        "missing": "nan"}}
    clock.tick(30.0)
    dashboard._dwell._received(dashboard._dwell, hostile, [])
    dashboard._dwell._received(dashboard._dwell, {"dwell": ["not", "a", "dict"]}, [])
    events = [e for e in EventStore().events(user="ann") if e.kind in ("dwell", "click")]
    assert [(e.tile, e.kind, e.value) for e in events[:2]] == [("overview", "dwell", 6.0),
                                                               ("missing", "click", 2.0)]
    # the 1e9 s of dwell is capped at one report period; negative and NaN values are dropped
    assert [(e.tile, e.value) for e in events[6:]] == [("missing", 6.0)]
    assert len(events) == 7 and dashboard.tile_layout.to_dict() == before
    assert dashboard.relayout() is not None  # the agent still works


def test_leaving_the_page_ends_the_round_and_its_reward_is_kept(home):
    from hub_kernel.agents.common.events import EventStore

    dashboard = make()
    assert dashboard.wait(120)
    Clock(dashboard._dwell).tick(5.0)
    dashboard._dwell._received(dashboard._dwell, {"dwell": {"overview": 4.0}}, [])
    assert EventStore().reward_rows(user="ann") == []  # the round is still open
    dashboard._dwell._received(dashboard._dwell, {"leave": True}, [])
    rows = EventStore().reward_rows(user="ann")
    assert len(rows) == 1 and rows[0]["terms"]["engagement"] > 0
    dashboard._dwell._received(dashboard._dwell, {"dwell": {"overview": 3.0}, "leave": True}, [])
    assert len(EventStore().reward_rows(user="ann")) == 1  # a page cannot flood round ends
    dashboard._dwell._received(dashboard._dwell, ["not", "a", "dict"], [])  # ignored


def test_a_page_flooding_dwell_and_clicks_counts_no_more_than_the_clock_allows(home):
    from hub_kernel.agents.common.events import EventStore

    dashboard = make()
    assert dashboard.wait(120)
    tracker = dashboard._dwell
    clock = Clock(tracker)
    tracker.set_state({"interval_ms": 1})  # the page may not speed its own reports up
    assert tracker.interval_ms == 5000
    for _ in range(50):  # 50 reports of 6 s of dwell and 20 clicks within one second
        clock.tick(0.02)
        tracker._received(tracker, {"dwell": {"overview": 6.0}, "clicks": {"overview": 20}}, [])
    events = [e for e in EventStore().events(user="ann") if e.tile == "overview"]
    dwell = sum(e.value for e in events if e.kind == "dwell")
    clicks = sum(e.value for e in events if e.kind == "click")
    # no more dwell than time passed since the page was built, and one period's clicks
    assert dwell <= clock.now - tracker._started + 1e-9 < 60 and clicks == 20
    tracker._received(tracker, {"dwell": {f"t{i}": 1.0 for i in range(5000)}}, [])  # bounded


def test_layout_history_restores_any_version_from_the_page(home):
    dashboard = make()
    first = dashboard.tile_layout.to_dict()
    click(dashboard, "missing", "first")
    click(dashboard, "cat-weather", "expand")
    labels = [label for label, _ in dashboard.why._versions.options]
    assert len(labels) == 3 and labels[-1].startswith("v1 ")
    dashboard.why._versions.value = 1
    next(b for b in dashboard.why.children[1].children
         if "hub-restore" in b._dom_classes).click()
    assert dashboard.tile_layout.to_dict() == first
    assert "Restored" in dashboard._banner.children[0].value
    assert len(dashboard.why._versions.options) == 4  # nothing lost: the restore is a version


def test_skill_level_is_stated_in_the_toolbar_and_remembered(home):
    from hub_kernel.agents.common.events import EventStore

    dashboard = make()
    assert dashboard._skill.value == ""
    dashboard._skill.value = "expert"
    assert EventStore().skills() == {"ann": "expert"}
    assert make()._skill.value == "expert"


def test_approve_acts_on_the_proposal_shown_not_a_newer_one(home):
    from hub_kernel.safety.governor import Proposal

    dashboard = make()
    liked = dashboard.tile_layout.ids[-1]
    click(dashboard, liked, "up")
    click(dashboard, liked, "up")
    approve = banner_button(dashboard, "hub-approve")
    # meanwhile another kernel of the same user queues a different proposal
    other = [t for t in dashboard.tile_layout if t.id != "cat-weather"]
    from hub_kernel.layout import Layout
    from hub_kernel.safety.governor import LayoutGovernor

    elsewhere = LayoutGovernor(dashboard.tile_layout.copy(), user="ann",
                               dashboard=dashboard.dashboard_id)
    elsewhere.submit(Proposal(agent="design", layout=Layout(other, 3).to_dict(),
                              explanation="remove cat-weather"))
    approve.click()
    assert "cat-weather" in dashboard.tile_layout  # the unseen proposal was not applied
    assert "superseded" in dashboard._status.value


def test_failing_to_open_the_new_data_keeps_the_old_dashboard(home, monkeypatch):
    import numpy as np

    from hub_kernel.exceptions import HubError

    dashboard = make()
    before = (dashboard.title, dashboard.tile_layout.to_dict(), dashboard.dashboard_id)

    def broken(*args, **kwargs):
        raise HubError("safety database is locked")

    monkeypatch.setattr(dashboard.controller, "open", broken)
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2})
    with pytest.raises(HubError):
        dashboard.set_data(frame, title="other.csv")
    monkeypatch.undo()
    assert (dashboard.title, dashboard.tile_layout.to_dict(), dashboard.dashboard_id) == before


@pytest.mark.slow
def test_why_panel_shows_only_this_users_dashboard(home):
    from widgets.audit import audit_html

    Controls().set_mode("supervised")
    for user in ("al", "a_", "val"):
        board = make(user=user)
        target = board.tile_layout.ids[1]
        click(board, target, "down")
        click(board, target, "down")
    html = audit_html(f"al/{board.dashboard_id}")
    assert html.count("hub-why-row") >= 1
    assert "val/" not in html and "a_/" not in html
