"""Tile kinds: every catalog analysis drawn by one generic renderer, in the background."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import hub_kernel.analyses as analyses
from hub_kernel.agents.common.events import EventStore
from hub_kernel.analyses import AnalysisResult, Fact, analysis_registry
from hub_kernel.data import profile_dataset
from hub_kernel.layout import Tile, analysis_kind
from hub_kernel.safety.audit import AuditLog
from widgets import Dashboard
from widgets.background import AnalysisJobs
from widgets.tile_kinds import (
    TileContext,
    analysis_html,
    leading_facts,
    render,
    renderer_for,
    support,
    tile_kinds,
)
from widgets.tiles import TileView, overview_html

HOSTILE = "<b>x</b>"


def rich_frame(n: int = 240) -> pd.DataFrame:
    """Data every analysis of the catalog applies to (with target ``y``)."""
    rng = np.random.default_rng(0)
    group = rng.choice(["north", "south", "<i>east</i>"], n)
    x = np.arange(n) * 0.1 + rng.normal(0, 1, n)
    x[::17] = np.nan
    y = 2 * np.nan_to_num(x) + (group == "north") * 5 + rng.normal(0, 1, n)
    return pd.DataFrame({"when": pd.date_range("2020-01-01", periods=n, freq="D"),
                         HOSTILE: x, "y": y, "z": rng.normal(0, 1, n), "group": group})


def texts(widget) -> str:
    """Every HTML value under ``widget``."""
    out = [getattr(widget, "value", "")] if isinstance(getattr(widget, "value", None), str) else []
    for child in getattr(widget, "children", ()):
        out.append(texts(child))
    return "\n".join(out)


def kinds_under(widget) -> list[str]:
    found = [type(widget).__name__]
    for child in getattr(widget, "children", ()):
        found.extend(kinds_under(child))
    return found


@pytest.fixture(scope="module")
def rich():
    frame = rich_frame()
    return frame, profile_dataset(frame)


@pytest.mark.parametrize("name", analysis_registry.names())
def test_every_catalog_analysis_renders_through_the_one_generic_renderer(name, rich):
    frame, profile = rich
    assert analysis_registry.get(name).applies(profile, "y")  # the data covers the catalog
    assert renderer_for(analysis_kind(name)) is tile_kinds.get("analysis")
    jobs = AnalysisJobs(frame, profile, target="y")
    states: list[str] = []
    tile = Tile(id=f"an-{name}", kind=analysis_kind(name), title=name)
    body = render(TileContext(tile, frame, profile, target="y", jobs=jobs, state=states.append))
    assert jobs.wait(120)
    # the result the tile drew (a re-run may differ: the model search has a time budget)
    outcome: list = []
    jobs.submit(name, lambda result, error, _seconds: outcome.append((result, error)))
    result, error = outcome[0]
    assert error is None, error
    shown = texts(body)
    assert states[0] == "pending" and states[-1] == "ready", shown
    assert "hub-progress" not in str(body.children)
    for fact in leading_facts(result)[:3]:  # key findings first
        assert fact.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
            in shown.replace("&#x27;", "'").replace("&quot;", '"')
    assert "<b>x</b>" not in shown and "<i>east</i>" not in shown  # user text is escaped
    if result.chart:
        assert "BokehModel" in kinds_under(body)
    for caveat in result.caveats:
        assert "hub-caveats" in shown and len(caveat) > 0


def test_caveats_and_facts_are_escaped():
    result = AnalysisResult(name="t", title="t",
                            facts=[Fact("k", "Column <b>x</b> has 3 values.", 3)],
                            caveats=["<script>alert(1)</script> is odd"])
    html = analysis_html(result)
    assert "Column &lt;b&gt;x&lt;/b&gt; has 3 values." in html
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_tiles_lead_with_key_findings_and_report_corrected_support():
    from hub_kernel.analyses import get
    from hub_kernel.analyses.findings import key_findings

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    strong = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(size=400),
                           "other": rng.normal(size=400)})
    result = get("correlations").run(strong)
    assert support(result) > 0.9
    lead = key_findings(result, limit=1)[0].facts[0]
    assert leading_facts(result)[0] is lead
    assert len(leading_facts(result)) == len(result.facts)  # nothing lost, only reordered
    noise = pd.DataFrame(rng.normal(size=(60, 30)), columns=[f"c{i}" for i in range(30)])
    assert support(get("correlations").run(noise)) < 0.5  # the best of 435 pairs of noise


class Session:
    """What a tile reports through: events and (when the session keeps it) quality."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.qualities: list[tuple[str, float]] = []

    def interact(self, tile_id: str, kind: str, value: float = 1.0) -> None:
        self.events.append((tile_id, kind, value))

    def record_quality(self, tile_id: str, value: float) -> None:
        self.qualities.append((tile_id, value))


