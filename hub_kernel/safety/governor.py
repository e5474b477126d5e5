"""The layout governor: the only door through which an agent changes a dashboard.

An agent hands over a ``Proposal`` (the new layout, why, its propensity and expected reward, the
runner-up). The governor works out what would change, refuses vetoed action kinds and anything
touching pinned or locked tiles (or tiles the user expanded this round), writes the audit entry,
and then, by autonomy mode, applies the change (undoable in one step) or stores it as a pending
proposal that a person approves or rejects. Every layout put in force, by an agent or a person,
is a new version in the ``VersionStore``: ``restore`` (``hub rollback layout``) brings any back
exactly. A change that fails while being applied is undone on the spot.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from hub_kernel.exceptions import AuthorityError, HubError, LayoutError, ProposalError
from hub_kernel.layout import Layout, check_protected
from hub_kernel.safety.audit import AuditLog, log_decision
from hub_kernel.safety.guard import FailureLog
from hub_kernel.safety.modes import Controls
from hub_kernel.safety.store import connect
from hub_kernel.safety.versions import Version, VersionStore

logger = logging.getLogger("hub_kernel")

#: a claim older than this lost its process: deciding takes milliseconds
CLAIM_TIMEOUT_SECONDS = 60.0

Status = Literal["applied", "pending", "rejected", "vetoed", "refused", "unchanged", "undone",
                 "restored", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, time TEXT NOT NULL,
    agent TEXT NOT NULL, base_version INTEGER, payload TEXT NOT NULL,
    status TEXT NOT NULL, decided_by TEXT, audit_id INTEGER
);
"""


@dataclass(frozen=True)
class Change:
    """One difference between two layouts, by action kind (the unit of vetoes)."""

    kind: str
    tile: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.tile} ({self.detail})"


def diff(before: Layout, after: Layout) -> list[Change]:
    """What turns ``before`` into ``after``: removals, additions, moves, resizes, charts."""
    changes = [Change("remove", t.id, "removed") for t in before if t.id not in after]
    changes += [Change("add", t.id, f"added at slot {after.slot_of(t.id) + 1}")
                for t in after if t.id not in before]
    kept_before = [t.id for t in before if t.id in after]
    kept_after = [t.id for t in after if t.id in before]
    stayed = _longest_kept_order([kept_before.index(i) for i in kept_after])
    for position, tile_id in enumerate(kept_after):
        old, new = before[tile_id], after[tile_id]
        if position not in stayed:
            changes.append(Change("move", tile_id, f"slot {before.slot_of(tile_id) + 1} -> "
                                                   f"{after.slot_of(tile_id) + 1}"))
        if (old.width, old.height) != (new.width, new.height):
            changes.append(Change("resize", tile_id, f"{old.width}x{old.height} -> "
                                                     f"{new.width}x{new.height}"))
        if old.chart_type != new.chart_type:
            changes.append(Change("chart_type", tile_id, f"{old.chart_type} -> "
                                                         f"{new.chart_type}"))
    if before.n_columns != after.n_columns:
        changes.append(Change("resize", "*", f"{before.n_columns} -> {after.n_columns} columns"))
    return changes


def _longest_kept_order(sequence: list[int]) -> set[int]:
    """Positions of a longest increasing subsequence: the tiles that kept their relative
    order; every other tile is the one that moved (one jump reads as one move)."""
    from bisect import bisect_left

    tails: list[int] = []
    tail_pos: list[int] = []
    parent = [-1] * len(sequence)
    for pos, value in enumerate(sequence):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_pos.append(pos)
        else:
            tails[k], tail_pos[k] = value, pos
        parent[pos] = tail_pos[k - 1] if k else -1
    result, pos = set(), tail_pos[-1] if tail_pos else -1
    while pos != -1:
        result.add(pos)
        pos = parent[pos]
    return result


