"""The dashboard: a CSS grid of tiles rendered from a ``hub_kernel.layout.Layout``.

The layout object is the single source of truth. Anything may change it (a tile's buttons, the
toolbar, an agent); the dashboard observes it and moves, resizes or re-renders tiles in place,
live in JupyterLab and Voila. Tile widgets are kept across changes, so charts are not rebuilt
when a tile only moves.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ipywidgets as w
import pandas as pd

from hub_kernel.agents.common.events import SKILLS
from hub_kernel.agents.controller import DashboardSession, MetaController
from hub_kernel.agents.plan import Plan, dashboard_id, live_tile
from hub_kernel.core.config import get_settings
from hub_kernel.data import (
    is_lazy_input,
    load_dataset,
    open_table,
    profile_dataset,
    profile_table,
    sample_path,
)
from hub_kernel.data.profile import DatasetProfile
from hub_kernel.exceptions import AnalysisRequestError, HubError
from hub_kernel.layout import Layout
from hub_kernel.safety.governor import Decision, Proposal
from hub_kernel.safety.modes import MODES, Controls
from widgets.audit import AuditView
from widgets.background import AnalysisJobs
from widgets.banner import Banner
from widgets.bokehjs import ensure_bokehjs
from widgets.dwell import DwellTracker
from widgets.feedback import DoneBar, SessionReporter
from widgets.markup import error_html, escape
from widgets.style import STYLE
from widgets.tile_kinds import TileContext
from widgets.tiles import TileView

if TYPE_CHECKING:
    from hub_kernel.data.stream import StreamSource

logger = logging.getLogger("hub_kernel")
_instances = itertools.count(1)



EVENT_OF = {"first": "first", "expand": "expand", "up": "thumbs_up", "down": "thumbs_down",
            "dismiss": "dismiss"}


def _default_operator() -> bool:
    """Off a hub server (JupyterLab, a script) the owner of HUB_HOME decides as an operator;
    a served page's viewer is what the server says (``widgets.viewer``), never by default."""
    if os.environ.get("HUB_SERVED"):
        return False
    from hub_kernel.safety.users import cli_is_operator

    return cli_is_operator()


def dashboard_id_for(frame: pd.DataFrame, target: str | None = None) -> str:
    """A dashboard's id from its data's content and target: the key of its layouts."""
    return dashboard_id(frame, target)


def check_target(frame: pd.DataFrame, target: str | None) -> None:
    """Refuse a target the table has no column of, naming the columns it has."""
    if target is not None and target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise AnalysisRequestError(f"no column {target!r} to use as the target; the table has: "
                                   f"{shown}{', ...' if len(frame.columns) > 20 else ''}")