def test_a_finished_analysis_reports_its_compute_time_and_statistical_support(rich):
    frame, profile = rich
    session, jobs = Session(), AnalysisJobs(frame, profile)
    tile = Tile(id="an-correlations", kind=analysis_kind("correlations"), title="c")
    render(TileContext(tile, frame, profile, jobs=jobs, session=session))
    assert jobs.wait(60)
    outcome: list = []
    jobs.submit("correlations", lambda result, _error, _seconds: outcome.append(result))
    expected = support(outcome[0])
    assert expected is not None and 0.0 <= expected <= 1.0
    assert session.qualities == [("an-correlations", pytest.approx(expected))]
    [(tile_id, kind, seconds)] = session.events
    assert (tile_id, kind) == ("an-correlations", "compute") and seconds >= 0


def test_a_session_without_quality_still_gets_the_compute_time(rich):
    frame, profile = rich

    class Older:
        def __init__(self) -> None:
            self.events: list = []

        def interact(self, tile_id, kind, value=1.0):
            self.events.append(kind)

    session, jobs = Older(), AnalysisJobs(frame, profile)
    tile = Tile(id="an-correlations", kind=analysis_kind("correlations"), title="c")
    render(TileContext(tile, frame, profile, jobs=jobs, session=session))
    assert jobs.wait(60)
    assert session.events == ["compute"]


def test_a_kind_without_renderer_shows_why_in_its_tile_only(rich):
    frame, profile = rich
    view = TileView(Tile(id="odd", kind="no-such-kind", title="odd"), frame, profile)
    assert "hub-error" in view._body.children[0].value
    assert "no-such-kind" in view._body.children[0].value
    assert "hub-tile--failed" in view._dom_classes


# -- in the dashboard ----------------------------------------------------------------------------
class Gate:
    """``hub_kernel.analyses.get`` whose analyses wait for ``open()``; ``fail`` ones raise."""

    def __init__(self, real, fail=()):
        self.real, self.fail = real, set(fail)
        self.event = threading.Event()

    def __call__(self, name):
        gate, real, fail = self, self.real(name), self.fail

        class Held:
            def __getattr__(self, attribute):  # applies, title, ...: the real analysis's
                return getattr(real, attribute)

            def run(self, frame, profile=None, target=None):
                assert gate.event.wait(60)
                if name in fail:
                    raise analyses.AnalysisError(name, "boom <b>bad</b>")
                return real.run(frame, profile, target=target)

        return Held()


@pytest.fixture
def gate(monkeypatch):
    held = Gate(analyses.get)
    monkeypatch.setattr(analyses, "get", held)
    yield held
    held.event.set()


def analysis_views(dashboard):
    return {i: v for i, v in dashboard._views.items() if v.tile.kind.startswith("analysis-")}


def test_cheap_tiles_are_drawn_before_the_analyses_finish(hub_home, gate):
    dashboard = Dashboard(rich_frame())
    views = dashboard._views
    for kind in ("overview", "chart", "missing"):
        drawn = [v for v in views.values() if v.tile.kind == kind]
        assert drawn and all(v.state == "ready" for v in drawn)
    assert any(type(v._body.children[0]).__name__ == "BokehModel" for v in views.values())
    waiting = analysis_views(dashboard)
    assert waiting and set(dashboard.pending) == set(waiting)
    for view in waiting.values():
        assert "hub-tile--pending" in view._dom_classes
        assert "hub-progress" in view._body.children[0].children[0]._dom_classes
    assert not dashboard.wait(0.2)
    gate.event.set()
    assert dashboard.wait(120)
    assert dashboard.pending == []
    assert all("hub-tile--pending" not in v._dom_classes for v in waiting.values())
    computed = {e.tile: e.value for e in EventStore().events(dashboard=dashboard.dashboard_id)
                if e.kind == "compute"}
    assert set(computed) == set(waiting) and all(v >= 0 for v in computed.values())
    # a tile re-drawn (made taller) shows the result computed, without computing it again
    first = next(iter(waiting))
    dashboard.tile_layout.resize(first, height=2)
    assert waiting[first].state == "ready" and "hub-facts" in texts(waiting[first]._body)
    again = [e for e in EventStore().events(dashboard=dashboard.dashboard_id)
             if e.kind == "compute"]
    assert len(again) == len(computed)


