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

import ipywidgets as w
import pandas as pd

from hub_kernel.agents.common.events import SKILLS
from hub_kernel.agents.controller import DashboardSession, MetaController
from hub_kernel.core.config import get_settings
from hub_kernel.data import load_dataset, profile_dataset, sample_path
from hub_kernel.data.profile import DatasetProfile
from hub_kernel.exceptions import HubError
from hub_kernel.layout import Layout, default_layout
from hub_kernel.safety.governor import Decision
from hub_kernel.safety.modes import MODES, Controls
from widgets.audit import AuditView
from widgets.bokehjs import ensure_bokehjs
from widgets.dwell import DwellTracker
from widgets.markup import error_html, escape
from widgets.tiles import TileView

logger = logging.getLogger("hub_kernel")
_instances = itertools.count(1)

STYLE = """<style>
.hub-dashboard { font-family: system-ui, sans-serif; }
.hub-grid { gap: 12px; width: 100%; }
.hub-tile { border: 1px solid #d7dde5; border-radius: 8px; padding: 8px 10px; background: #fff;
            box-sizing: border-box; overflow: hidden; }
.hub-tile-header { border-bottom: 1px solid #eef1f4; margin-bottom: 6px; }
.hub-tile-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
.hub-table { border-collapse: collapse; font-size: 12px; width: 100%; }
.hub-table th, .hub-table td { text-align: left; padding: 2px 6px;
                               border-bottom: 1px solid #f0f0f0; }
.hub-col { font-family: ui-monospace, monospace; word-break: break-all; }
.hub-bar { display: inline-block; height: 8px; background: #b5485d; margin-right: 6px; }
.hub-banner { border: 1px solid #9ec5fe; background: #eef5ff; border-radius: 6px;
              padding: 4px 8px; margin: 4px 0; align-items: center; }
.hub-banner.hub-banner--failed { border-color: #f1aeb5; background: #fff0f2; }
.hub-why-table td { vertical-align: top; }
</style>"""

EVENT_OF = {"first": "first", "expand": "expand", "up": "thumbs_up", "down": "thumbs_down",
            "dismiss": "dismiss"}


def dashboard_id_for(title: str) -> str:
    """A stable id for a dashboard from its title (a file name): the key of its layouts."""
    from hub_kernel.layout import tile_id_for

    return tile_id_for("dash", title)


