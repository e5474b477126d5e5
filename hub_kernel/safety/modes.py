"""Autonomy modes and overrides, per dashboard and per user, kept in ``safety.db``.

``assisted``: agents propose, a person approves each change. ``supervised``: changes are
applied, announced, and undoable in one click. ``autonomous``: applied silently within the
domains settings allow (``HUB_AUTONOMOUS_DOMAINS``); outside them the agent only proposes.

Every agent acts in one *domain*: ``layout`` (the design agent), ``analysis`` (the strategy
agent: which analysis tiles a dashboard shows), ``report`` (the report agent's sections) and
``model`` (the A/B gate promoting a challenger). ``Controls.applies_directly(mode, domain)`` says
whether a change in that domain is applied or only proposed; ``governed`` applies it to a
choice of a set of items (the analyses of a dashboard).

An operator (``hub mode set``, or an operator's page) sets a mode for a user, a dashboard, or a
user on one dashboard; the most specific wins, then the setting ``HUB_AUTONOMY_MODE``. A viewer
chooses a mode for themselves on one dashboard from the page (``choose_mode``): kept apart from
the operators' modes, it may lower the mode an operator set but never raise it (``mode`` takes
the lower of the two; a choice above an operator's mode is refused and audited). Where no
operator set anything, a viewer's choice stands. Vetoes forbid agents an action kind
(``move``, ``resize``, ``chart_type``, ``add``, ``remove``) in the same scopes; every change is
audited.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from hub_kernel.core.config import AutonomyMode, get_settings
from hub_kernel.exceptions import AuthorityError, ModeError
from hub_kernel.safety.audit import AuditLog, log_decision
from hub_kernel.safety.store import connect

MODES: tuple[str, ...] = get_args(AutonomyMode)
ACTION_KINDS = ("move", "resize", "chart_type", "add", "remove")
DOMAINS = ("layout", "analysis", "report", "model")
ANY = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS modes (
    user TEXT NOT NULL, dashboard TEXT NOT NULL, mode TEXT NOT NULL,
    set_by TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (user, dashboard)
);
CREATE TABLE IF NOT EXISTS viewer_modes (
    user TEXT NOT NULL, dashboard TEXT NOT NULL, mode TEXT NOT NULL, time TEXT NOT NULL,
    PRIMARY KEY (user, dashboard)
);
CREATE TABLE IF NOT EXISTS mode_migrations (name TEXT PRIMARY KEY);
-- once: a mode a page set for its own viewer (user+dashboard, set by that user) was stored with
-- the operators' and beat them; it becomes that viewer's own choice, capped by the operators'
INSERT OR IGNORE INTO viewer_modes SELECT user, dashboard, mode, time FROM modes
    WHERE user != '*' AND dashboard != '*' AND set_by = user
    AND NOT EXISTS (SELECT 1 FROM mode_migrations WHERE name = 'viewer-modes');
DELETE FROM modes WHERE user != '*' AND dashboard != '*' AND set_by = user
    AND NOT EXISTS (SELECT 1 FROM mode_migrations WHERE name = 'viewer-modes');
INSERT OR IGNORE INTO mode_migrations VALUES ('viewer-modes');
CREATE TABLE IF NOT EXISTS vetoes (
    user TEXT NOT NULL, dashboard TEXT NOT NULL, kind TEXT NOT NULL,
    set_by TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (user, dashboard, kind)
);
"""