def test_an_analysis_that_raises_shows_its_error_and_the_others_fill_in(hub_home, gate):
    frame = rich_frame()
    dashboard = Dashboard(frame)
    views = analysis_views(dashboard)
    broken = next(iter(views.values())).tile.analysis
    gate.fail = {broken}
    gate.event.set()
    assert dashboard.wait(120)
    failed = views[f"an-{broken}"]
    assert "hub-tile--failed" in failed._dom_classes
    html = failed._body.children[0].children[0].value
    assert "hub-error" in html and "boom &lt;b&gt;bad&lt;/b&gt;" in html
    others = [v for v in views.values() if v.tile.analysis != broken]
    assert others and all(v.state == "ready" for v in others)
    assert all("hub-facts" in texts(v._body) or "hub-facts-none" in texts(v._body)
               for v in others)


def test_this_answered_my_question_records_task_done(hub_home):
    dashboard = Dashboard(rich_frame(), user="ann")
    view = dashboard._views["overview"]
    view.footer.click("answered")
    assert view.footer.on == ["answered"]  # drawn switched on
    events = [e for e in EventStore().events(user="ann") if e.kind == "task_done"]
    assert [(e.tile, e.dashboard) for e in events] == [("overview", dashboard.dashboard_id)]
    assert dashboard.wait(120)


def test_done_names_the_task_in_the_audit_and_offers_a_rating(hub_home):
    dashboard = Dashboard(rich_frame(), user="ann")
    bar = dashboard.done_bar
    assert "hub-done" in bar.done._dom_classes and "hub-task" in bar.task._dom_classes
    assert bar.rate.layout.display == "none"
    bar.task.value = "find what drives <b>y</b>"
    bar.done.click()
    assert bar.rate.layout.display == "flex"
    next(b for b in bar.rate.children if "hub-rate-4" in b._dom_classes).click()
    events = [(e.tile, e.kind, e.value) for e in EventStore().events(user="ann")
              if e.kind in ("done", "rating")]
    assert events == [("dashboard", "done", 1.0), ("dashboard", "rating", 4.0)]
    entry = AuditLog().entries(agent="viewer")[-1]
    assert entry.explanation == "find what drives <b>y</b>"
    assert dashboard.session.governor.key in entry.action
    assert dashboard.wait(120)


def test_a_target_adds_the_model_tile_and_none_replans_without_it(hub_home):
    frame = rich_frame()
    dashboard = Dashboard(frame, target="y")
    first_id = dashboard.dashboard_id
    assert "hub-target" in dashboard._target._dom_classes
    assert dashboard._target.options[0] == ("none", "") and dashboard._target.value == "y"
    assert [v for v in dashboard._views.values() if "hub-tile--model" in v._dom_classes]
    assert dashboard.wait(120)
    dashboard._target.value = ""
    assert dashboard.target is None and dashboard.dashboard_id != first_id
    assert all(v.tile.kind != "model" for v in dashboard._views.values())
    assert dashboard.tile_layout.ids == dashboard.plan.layout.ids
    assert dashboard.wait(120)


def test_a_target_the_table_lacks_is_refused_naming_its_columns(hub_home):
    with pytest.raises(analyses.AnalysisRequestError, match=r"no column 'nope'.*group"):
        Dashboard(rich_frame(), target="nope")


def test_dashboard_ids_come_from_the_content_not_the_title(hub_home):
    frame = rich_frame()
    one, two = Dashboard(frame, title="a.csv"), Dashboard(frame.copy(), title="b.csv")
    other = Dashboard(frame.head(100), title="a.csv")
    assert one.dashboard_id == two.dashboard_id != other.dashboard_id
    assert Dashboard(frame, dashboard_id="mine").dashboard_id == "mine"
    for board in (one, two, other):
        assert board.wait(120)


def test_overview_writes_years_without_separators():
    frame = pd.DataFrame({"year": [2003, 2005, 2009], "income": [12_345.0, 56_789.5, 99_000.0],
                          "count": [1000, 2500, 4000]})
    html = overview_html(profile_dataset(frame))
    assert "2003 – 2009" in html
    assert "12,345 – 99,000" in html and "e+" not in html
    assert "1,000 – 4,000" in html