class Dashboard(w.VBox):
    """A live dashboard of ``frame``: the tiles the agents planned for it (``tile_layout``
    overrides the plan), the cheap ones drawn at once, the analyses filled in as they finish;
    each of ``streams`` (started ``StreamSource``s) is a live tile."""

    def __init__(self, frame: pd.DataFrame, tile_layout: Layout | None = None,
                 profile: DatasetProfile | None = None, title: str = "Dashboard", *,
                 target: str | None = None, user: str | None = None,
                 operator: bool | None = None, dashboard_id: str | None = None,
                 controller: MetaController | None = None,
                 n_columns: int = 3, workers: int = 1,
                 streams: Sequence[StreamSource] = ()) -> None:
        check_target(frame, target)
        # each followed stream is a live tile the agents place like any other
        self._streams = {live_tile(s.name, n_columns).id: s for s in streams}
        self.frame = frame
        self.profile = profile or profile_dataset(frame)
        self.controller = controller or MetaController()
        self.user = user or get_settings().user
        # may decide anyone's proposals and set modes as an operator (``widgets.viewer``); by
        # default, off a hub server, whoever owns HUB_HOME
        self.operator = _default_operator() if operator is None else operator
        self.target = target
        self.n_columns = n_columns
        self._fixed_id = dashboard_id
        self.dashboard_id = dashboard_id or dashboard_id_for(frame, target)
        self._workers = workers
        self._jobs = AnalysisJobs(frame, self.profile, target, workers=workers)
        self.plan: Plan | None = None
        if tile_layout is None:
            self.plan = self._plan()
            self._initial = self.plan.layout.copy()
            # a returning user gets the arrangement they had, for the tiles planned now
            self.tile_layout = self._starting(self.plan.layout)
        else:
            self._initial = tile_layout.copy()
            self.tile_layout = tile_layout
        self._views: dict[str, TileView] = {}
        # Views of tiles taken off the page stay open: a page may still be building them (a
        # widget closed while its view is created breaks the page), and Undo brings them back.
        # They are closed one change of data later.
        self._hidden: dict[str, TileView] = {}
        self._retired: list[TileView] = []
        self._data_callbacks: list = []
        # unique across kernels: two dashboards of two kernels may share one JupyterLab page
        self._scope = f"hub-dash-{next(_instances)}-{uuid.uuid4().hex[:8]}"
        ensure_bokehjs()

        self._grid = w.GridBox(layout=w.Layout(width="100%"))
        self._grid.add_class("hub-grid")
        # Grid positions go into a scoped <style>: Voila's widget manager ignores the
        # grid_row/grid_column layout traits, and one message per change beats two per tile.
        self._positions = w.HTML()
        self._positions.add_class("hub-positions")
        self._status = w.HTML()
        self._status.add_class("hub-status")
        reset = w.Button(description="Reset layout", tooltip="Back to the starting layout")
        reset.add_class("hub-reset")
        reset.on_click(lambda _b: self.reset())
        rearrange = w.Button(description="Re-arrange", icon="magic",
                             tooltip="Ask the design agent for a better arrangement now")
        rearrange.add_class("hub-rearrange")
        rearrange.on_click(lambda _b: self.relayout())
        self._mode = w.Dropdown(options=list(MODES), description="Agent:",
                                layout=w.Layout(width="230px"),
                                tooltip="assisted: proposals need your approval; supervised: "
                                        "changes are applied with Undo; autonomous: applied")
        self._mode.add_class("hub-mode")
        self._skill = w.Dropdown(options=[("not stated", ""), *((s, s) for s in SKILLS)],
                                 description="I am:", layout=w.Layout(width="190px"),
                                 tooltip="Your skill level: the agent starts from what people "
                                         "of the same level liked")
        self._skill.add_class("hub-skill")
        self._target = w.Dropdown(description="Target:", layout=w.Layout(width="220px"),
                                  tooltip="A column to predict: the agents add a model tile "
                                          "and the analyses that need a target")
        self._target.add_class("hub-target")
        self._title = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self._title.add_class("hub-title")
        self.title = title
        self.done_bar = DoneBar(self.done, self.rate)
        toolbar = w.HBox([self._title, self._status, self._target, self._skill, self._mode,
                          rearrange, reset], layout=w.Layout(align_items="center",
                                                             flex_flow="row wrap"))
        self._banner = Banner(approve=self.approve, reject=self.reject, undo=self.undo)
        self.why = AuditView(restore=self.restore)
        self._dwell = DwellTracker(self._scope, self._measured, on_leave=self.leave)
        self._quiet_mode = False
        self._show_targets()
        self._target.observe(self._target_changed, names="value")
        self.session: DashboardSession = self._open_session()
        super().__init__([w.HTML(STYLE), self._positions, toolbar, self.done_bar, self._banner,
                          self._grid, self.why, self._dwell])
        self.add_class("hub-dashboard")
        self.add_class(self._scope)
        self._unsubscribe = self.tile_layout.observe(self._render)
        self._render(self.tile_layout)
        self._mode.observe(self._mode_changed, names="value")
        self._skill.observe(self._skill_changed, names="value")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str] | None = None,
                  target: str | None = None, *, stream: str | None = None,
                  **kwargs) -> Dashboard:
        """Dashboard of a file (``None``: ``HUB_DATASET``, else the bundled sample), following
        ``stream`` as a live tile (``None``: ``HUB_STREAM``, if set; ``"demo"``: the sample
        replayed by this kernel)."""
        settings = get_settings()
        chosen = path or settings.dataset or sample_path()
        kwargs.setdefault("title", os.path.basename(os.fspath(chosen).rstrip("/")))
        if is_lazy_input(chosen):  # larger than memory: profiled out of core, a sample shown
            table = open_table(chosen)
            kwargs.setdefault("profile", profile_table(table))
            frame = table.sample()
        else:
            frame = load_dataset(chosen)
        url = stream or settings.stream
        if url is not None and "streams" not in kwargs:
            from widgets.live import start_stream

            kwargs["streams"] = [start_stream(None if url == "demo" else url)]
        return cls(frame, target=target or None, **kwargs)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every analysis tile is filled in; ``False`` if ``timeout`` ran out."""
        return self._jobs.wait(timeout)

    @property
    def pending(self) -> list[str]:
        """Ids of the tiles whose analysis still runs."""
        return [i for i, v in self._views.items() if v.state == "pending"]

    def done(self, task: str = "") -> None:
        """The viewer's question is answered (``task``: what it was, kept in the audit log)."""
        from hub_kernel.safety.audit import log_decision

        self._guarded_value(lambda: self.session.interact("dashboard", "done"))
        self._guarded_value(self.session.end_round)  # the round is over: scored and learned
        self._guarded_value(lambda: log_decision(
            agent="viewer", action=f"done for {self.session.governor.key}",
            explanation=task or "(no task named)"))

    def rate(self, stars: int) -> None:
        """The viewer's rating of this dashboard, 1 to 5."""
        stars = max(1, min(5, int(stars)))
        self._guarded_value(lambda: self.session.interact("dashboard", "rating", float(stars)))
        self._guarded_value(self.session.end_round)

    def leave(self) -> None:
        """The viewer left the page: the round is over (its dwell learned, its reward kept)."""
        self._guarded_value(self.session.end_round)

    def set_target(self, target: str | None) -> None:
        """Plan the dashboard again for ``target`` (``None``: no target)."""
        self.set_data(self.frame, self.profile, target=target or None, keep_target=False)

    def _plan(self) -> Plan:
        return self.controller.plan(self.profile, user=self.user, dashboard=self.dashboard_id,
                                    target=self.target, n_columns=self.n_columns,
                                    streams=tuple(s.name for s in self._streams.values()))

    def _starting(self, planned: Layout) -> Layout:
        """The layout a planned dashboard starts from: the plan's, exactly."""
        # the plan already starts from the stored layout and the design agent arranged it
        # under the autonomy mode: putting the stored order back here would undo that
        return planned.copy()

    def _context(self, tile, state) -> TileContext:
        return TileContext(tile, self.frame, self.profile, target=self.target, user=self.user,
                           dashboard=self.dashboard_id, session=SessionReporter(self),
                           jobs=self._jobs, state=state, stream=self._streams.get(tile.id))

    def _show_targets(self) -> None:
        choices = list(self.plan.target_choices) if self.plan is not None else []
        if self.target and self.target not in choices:
            choices.insert(0, self.target)
        self._quiet_mode = True
        try:
            self._target.options = [("none", ""), *((str(c), str(c)) for c in choices)]
            self._target.value = self.target or ""
        finally:
            self._quiet_mode = False
        self._target.layout.display = "flex" if choices else "none"

    def _target_changed(self, change) -> None:
        if self._quiet_mode:
            return
        self._guard(lambda: self.set_target(change["new"] or None))

    @property
    def title(self) -> str:
        return self._title_text

    @title.setter
    def title(self, value: str) -> None:
        self._title_text = value
        self._title.value = f"<h2 style='margin:0'>{escape(value)}</h2>"

    def follow(self, upload) -> None:
        """Show every dataset uploaded through ``upload`` (a ``widgets.UploadPanel``)."""
        upload.on_dataset(lambda record, frame: self.set_data(frame, title=record.name))

    def set_data(self, frame: pd.DataFrame, profile: DatasetProfile | None = None,
                 title: str | None = None, *, target: str | None = None,
                 keep_target: bool = True) -> None:
        """Show another table (or the same one for another target): the agents plan it again,
        every tile is rebuilt and its analyses run. The target stays when the new table has
        that column, unless ``keep_target`` is false."""
        check_target(frame, target)
        profile = profile or profile_dataset(frame)
        if keep_target and target is None:
            target = self.target if self.target in frame.columns else None
        saved = (self.frame, self.profile, self.target, self.dashboard_id, self.plan,
                 self._initial, self._jobs, self.title, self.tile_layout.copy())
        self.frame, self.profile, self.target = frame, profile, target
        self.dashboard_id = (self._fixed_id if self._fixed_id and frame is saved[0]
                             and target == saved[2] else dashboard_id_for(frame, target))
        try:
            plan = self._plan()  # before touching the page: may raise on odd data
        except HubError:
            (self.frame, self.profile, self.target, self.dashboard_id) = saved[:4]
            raise
        self.plan, self._initial = plan, plan.layout.copy()
        if title is not None:
            self.title = title
        old_session = self.session
        self._guarded_value(old_session.end_round)  # what the viewer did on the old data counts
        old_session.governor.close()  # the old dashboard's versions stop here
        self._jobs.close()
        self._jobs = AnalysisJobs(frame, profile, target, workers=self._workers)
        start = self._starting(plan.layout)
        self._retire_views()
        self.tile_layout.replace(start.tiles, start.n_columns, override_pins=True)
        try:
            self.session = self._open_session()
        except HubError:  # the new session cannot be kept: back to the old data, intact
            self._jobs.close()
            (self.frame, self.profile, self.target, self.dashboard_id, self.plan,
             self._initial, self._jobs, self.title, old_layout) = saved
            self._jobs = AnalysisJobs(self.frame, self.profile, self.target,
                                      workers=self._workers)
            self._retire_views()
            self.tile_layout.replace(old_layout.tiles, old_layout.n_columns, override_pins=True)
            self.session = self._open_session()
            self._show_targets()
            raise
        self._show_targets()
        for callback in list(self._data_callbacks):
            callback()

    def _retire_views(self) -> None:
        """Forget every tile view (the data changed); close the ones retired before."""
        for view in self._retired:
            view.close()
        self._retired = [*self._views.values(), *self._hidden.values()]
        self._views.clear()
        self._hidden.clear()

    def on_data(self, callback) -> None:
        """Call ``callback()`` after the dashboard shows another table."""
        self._data_callbacks.append(callback)

    def set_user(self, user: str, *, operator: bool = False) -> None:
        """Show the dashboard as ``user`` sees it: the agents' plan for them, their last
        arrangement, mode and proposals (re-read even for the same user: a preheated kernel
        built the page earlier). Analyses already computed are kept. ``operator``: the viewer
        may decide as an operator (``widgets.viewer.current_viewer``)."""
        self._guarded_value(self.session.end_round)
        self.session.governor.close()
        self.user = user
        self.operator = operator
        if self.plan is not None:
            self.plan = self._plan()
            self._initial = self.plan.layout.copy()
            start = self._starting(self.plan.layout)
        else:
            start = self.controller.starting_layout(self._initial, user=user,
                                                    dashboard=self.dashboard_id,
                                                    profile=self.profile)
        if start != self.tile_layout:
            self.tile_layout.replace(start.tiles, start.n_columns, override_pins=True)
        self.session = self._open_session()
        self._show_targets()

    def reset(self) -> None:
        """Return to the layout the dashboard started with (pins go too: a person asked)."""
        self._guard(lambda: self.tile_layout.replace(self._initial.tiles,
                                                     self._initial.n_columns,
                                                     override_pins=True))

    def relayout(self) -> Decision | None:
        """Ask the design agent for the next arrangement now; shows what happened and why."""
        decision = self.session.relayout()
        self._show(decision)
        return decision

    def approve(self, proposal_id: int | None = None) -> None:
        """Apply a pending proposal (default: the newest); refused when it is no longer
        pending (superseded by a newer one, approved elsewhere)."""
        pending = self.session.governor.pending()
        chosen = proposal_id or (pending[0].id if pending else None)
        if chosen is None:
            return
        self._guard(lambda: self._show(self.session.governor.approve(
            chosen, by=self.user, operator=self.operator)))

    def reject(self, proposal_id: int | None = None) -> None:
        pending = self.session.governor.pending()
        chosen = proposal_id or (pending[0].id if pending else None)
        if chosen is None:
            return
        self._guard(lambda: self._show(self.session.governor.reject(
            chosen, by=self.user, operator=self.operator)))

    def restore(self, version: int) -> None:
        """Put back layout ``version`` of this user's dashboard exactly."""
        self._guard(lambda: self._show(self.session.governor.restore(version, by=self.user)))

    def undo(self) -> None:
        """Put back the layout from before the agent's last change."""
        self._guard(lambda: self._show(self.session.governor.undo(by=self.user)))

    def _render(self, layout: Layout) -> None:
        views = []
        scope = f".{self._scope} .hub-grid"
        columns = f"repeat({layout.n_columns}, minmax(0, 1fr))"
        rules = [f"{scope} {{ grid-template-columns: {columns}; }}"]
        with self._jobs.batch():  # every analysis queued, then run cheapest first
            for placement in layout.placements():
                tile = placement.tile
                view = self._views.get(tile.id)
                hidden = self._hidden.pop(tile.id, None)
                if view is None and hidden is not None and hidden.tile is not None \
                        and hidden.tile.kind == tile.kind:
                    view = self._views[tile.id] = hidden
                    view.show(tile)
                elif view is None:
                    if hidden is not None:
                        self._retired.append(hidden)
                    view = self._views[tile.id] = TileView(tile, self.frame, self.profile,
                                                           self._on_tile_action,
                                                           context=self._context)
                else:
                    view.show(tile)
                views.append(view)
        for placement in layout.placements():
            tile = placement.tile
            rules.append(
                f"{scope} > .hub-tile-id--{tile.id} {{ "
                f"grid-row: {placement.row + 1} / span {placement.height}; "
                f"grid-column: {placement.column + 1} / span {placement.width}; }}"
            )
        for tile_id in set(self._views) - set(layout.ids):
            self._hidden[tile_id] = self._views.pop(tile_id)
        # tile ids match [A-Za-z0-9_-]+ (Tile validates it), so they are safe in CSS
        self._positions.value = "<style>\n" + "\n".join(rules) + "\n</style>"
        self._grid.children = tuple(views)
        self._status.value = f"<span class='hub-version'>layout v{layout.version}</span>"

    def _on_tile_action(self, tile_id: str, action: str) -> None:
        layout = self.tile_layout
        if tile_id not in layout:
            return
        tile = layout[tile_id]
        if action == "first":
            self._guard(lambda: layout.move(tile_id, 0))
        elif action == "expand":
            wide = tile.width >= layout.n_columns
            self._guard(lambda: layout.resize(tile_id, width=1 if wide else layout.n_columns))
        elif action == "pin":
            self._guard(lambda: layout.pin(tile_id, not tile.pinned))
            self._record(tile_id, "unpin" if tile.pinned else "pin")
            return
        elif action == "lock":
            self._guard(lambda: layout.lock(tile_id, not tile.locked))
            return
        elif action == "dismiss" and not self._guard(lambda: layout.remove(tile_id)):
            return
        elif action == "answered":
            self._record(tile_id, "task_done")
            return
        self._record(tile_id, EVENT_OF[action])

    def _measured(self, tile_id: str, kind: str, value: float) -> None:
        """Dwell time and clicks from the page: stored as events, no round of their own."""
        if tile_id in self.tile_layout:
            self._guarded_value(lambda: self.session.interact(tile_id, kind, value))

    def _record(self, tile_id: str, kind: str) -> None:
        rounds = self.session.rounds
        decision = self._guarded_value(lambda: self.session.interact(tile_id, kind))
        if self.session.rounds != rounds:  # the interaction completed a round
            self._show(decision)

    def _open_session(self) -> DashboardSession:
        session = self.controller.open(self.tile_layout, user=self.user,
                                       dashboard=self.dashboard_id, profile=self.profile)
        self._quiet_mode = True  # showing the stored mode is not a person changing it
        try:
            self._mode.value = session.mode
            assert self.controller.events is not None
            self._skill.value = self.controller.events.skills().get(self.user, "")
        finally:
            self._quiet_mode = False
        self._propose_analyses(session)
        pending = session.governor.pending()
        self._show(Decision("pending", session.mode, pending[0].proposal.why(),
                            proposal_id=pending[0].id) if pending else None, session)
        return session

    def _propose_analyses(self, session: DashboardSession) -> None:
        """Put the strategy agent's held-back analysis changes to the viewer, through the
        governor (the banner's Approve adds or removes those tiles). The same proposal
        still pending from an earlier visit is not made again."""
        plan = self.plan
        if plan is None or plan.proposed is None or plan.layout != self.tile_layout:
            return
        payload = plan.proposed.to_dict()
        pending = session.governor.pending()
        if pending and pending[0].proposal.layout == payload:
            return
        self._guarded_value(lambda: session.governor.submit(Proposal(
            agent="strategy", layout=payload, explanation=plan.proposed_why,
            domain="analysis")))

    def _skill_changed(self, change) -> None:
        if self._quiet_mode or not change["new"]:
            return
        assert self.controller.events is not None
        events = self.controller.events
        self._guard(lambda: events.set_skill(self.user, change["new"]))

    def _mode_changed(self, change) -> None:
        if self._quiet_mode:
            return
        self.set_mode(change["new"])

    def set_mode(self, mode: str) -> bool:
        """The viewer sets their mode here: an operator's is stored as theirs; a viewer's may
        lower the mode an operator set, never raise it (refused in the page, audited)."""
        controls = Controls()
        if self.operator:
            done = self._guard(lambda: controls.set_mode(mode, user=self.user,
                                                         dashboard=self.dashboard_id,
                                                         set_by=self.user))
        else:
            done = self._guard(lambda: controls.choose_mode(mode, user=self.user,
                                                            dashboard=self.dashboard_id))
        in_force = self.session.mode
        if self._mode.value != in_force:  # refused: the menu shows the mode in force
            self._quiet_mode = True
            try:
                self._mode.value = in_force
            finally:
                self._quiet_mode = False
        self.why.refresh(self.session.governor.key)
        return done

    def _show(self, decision: Decision | None, session: DashboardSession | None = None) -> None:
        """The banner: a proposal to approve, a change to undo, a failure; then the why."""
        session = session or self.session
        self.why.refresh(session.governor.key)
        self._banner.show(decision, failed=session.failed)

    def _guard(self, change) -> bool:
        """Run a person's change; a refusal is shown, never a crash of the page."""
        try:
            change()
        except HubError as exc:
            logger.warning("change refused: %s", exc)
            self._status.value = error_html(exc)
            return False
        return True

    def _guarded_value(self, compute):
        try:
            return compute()
        except HubError as exc:
            logger.warning("could not record the interaction: %s", exc)
            self._status.value = error_html(exc)
            return None