@dataclass(frozen=True)
class ModeSetting:
    user: str
    dashboard: str
    mode: str
    set_by: str
    time: str


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ModeError(f"unknown autonomy mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def _check_kind(kind: str) -> str:
    if kind not in ACTION_KINDS:
        raise ModeError(f"unknown action kind {kind!r}; choose one of {', '.join(ACTION_KINDS)}")
    return kind


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ModeError(f"unknown agent domain {domain!r}; domains: {', '.join(DOMAINS)}")
    return domain


@dataclass(frozen=True)
class Governed:
    """A set-valued choice after the mode had its say (``governed``)."""

    shown: tuple[str, ...]  # what is shown now
    applied: bool  # the agent's choice is in force (else it is only proposed)
    add: tuple[str, ...] = ()  # proposed, not applied: items the agent would show
    drop: tuple[str, ...] = ()  # proposed, not applied: items the agent would hide

    @property
    def proposed(self) -> bool:
        return bool(self.add or self.drop)


def governed(mode: str, domain: str, current: Sequence[str] | None, wanted: Sequence[str], *,
             pinned: Sequence[str] = ()) -> Governed:
    """What to show when an agent wants ``wanted`` and ``current`` is shown now (``None``:
    nothing was shown before, the agent's choice starts the dashboard). Where the mode lets the
    agent act in ``domain`` its choice is shown; elsewhere ``current`` stays and the
    difference is a proposal. Pinned items are shown either way."""
    wanted = list(dict.fromkeys([*pinned, *wanted]))
    if current is None or Controls.applies_directly(mode, domain):
        return Governed(tuple(wanted), True)
    kept = list(dict.fromkeys([*pinned, *current]))
    return Governed(tuple(kept), False,
                    add=tuple(w for w in wanted if w not in kept),
                    drop=tuple(c for c in kept if c not in wanted and c not in pinned))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Controls:
    """Modes and vetoes in ``safety.db`` (``path`` for tests; default under HUB_HOME)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path

    # -- modes -------------------------------------------------------------------------------
    def set_mode(self, mode: str, *, user: str | None = None, dashboard: str | None = None,
                 set_by: str = "person") -> ModeSetting:
        """Set, as an operator, the mode for ``user`` on ``dashboard`` (either may be None:
        every one). Pages of viewers call ``choose_mode``."""
        _check_mode(mode)
        scope = (user or ANY, dashboard or ANY)
        before = self.mode(user=user, dashboard=dashboard)
        AuditLog().record(agent="person", action=f"set mode {mode}", mode=mode,
                          approved_by=set_by, observation={"user": scope[0],
                                                           "dashboard": scope[1]},
                          explanation=f"autonomy mode for user {scope[0]} on dashboard "
                                      f"{scope[1]} set to {mode} (was {before})")
        stamp = _now()
        with connect(self.path, _SCHEMA) as db:
            db.execute("INSERT OR REPLACE INTO modes VALUES (?, ?, ?, ?, ?)",
                       (*scope, mode, set_by, stamp))
            # an operator's mode for this very user and dashboard replaces the viewer's own
            db.execute("DELETE FROM viewer_modes WHERE user=? AND dashboard=?", scope)
        return ModeSetting(*scope, mode, set_by, stamp)

    def choose_mode(self, mode: str, *, user: str, dashboard: str) -> ModeSetting:
        """A viewer's own mode on one dashboard (from the page): refused above the mode an
        operator set there (the refusal is audited); lowering is always allowed."""
        _check_mode(mode)
        ceiling = self.operator_mode(user=user, dashboard=dashboard)
        if ceiling is not None and MODES.index(mode) > MODES.index(ceiling):
            log_decision(agent="person", action=f"refused set mode {mode}", mode=mode,
                         approved_by=user, observation={"user": user, "dashboard": dashboard},
                         explanation=f"{user} may not raise their mode on dashboard "
                                     f"{dashboard} to {mode}: an operator set {ceiling}")
            raise AuthorityError(f"{user} may not raise the agents' mode to {mode} here: an "
                                 f"operator set {ceiling} for this dashboard (`hub mode set`); "
                                 "you can only lower it")
        before = self.mode(user=user, dashboard=dashboard)
        AuditLog().record(agent="person", action=f"set mode {mode}", mode=mode,
                          approved_by=user, observation={"user": user, "dashboard": dashboard},
                          explanation=f"autonomy mode for user {user} on dashboard "
                                      f"{dashboard} set to {mode} by that viewer (was {before})")
        stamp = _now()
        with connect(self.path, _SCHEMA) as db:
            db.execute("INSERT OR REPLACE INTO viewer_modes VALUES (?, ?, ?, ?)",
                       (user, dashboard, mode, stamp))
        return ModeSetting(user, dashboard, mode, user, stamp)

    def operator_mode(self, *, user: str | None = None,
                      dashboard: str | None = None) -> str | None:
        """The mode operators set that covers ``user`` on ``dashboard`` (the most specific),
        ``None`` when they set none."""
        with connect(self.path, _SCHEMA) as db:
            for scope in ((user, dashboard), (ANY, dashboard), (user, ANY), (ANY, ANY)):
                if None in scope:
                    continue
                row = db.execute("SELECT mode FROM modes WHERE user=? AND dashboard=?",
                                 scope).fetchone()
                if row is not None:
                    return str(row["mode"])
        return None

    def choices(self) -> list[ModeSetting]:
        """Viewers' own modes (``choose_mode``)."""
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM viewer_modes ORDER BY user, dashboard").fetchall()
        return [ModeSetting(r["user"], r["dashboard"], r["mode"], r["user"], r["time"])
                for r in rows]

    def clear_mode(self, *, user: str | None = None, dashboard: str | None = None) -> None:
        with connect(self.path, _SCHEMA) as db:
            db.execute("DELETE FROM modes WHERE user=? AND dashboard=?",
                       (user or ANY, dashboard or ANY))

    def mode(self, *, user: str | None = None, dashboard: str | None = None) -> str:
        """The mode in force: the operators' (user+dashboard, then dashboard, then user, then
        settings), lowered by the viewer's own choice on that dashboard."""
        operator = self.operator_mode(user=user, dashboard=dashboard)
        chosen = None
        if user is not None and dashboard is not None:
            with connect(self.path, _SCHEMA) as db:
                row = db.execute("SELECT mode FROM viewer_modes WHERE user=? AND dashboard=?",
                                 (user, dashboard)).fetchone()
            chosen = str(row["mode"]) if row is not None else None
        if chosen is None:
            return operator or get_settings().autonomy_mode
        if operator is None:
            return chosen
        return min(chosen, operator, key=MODES.index)

    def modes(self) -> list[ModeSetting]:
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM modes ORDER BY user, dashboard").fetchall()
        return [ModeSetting(r["user"], r["dashboard"], r["mode"], r["set_by"], r["time"])
                for r in rows]

    def applies(self, domain: str, *, user: str | None = None,
                dashboard: str | None = None) -> bool:
        """Whether an agent's change in ``domain`` is applied for ``user`` on ``dashboard``
        (the mode in force there, ``mode``)."""
        return self.applies_directly(self.mode(user=user, dashboard=dashboard), domain)

    @staticmethod
    def applies_directly(mode: str, domain: str) -> bool:
        """Whether an agent's change in ``domain`` (one of ``DOMAINS``) is applied (True) or
        only proposed, in autonomy ``mode``."""
        _check_mode(mode)
        _check_domain(domain)
        if mode == "assisted":
            return False
        if mode == "autonomous":
            return domain in get_settings().autonomous_domains
        return True

    @staticmethod
    def announced(mode: str) -> bool:
        """Supervised changes are announced with an Undo; autonomous ones only logged."""
        return mode != "autonomous"

    # -- vetoes ------------------------------------------------------------------------------
    def veto(self, kind: str, *, user: str | None = None, dashboard: str | None = None,
             set_by: str = "person") -> None:
        """Forbid agents the action ``kind`` for ``user`` on ``dashboard``."""
        _check_kind(kind)
        scope = (user or ANY, dashboard or ANY)
        AuditLog().record(agent="person", action=f"veto {kind}", approved_by=set_by,
                          observation={"user": scope[0], "dashboard": scope[1]},
                          explanation=f"agents may no longer {kind} tiles for user "
                                      f"{scope[0]} on dashboard {scope[1]}")
        with connect(self.path, _SCHEMA) as db:
            db.execute("INSERT OR REPLACE INTO vetoes VALUES (?, ?, ?, ?, ?)",
                       (*scope, kind, set_by, _now()))

    def allow(self, kind: str, *, user: str | None = None, dashboard: str | None = None,
              set_by: str = "person") -> None:
        """Lift a veto set with the same scope."""
        _check_kind(kind)
        scope = (user or ANY, dashboard or ANY)
        AuditLog().record(agent="person", action=f"allow {kind}", approved_by=set_by,
                          observation={"user": scope[0], "dashboard": scope[1]},
                          explanation=f"agents may {kind} tiles again for user {scope[0]} "
                                      f"on dashboard {scope[1]}")
        with connect(self.path, _SCHEMA) as db:
            db.execute("DELETE FROM vetoes WHERE user=? AND dashboard=? AND kind=?",
                       (*scope, kind))

    def vetoed(self, *, user: str | None = None, dashboard: str | None = None) -> set[str]:
        """Action kinds forbidden here: the union over every scope that covers it."""
        scopes = [(u, d) for u in {user or ANY, ANY} for d in {dashboard or ANY, ANY}]
        with connect(self.path, _SCHEMA) as db:
            kinds: set[str] = set()
            for scope in scopes:
                rows = db.execute("SELECT kind FROM vetoes WHERE user=? AND dashboard=?",
                                  scope).fetchall()
                kinds.update(r["kind"] for r in rows)
        return kinds