def test_a_kind_whose_module_is_missing_fails_in_its_tile_only(rich):
    frame, profile = rich
    tile_kinds.register("widgets.no_such_module:render", "ghost-kind")
    try:
        view = TileView(Tile(id="g", kind="ghost-kind", title="g"), frame, profile)
        html = view._body.children[0].value
        assert "hub-error" in html and "widgets.no_such_module:render" in html
        ok = TileView(Tile(id="overview", kind="overview", title="o"), frame, profile)
        assert "hub-overview" in ok._body.children[0].value
    finally:
        tile_kinds.unregister("ghost-kind")


def test_render_times_from_the_page_are_stored_capped_and_checked(hub_home):
    dashboard = Dashboard(rich_frame(), user="ann")
    dwell = dashboard._dwell
    dwell._received(dwell, {"render": {"overview": 0.42, "missing": 1e9, "no-such": 1.0}}, [])
    dwell._received(dwell, {"render": {"overview": "soon", "missing": -1}}, [])
    renders = [(e.tile, e.value) for e in EventStore().events(user="ann") if e.kind == "render"]
    assert renders == [("overview", 0.42), ("missing", 600.0)]
    assert dashboard.wait(120)


def test_choosing_a_proposed_target_replans_with_the_model_tile(hub_home, monkeypatch):
    from hub_kernel.agents.controller import MetaController

    real = MetaController.plan

    def proposing(self, profile, **kwargs):
        plan = real(self, profile, **kwargs)
        plan.target_choices = ["y", "z"]  # what the strategy agent proposes
        return plan

    monkeypatch.setattr(MetaController, "plan", proposing)
    dashboard = Dashboard(rich_frame())
    first_id = dashboard.dashboard_id
    assert dashboard._target.layout.display == "flex"
    assert [o for o, _ in dashboard._target.options] == ["none", "y", "z"]
    assert all(v.tile.kind != "model" for v in dashboard._views.values())
    assert dashboard.wait(120)
    dashboard._target.value = "y"
    assert dashboard.target == "y" and dashboard.plan.target == "y"
    assert dashboard.dashboard_id not in (first_id, None)
    assert any("hub-tile--model" in v._dom_classes for v in dashboard._views.values())
    assert dashboard.wait(120)


def test_new_data_is_planned_again(hub_home):
    dashboard = Dashboard(rich_frame())
    first_id, first_tiles = dashboard.dashboard_id, set(dashboard.tile_layout.ids)
    assert dashboard.wait(120)
    other = pd.DataFrame({"city": ["a", "b", "c", "a"] * 10, "n": np.arange(40.0)})
    dashboard.set_data(other, title="cities.csv")
    assert dashboard.dashboard_id != first_id
    assert set(dashboard.tile_layout.ids) != first_tiles
    assert dashboard.tile_layout.ids == dashboard.plan.layout.ids
    assert "40" in dashboard._views["overview"]._body.children[0].value
    assert dashboard.wait(120)
    assert dashboard.pending == []


def test_a_followed_stream_is_a_live_tile_the_agents_place(hub_home, tmp_path):
    import time

    from hub_kernel.data.stream import StreamSource
    from hub_kernel.data.stream.server import DemoStreamServer
    from widgets.live import LiveTile

    server = DemoStreamServer(rate=200, loop=False, count=50).start()
    source = StreamSource(server.url, "sensors", store_dir=tmp_path).start()
    try:
        dashboard = Dashboard(rich_frame(), streams=[source])
        live = [v for v in dashboard._views.values() if v.tile.kind == "live"]
        assert len(live) == 1 and "hub-tile--live" in live[0]._dom_classes
        assert live[0].tile.title == "Live: sensors"
        assert any(t["kind"] == "live" for t in dashboard.plan.to_dict()["tiles"])  # hub plan
        body = live[0]._body.children[0]
        assert isinstance(body, LiveTile) and body.source is source
        deadline = time.monotonic() + 20
        while source.last_seq != 49 and time.monotonic() < deadline:
            time.sleep(0.05)
        body.flush()
        assert body.cds is not None and len(body.cds.data["x"]) == 50
        assert dashboard.wait(120)
        # without the stream the same data plans no live tile; a pinned one says why it is empty
        plain = Dashboard(rich_frame())
        assert all(v.tile.kind != "live" for v in plain._views.values())
        assert plain.wait(120)
        orphan = TileView(live[0].tile, rich_frame(), profile_dataset(rich_frame()))
        assert orphan.state == "failed" and "follows no stream" in orphan._body.children[0].value
    finally:
        source.close()
        server.stop()