class Dashboard(w.VBox):
    """A live dashboard of ``frame`` arranged by ``tile_layout`` (default: from the profile)."""

    def __init__(self, frame: pd.DataFrame, tile_layout: Layout | None = None,
                 profile: DatasetProfile | None = None, title: str = "Dashboard", *,
                 user: str | None = None, dashboard_id: str | None = None,
                 controller: MetaController | None = None) -> None:
        self.frame = frame
        self.profile = profile or profile_dataset(frame)
        self.controller = controller or MetaController()
        self.user = user or get_settings().user
        self.dashboard_id = dashboard_id or dashboard_id_for(title)
        default = default_layout(self.profile)
        self._initial = (tile_layout or default).copy()
        # a returning user gets the layout they had, if it still fits the data
        self.tile_layout = tile_layout or self.controller.starting_layout(
            default, user=self.user, dashboard=self.dashboard_id, profile=self.profile)
        self._views: dict[str, TileView] = {}
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
        self._title = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self._title.add_class("hub-title")
        self.title = title
        toolbar = w.HBox([self._title, self._status, self._skill, self._mode, rearrange, reset],
                         layout=w.Layout(align_items="center"))
        self._banner = w.HBox(layout=w.Layout(display="none"))
        self._banner.add_class("hub-banner")
        self.why = AuditView(restore=self.restore)
        self._dwell = DwellTracker(self._scope, self._measured)
        super().__init__([w.HTML(STYLE), self._positions, toolbar, self._banner, self._grid,
                          self.why, self._dwell])
        self.add_class("hub-dashboard")
        self.add_class(self._scope)
        self._unsubscribe = self.tile_layout.observe(self._render)
        self._render(self.tile_layout)
        self._quiet_mode = False
        self._mode.observe(self._mode_changed, names="value")
        self._skill.observe(self._skill_changed, names="value")
        self.session: DashboardSession = self._open_session()

    @classmethod
    def from_path(cls, path: str | os.PathLike[str] | None = None, **kwargs) -> Dashboard:
        """Dashboard of a file (``None``: ``HUB_DATASET``, else the bundled sample)."""
        chosen = path or get_settings().dataset or sample_path()
        kwargs.setdefault("title", os.path.basename(os.fspath(chosen)))
        return cls(load_dataset(chosen), **kwargs)

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
                 title: str | None = None) -> None:
        """Show another table: new profile, new starting layout, every tile rebuilt."""
        profile = profile or profile_dataset(frame)
        fresh = default_layout(profile)  # before touching anything: may raise on odd data
        old_title, old_layout = self.title, self.tile_layout.copy()
        if title is not None:
            self.title = title
            self.dashboard_id = dashboard_id_for(title)
        old_frame, old_profile, old_initial = self.frame, self.profile, self._initial
        self.frame, self.profile = frame, profile
        self._initial = fresh.copy()
        old_session = self.session
        old_session.governor.close()  # the old dashboard's versions stop here
        start = self.controller.starting_layout(fresh, user=self.user,
                                                dashboard=self.dashboard_id, profile=profile)
        for view in self._views.values():
            view.close()
        self._views.clear()
        self.tile_layout.replace(start.tiles, start.n_columns, override_pins=True)
        try:
            self.session = self._open_session()
        except HubError:  # the new session cannot be kept: back to the old data, intact
            self.frame, self.profile, self._initial = old_frame, old_profile, old_initial
            self.title, self.dashboard_id = old_title, old_session.dashboard
            for view in self._views.values():
                view.close()
            self._views.clear()
            self.tile_layout.replace(old_layout.tiles, old_layout.n_columns, override_pins=True)
            self.session = self._open_session()
            raise
        for callback in list(self._data_callbacks):
            callback()

    def on_data(self, callback) -> None:
        """Call ``callback()`` after the dashboard shows another table."""
        self._data_callbacks.append(callback)

    def set_user(self, user: str) -> None:
        """Show the dashboard as ``user`` sees it: their last layout, mode and proposals
        (re-read even for the same user: a preheated kernel built the page earlier)."""
        self.session.governor.close()
        self.user = user
        start = self.controller.starting_layout(self._initial, user=user,
                                                dashboard=self.dashboard_id,
                                                profile=self.profile)
        if start != self.tile_layout:
            self.tile_layout.replace(start.tiles, start.n_columns, override_pins=True)
        self.session = self._open_session()

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
        self._guard(lambda: self._show(self.session.governor.approve(chosen, by=self.user)))

    def reject(self, proposal_id: int | None = None) -> None:
        pending = self.session.governor.pending()
        chosen = proposal_id or (pending[0].id if pending else None)
        if chosen is None:
            return
        self._guard(lambda: self._show(self.session.governor.reject(chosen, by=self.user)))

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
        for placement in layout.placements():
            tile = placement.tile
            view = self._views.get(tile.id)
            if view is None:
                view = self._views[tile.id] = TileView(tile, self.frame, self.profile,
                                                       self._on_tile_action)
            else:
                view.show(tile)
            rules.append(
                f"{scope} > .hub-tile--{tile.id} {{ "
                f"grid-row: {placement.row + 1} / span {placement.height}; "
                f"grid-column: {placement.column + 1} / span {placement.width}; }}"
            )
            views.append(view)
        for tile_id in set(self._views) - set(layout.ids):
            self._views.pop(tile_id).close()
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
        pending = session.governor.pending()
        self._show(Decision("pending", session.mode, pending[0].proposal.why(),
                            proposal_id=pending[0].id) if pending else None, session)
        return session

    def _skill_changed(self, change) -> None:
        if self._quiet_mode or not change["new"]:
            return
        assert self.controller.events is not None
        events = self.controller.events
        self._guard(lambda: events.set_skill(self.user, change["new"]))

    def _mode_changed(self, change) -> None:
        if self._quiet_mode:
            return
        self._guard(lambda: Controls().set_mode(change["new"], user=self.user,
                                                dashboard=self.dashboard_id,
                                                set_by=self.user))
        self.why.refresh(self.session.governor.key)

    def _show(self, decision: Decision | None, session: DashboardSession | None = None) -> None:
        """The banner: a proposal to approve, a change to undo, a failure; then the why."""
        session = session or self.session
        self.why.refresh(session.governor.key)
        if decision is None and not session.failed:
            self._banner.layout.display = "none"
            return
        text, buttons = "", []
        self._banner.remove_class("hub-banner--failed")
        if decision is None:
            text = ("The design agent failed; the dashboard kept its last good layout "
                    "(see <code>hub doctor</code>).")
            self._banner.add_class("hub-banner--failed")
        elif decision.status == "pending":
            text = f"<b>Proposed:</b> {escape(decision.explanation)}"
            shown = decision.proposal_id  # the buttons act on this proposal, not a newer one
            buttons = [self._button("Approve", "hub-approve", "success",
                                    lambda: self.approve(shown)),
                       self._button("Reject", "hub-reject", "", lambda: self.reject(shown))]
        elif decision.status == "applied" and decision.announced:
            text = f"<b>Changed:</b> {escape(decision.explanation)}"
            buttons = [self._button("Undo", "hub-undo", "warning", self.undo)]
        elif decision.status in ("undone", "restored"):
            text = f"<b>{escape(decision.status.capitalize())}:</b> {escape(decision.explanation)}"
        elif decision.status in ("vetoed", "refused", "failed"):
            text = f"<b>Not applied</b> ({escape(decision.status)}): {escape(decision.explanation)}"
        else:
            self._banner.layout.display = "none"
            return
        message = w.HTML(f"<span class='hub-banner-text'>{text}</span>",
                         layout=w.Layout(flex="1 1 auto"))
        self._banner.children = [message, *buttons]
        self._banner.layout.display = "flex"

    @staticmethod
    def _button(label: str, css: str, style: str, action) -> w.Button:
        button = w.Button(description=label, button_style=style)
        button.add_class(css)
        button.on_click(lambda _b: action())
        return button

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