@dataclass
class Proposal:
    """A layout an agent would like to put in force, and why."""

    agent: str
    layout: dict[str, Any]
    explanation: str
    domain: str = "layout"
    propensity: float | None = None
    expected_reward: float | None = None
    runner_up: str | None = None
    runner_up_reward: float | None = None
    drivers: dict[str, float] = field(default_factory=dict)
    observation: Any = None

    def why(self) -> str:
        """The explanation in words, with what drove it and what came second."""
        text = self.explanation
        if self.drivers:
            top = sorted(self.drivers.items(), key=lambda kv: -abs(kv[1]))[:3]
            text += "; driven by " + ", ".join(f"{k} ({v:+.2f})" for k, v in top)
        if self.expected_reward is not None:
            text += f"; expected reward {self.expected_reward:.3f}"
        if self.runner_up is not None:
            text += f"; runner-up: {self.runner_up}"
            if self.runner_up_reward is not None:
                text += f" (expected {self.runner_up_reward:.3f})"
        return text


@dataclass(frozen=True)
class Decision:
    """What the governor did with a proposal, an approval, an undo or a restore."""

    status: Status
    mode: str
    explanation: str
    changes: tuple[Change, ...] = ()
    proposal_id: int | None = None
    audit_id: int | None = None
    version: int | None = None
    announced: bool = False

    @property
    def summary(self) -> str:
        return "; ".join(str(c) for c in self.changes) or "no change"


@dataclass(frozen=True)
class PendingProposal:
    id: int
    key: str
    time: str
    agent: str
    base_version: int | None
    proposal: Proposal
    status: str


def layout_key(user: str, dashboard: str) -> str:
    """The version-store key of one user's layout of one dashboard."""
    return f"{user}/{dashboard}"


class LayoutGovernor:
    """Guards ``layout`` (the live dashboard's) for ``user`` on ``dashboard``."""

    def __init__(self, layout: Layout, *, user: str, dashboard: str,
                 controls: Controls | None = None, versions: VersionStore | None = None,
                 path: str | os.PathLike[str] | None = None) -> None:
        self.layout = layout
        self.user, self.dashboard = user, dashboard
        self.key = layout_key(user, dashboard)
        self.path = path
        self.controls = controls or Controls(path)
        self.versions = versions or VersionStore(path)
        self._undo: list[tuple[Decision, dict[str, Any]]] = []
        self._busy = False
        self._closed = False
        self._recover_decisions()
        latest = self.versions.latest("layout", self.key)
        if latest is None or latest.payload != layout.to_dict():
            self._save("person" if latest else "default",
                       "starting layout" if latest is None else "layout in use when opened")
        self._unsubscribe = layout.observe(self._person_changed)

    # -- reading -----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.controls.mode(user=self.user, dashboard=self.dashboard)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def pending(self) -> list[PendingProposal]:
        """Proposals waiting for a person, newest first."""
        return [p for p in list_proposals(self.path, key=self.key) if p.status == "pending"]

    def history(self) -> list[Version]:
        return self.versions.history("layout", self.key)

    # -- agents ------------------------------------------------------------------------------
    def sync(self) -> bool:
        """Adopt the stored layout when someone else (the CLI, another kernel of the same
        user) put a newer one in force; returns whether the live layout changed."""
        latest = self.versions.latest("layout", self.key)
        if latest is None or latest.payload == self.layout.to_dict():
            return False
        self._put(Layout.from_dict(latest.payload), override=True)
        self._undo.clear()  # what this kernel could undo is no longer what is shown
        return True

    def submit(self, proposal: Proposal, *, keep: Iterable[str] = ()) -> Decision:
        """Apply or queue ``proposal`` by mode; ``keep`` are tiles that must stay (expanded)."""
        if self._closed:
            raise ProposalError(f"the governor of {self.key} was closed; open a new session")
        self.sync()
        mode = self.mode
        try:
            target = Layout.from_dict(proposal.layout)
            check_protected(self.layout, target)
            for tile_id in keep:
                if tile_id in self.layout and tile_id not in target:
                    raise LayoutError(f"tile {tile_id!r} was expanded this round; it stays")
        except LayoutError as exc:
            return self._skip("refused", mode, proposal, f"refused: {exc}")
        changes = tuple(diff(self.layout, target))
        if not changes:
            return Decision("unchanged", mode, "the agent kept the layout as it is")
        vetoed = {c.kind for c in changes} & self.controls.vetoed(user=self.user,
                                                                  dashboard=self.dashboard)
        if vetoed:
            return self._skip("vetoed", mode, proposal,
                              f"vetoed: {', '.join(sorted(vetoed))} is forbidden here",
                              changes)
        summary = "; ".join(str(c) for c in changes)
        if not self.controls.applies_directly(mode, proposal.domain):
            return self._queue(proposal, mode, changes, summary)
        entry = AuditLog().record(
            agent=proposal.agent, mode=mode, observation=proposal.observation,
            action=f"apply layout {self.key}: {summary}", propensity=proposal.propensity,
            expected_reward=proposal.expected_reward, explanation=proposal.why(),
        )
        return self._apply(target, proposal.agent, proposal.why(), mode, changes,
                           audit_id=entry.id)

    # -- people ------------------------------------------------------------------------------
    def approve(self, proposal_id: int, *, by: str, operator: bool = False) -> Decision:
        """Apply a pending proposal: refused unless ``by`` owns it (this governor's user) or
        is an ``operator``, if the layout changed since it was made, or when someone else
        (another page, the CLI) decided it first."""
        pending = self._pending(proposal_id)
        self._authorise("approve", proposal_id, by, operator)
        self._claim(proposal_id, by)  # from here on nobody else can approve or reject it
        try:
            return self._approve_claimed(proposal_id, pending, by)
        except BaseException:
            self._release(proposal_id)  # not decided after all: pending again (unless closed)
            raise

    def _approve_claimed(self, proposal_id: int, pending: PendingProposal,
                         by: str) -> Decision:
        self.sync()
        base = self.versions.latest("layout", self.key)
        if base is not None and pending.base_version != base.version:
            self._close(proposal_id, "stale", by, None)
            raise ProposalError(
                f"proposal {proposal_id} was made for layout version {pending.base_version}, "
                f"but version {base.version} is in force now; ask the agent for a new one"
            )
        target = Layout.from_dict(pending.proposal.layout)
        try:
            check_protected(self.layout, target)
        except LayoutError as exc:
            self._close(proposal_id, "stale", by, None)
            raise ProposalError(f"proposal {proposal_id} no longer fits: {exc}") from None
        changes = tuple(diff(self.layout, target))
        vetoed = {c.kind for c in changes} & self.controls.vetoed(user=self.user,
                                                                  dashboard=self.dashboard)
        if vetoed:
            self._close(proposal_id, "vetoed", by, None)
            raise ProposalError(f"proposal {proposal_id} would {', '.join(sorted(vetoed))} "
                                "tiles, which is vetoed here")
        entry = AuditLog().record(
            agent=pending.agent, mode=self.mode, approved_by=by,
            observation=pending.proposal.observation, propensity=pending.proposal.propensity,
            expected_reward=pending.proposal.expected_reward, ref=self._audit_ref(proposal_id),
            action=f"approve proposal {proposal_id} for {self.key}: "
                   + "; ".join(str(c) for c in changes),
            explanation=f"approved by {by}: {pending.proposal.why()}",
        )
        # the audit row is the decision; the version and the proposal's status then commit
        # together in _apply. A kill in between is completed by _recover_decisions.
        return self._apply(target, pending.agent, f"approved by {by}: {pending.proposal.why()}",
                           self.mode, changes, audit_id=entry.id, proposal_id=proposal_id)

    def reject(self, proposal_id: int, *, by: str, operator: bool = False) -> Decision:
        """Drop a pending proposal (only its owner or an ``operator`` may); the agent learns
        a reward of 0 for it."""
        pending = self._pending(proposal_id)
        self._authorise("reject", proposal_id, by, operator)
        self._claim(proposal_id, by)
        try:
            entry = AuditLog().record(
                agent=pending.agent, mode=self.mode, approved_by=by, outcome_reward=0.0,
                ref=self._audit_ref(proposal_id), action=f"reject proposal {proposal_id} for "
                                                        f"{self.key}",
                explanation=f"rejected by {by}: {pending.proposal.explanation}",
            )
        except BaseException:
            self._release(proposal_id)
            raise
        self._close(proposal_id, "rejected", by, entry.id)
        return Decision("rejected", self.mode, f"rejected by {by}", proposal_id=proposal_id,
                        audit_id=entry.id)

    def undo(self, *, by: str) -> Decision:
        """Put back exactly the layout from before the last change an agent applied."""
        if not self._undo:
            raise ProposalError("there is no agent change to undo")
        done, before = self._undo.pop()
        target = Layout.from_dict(before)
        changes = tuple(diff(self.layout, target))
        entry = AuditLog().record(
            agent="person", mode=self.mode, approved_by=by, ref=done.audit_id,
            action=f"undo layout {self.key}: " + "; ".join(str(c) for c in changes),
            explanation=f"{by} undid: {done.explanation}",
        )
        self._put(target, override=True)
        version = self._save(by, f"undo of version {done.version}")
        return Decision("undone", self.mode, f"undid: {done.explanation}", changes,
                        audit_id=entry.id, version=version.version)

    def restore(self, version: int, *, by: str) -> Decision:
        """Bring back any earlier layout version exactly (``hub rollback layout``)."""
        old = self.versions.get("layout", self.key, version)
        target = Layout.from_dict(old.payload)
        changes = tuple(diff(self.layout, target))
        entry = AuditLog().record(
            agent="person", mode=self.mode, approved_by=by,
            action=f"restore layout {self.key} v{version}",
            explanation=f"{by} restored layout version {version} ({old.reason})",
        )
        self._put(target, override=True)
        new = self.versions.restore("layout", self.key, version, author=by)
        return Decision("restored", self.mode, f"restored version {version}", changes,
                        audit_id=entry.id, version=new.version)

    def close(self) -> None:
        """Stop watching the layout; a closed governor refuses agents' proposals."""
        self._unsubscribe()
        self._closed = True

    # -- internals ---------------------------------------------------------------------------
    def _apply(self, target: Layout, author: str, why: str, mode: str,
               changes: tuple[Change, ...], *, audit_id: int,
               proposal_id: int | None = None) -> Decision:
        before = self.layout.to_dict()
        try:
            self._put(target, override=False)
            version = self._commit(author, why, proposal_id)
        except Exception as exc:  # a change that breaks the page or cannot be kept: undone
            self._put(Layout.from_dict(before), override=True)
            if proposal_id is not None:
                self._close(proposal_id, "failed", author, None)
            try:
                FailureLog(self.path).record(author, self.key, exc)
            except HubError:
                logger.exception("could not record the failure of %s", author)
            log_decision(agent=author, mode=mode, ref=audit_id,
                         action=f"revert layout {self.key}",
                         explanation=f"applying the change failed ({exc}); "
                                     "the last good layout is back")
            return Decision("failed", mode, f"the change failed and was undone: {exc}",
                            changes, proposal_id, audit_id)
        decision = Decision("applied", mode, why, changes, proposal_id, audit_id,
                            version.version, announced=Controls.announced(mode))
        self._undo.append((decision, before))
        return decision

    def _commit(self, author: str, why: str, proposal_id: int | None) -> Version:
        """The new version, proposals for the old layout superseded and (when approving) the
        proposal approved: one transaction when the versions live in this database."""
        shared = self.versions.path == self.path or (
            self.versions.path is None and self.path is None)
        if not shared:  # a VersionStore elsewhere: two commits, the version first
            version = self._save(author, why)
        with connect(self.path, _SCHEMA) as db:
            if shared:
                version = self.versions.save_in(db, "layout", self.key, self.layout.to_dict(),
                                                author=author, reason=why)
            if proposal_id is not None:
                db.execute("UPDATE proposals SET status='approved' WHERE id=? AND "
                           "status='deciding'", (proposal_id,))
            db.execute("UPDATE proposals SET status='superseded' WHERE key=? AND "
                       "status='pending'", (self.key,))
        return version

    def _recover_decisions(self, older_than: float | None = None) -> list[int]:
        """Settle proposals left 'deciding' by a process killed midway (a claim older than
        ``older_than`` s; deciding takes milliseconds), so the audit log, proposals and
        versions agree: an approval the audit log records is completed (or, if the layout
        moved on since, closed as stale and audited); a rejection it records is closed; one
        it does not record is pending again."""
        wait = CLAIM_TIMEOUT_SECONDS if older_than is None else older_than
        cutoff = datetime.fromtimestamp(time.time() - wait, UTC).isoformat()
        with connect(self.path, _SCHEMA) as db:
            _add_claimed_at(db)
            rows = db.execute("SELECT id FROM proposals WHERE key=? AND status='deciding' "
                              "AND (claimed_at IS NULL OR claimed_at < ?)",
                              (self.key, cutoff)).fetchall()
        settled = []
        for row in rows:
            number = int(row["id"])
            pending = next(p for p in list_proposals(self.path, key=self.key) if p.id == number)
            log = AuditLog()
            rejected = log.entries(action=f"reject proposal {number} for {self.key}")
            approved = log.entries(action=f"approve proposal {number} for {self.key}")
            if rejected:
                self._close(number, "rejected", rejected[-1].approved_by or "", None)
            elif approved:
                base = self.versions.latest("layout", self.key)
                by = approved[-1].approved_by or ""
                if base is None or pending.base_version == base.version:
                    self._put(Layout.from_dict(pending.proposal.layout), override=True)
                    self._commit(pending.agent, f"approved by {by}: {pending.proposal.why()} "
                                 "(completed after an interruption)", number)
                else:
                    self._close(number, "stale", by, None)
                    log.record(agent=pending.agent, mode=self.mode, approved_by=by,
                               ref=approved[-1].id,
                               action=f"abandon approval of proposal {number} for {self.key}",
                               explanation="the approval was interrupted before it took "
                                           f"effect, and layout version {base.version} is in "
                                           "force now; ask the agent for a new proposal")
            else:
                self._release(number)
            logger.warning("proposal %d of %s was left undecided by an interrupted process; "
                           "settled from the audit log", number, self.key)
            settled.append(number)
        return settled

    def _put(self, target: Layout, *, override: bool) -> None:
        self._busy = True
        try:
            self.layout.replace(target.tiles, target.n_columns, override_pins=override)
        finally:
            self._busy = False

    def _save(self, author: str, reason: str) -> Version:
        return self.versions.save("layout", self.key, self.layout.to_dict(), author=author,
                                  reason=reason)

    def _person_changed(self, layout: Layout) -> None:
        if not self._busy:  # a person's own change (a button, code in a cell): versioned too
            self._save("person", layout.last_change)
            # undoing the agent now would also undo this change: the person moved on
            self._undo.clear()

    def _skip(self, status: Status, mode: str, proposal: Proposal, why: str,
              changes: tuple[Change, ...] = ()) -> Decision:
        entry = log_decision(agent=proposal.agent, mode=mode, observation=proposal.observation,
                             action=f"{status} layout {self.key}",
                             propensity=proposal.propensity,
                             expected_reward=proposal.expected_reward,
                             explanation=f"{why} (proposed: {proposal.explanation})")
        return Decision(status, mode, why, changes, audit_id=entry.id if entry else None)

    def _queue(self, proposal: Proposal, mode: str, changes: tuple[Change, ...],
               summary: str) -> Decision:
        base = self.versions.latest("layout", self.key)
        entry = AuditLog().record(
            agent=proposal.agent, mode=mode, observation=proposal.observation,
            action=f"propose layout {self.key}: {summary}", propensity=proposal.propensity,
            expected_reward=proposal.expected_reward,
            explanation=f"proposed, waiting for approval: {proposal.why()}",
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with connect(self.path, _SCHEMA) as db:
            db.execute("UPDATE proposals SET status='superseded' WHERE key=? AND "
                       "status='pending'", (self.key,))
            cursor = db.execute(
                "INSERT INTO proposals (key, time, agent, base_version, payload, status, "
                "audit_id) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (self.key, stamp, proposal.agent, base.version if base else None,
                 json.dumps(asdict(proposal), default=str), entry.id))
            number = int(cursor.lastrowid or 0)
        return Decision("pending", mode, proposal.why(), changes, number, entry.id,
                        announced=True)

    def _pending(self, proposal_id: int) -> PendingProposal:
        for item in list_proposals(self.path, key=self.key):
            if item.id == proposal_id:
                if item.status != "pending":
                    raise ProposalError(f"proposal {proposal_id} is already {item.status}")
                return item
        raise ProposalError(f"no proposal {proposal_id} for {self.key}; "
                            "`hub proposals list` shows what is pending")

    def _authorise(self, verb: str, proposal_id: int, by: str, operator: bool) -> None:
        """Only the proposal's owner or an operator decides it; a refusal is audited."""
        if operator or by == self.user:
            return
        log_decision(agent="person", action=f"refused {verb} proposal {proposal_id} for "
                                            f"{self.key}", approved_by=by,
                     explanation=f"{by} is neither the owner of the proposal ({self.user}) "
                                 "nor an operator")
        raise AuthorityError(f"{by} may not {verb} proposal {proposal_id}: it is {self.user}'s, "
                             "and only its owner or an operator decides it")

    def _claim(self, proposal_id: int, by: str) -> None:
        """Take a pending proposal for deciding, atomically: a conditional update, so of two
        people (or a page and the CLI) deciding at once exactly one goes on."""
        with connect(self.path, _SCHEMA) as db:
            _add_claimed_at(db)
            claimed = db.execute("UPDATE proposals SET status='deciding', decided_by=?, "
                                 "claimed_at=? WHERE id=? AND key=? AND status='pending'",
                                 (by, datetime.now(UTC).isoformat(), proposal_id,
                                  self.key)).rowcount
        if claimed != 1:
            status = next((p.status for p in list_proposals(self.path, key=self.key)
                           if p.id == proposal_id), "gone")
            raise ProposalError(f"proposal {proposal_id} was decided meanwhile (it is "
                                f"{status}); nothing was changed")

    def _release(self, proposal_id: int) -> None:
        with connect(self.path, _SCHEMA) as db:
            db.execute("UPDATE proposals SET status='pending', decided_by=NULL, "
                       "claimed_at=NULL WHERE id=? AND status='deciding'", (proposal_id,))

    def _audit_ref(self, proposal_id: int) -> int | None:
        with connect(self.path, _SCHEMA) as db:
            row = db.execute("SELECT audit_id FROM proposals WHERE id=?",
                             (proposal_id,)).fetchone()
        return row["audit_id"] if row else None

    def _close(self, proposal_id: int, status: str, by: str, audit_id: int | None) -> None:
        with connect(self.path, _SCHEMA) as db:
            db.execute("UPDATE proposals SET status=?, decided_by=? WHERE id=?",
                       (status, by, proposal_id))


def _add_claimed_at(db: Any) -> None:
    """Proposals made before claims were timed get the column (NULL: an old claim)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(proposals)")}
    if "claimed_at" not in columns:
        db.execute("ALTER TABLE proposals ADD COLUMN claimed_at TEXT")


def list_proposals(path: str | os.PathLike[str] | None = None, *,
                   key: str | None = None) -> list[PendingProposal]:
    """Proposals (all states) newest first, optionally of one user's dashboard."""
    query, args = "SELECT * FROM proposals", []
    if key:
        query, args = query + " WHERE key=?", [key]
    with connect(path, _SCHEMA) as db:
        rows = db.execute(query + " ORDER BY id DESC", args).fetchall()
    return [PendingProposal(r["id"], r["key"], r["time"], r["agent"], r["base_version"],
                            Proposal(**json.loads(r["payload"])), r["status"]) for r in rows]
