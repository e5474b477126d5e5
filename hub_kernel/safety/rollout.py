"""Gradual rollout of policy versions, rolled back automatically when the new one does worse.

Policies are versioned in the ``VersionStore`` (kind ``"policy"``, key = the policy's name,
payload = its JSON state). ``Rollout(name).start(candidate, fraction=0.1)`` serves version
``candidate`` to a fraction of sessions and the version in force (the baseline) to the rest.
Which one a session gets is a stable hash: the first 8 bytes of
``sha256(f"{name}:{rollout id}:{session id}")`` read as a number in [0, 1); below ``fraction``
means the candidate. Every process gives the same answer, and a new rollout reshuffles.

Each ``record(session_id, reward)`` is stored under the session's arm and the rollout is
judged with sessions as the unit (a session's rewards are averaged first):

- **roll back** when both arms have at least ``min_sessions`` sessions, the candidate's mean is
  below the baseline's by more than ``threshold`` (absolute), and a one-sided Welch t-test of
  "the candidate's mean is lower" has p < ``alpha``. The audit entry is written first, then the
  baseline is put back in force and every session gets it.
- **complete** (only when the rollout was started with ``auto_complete=True``) when both arms
  have ``min_sessions`` and a one-sided Welch test shows the candidate is not worse by more than
  ``threshold`` (non-inferiority: p < ``alpha`` for "candidate mean + threshold > baseline
  mean"). By default a person completes a rollout (``hub rollout complete``).

Defaults come from the settings ``HUB_ROLLOUT_FRACTION``, ``HUB_ROLLOUT_THRESHOLD``,
``HUB_ROLLOUT_MIN_SESSIONS`` and ``HUB_ROLLOUT_ALPHA``. State lives in ``safety.db`` (tables
``rollouts``, ``rollout_rewards``, ``policy_in_force``), so it outlives kernels.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sqlite3
import statistics
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from hub_kernel.exceptions import RolloutError
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.store import connect
from hub_kernel.safety.versions import VersionError, VersionStore

logger = logging.getLogger("hub_kernel")

KIND = "policy"
AGENT = "rollout"

RolloutState = Literal["running", "rolled_back", "completed", "stopped", "none"]
Verdict = Literal["wait", "continue", "rollback", "complete"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    baseline INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    fraction REAL NOT NULL,
    threshold REAL NOT NULL,
    min_sessions INTEGER NOT NULL,
    alpha REAL NOT NULL,
    auto_complete INTEGER NOT NULL,
    state TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_by TEXT,
    ended_at TEXT,
    decision TEXT
);
CREATE INDEX IF NOT EXISTS rollouts_by_name ON rollouts (name, id);
CREATE TABLE IF NOT EXISTS rollout_rewards (
    rollout_id INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    version INTEGER NOT NULL,
    reward REAL NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollout_rewards_by_rollout ON rollout_rewards (rollout_id, arm);
CREATE TABLE IF NOT EXISTS policy_in_force (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    set_by TEXT NOT NULL,
    time TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Evaluation:
    """The judgement of a rollout's two arms (sessions' mean rewards)."""

    verdict: Verdict
    baseline_n: int
    baseline_mean: float | None
    candidate_n: int
    candidate_mean: float | None
    p_worse: float | None = None
    p_not_worse: float | None = None
    explanation: str = ""


@dataclass(frozen=True)
class RolloutStatus:
    """Where the newest rollout of a policy stands (``state="none"``: never rolled out)."""

    name: str
    state: RolloutState
    in_force: int | None
    rollout_id: int | None = None
    baseline: int | None = None
    candidate: int | None = None
    fraction: float | None = None
    threshold: float | None = None
    min_sessions: int | None = None
    alpha: float | None = None
    auto_complete: bool = False
    baseline_n: int = 0
    baseline_mean: float | None = None
    candidate_n: int = 0
    candidate_mean: float | None = None
    p_worse: float | None = None
    decision: str = ""
    started_by: str | None = None
    ended_by: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def bucket(name: str, rollout_id: int, session_id: str) -> float:
    """The session's stable position in [0, 1) for this rollout."""
    digest = hashlib.sha256(f"{name}:{rollout_id}:{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _welch_less(a: list[float], b: list[float]) -> float:
    """One-sided Welch t-test p-value for "mean(a) < mean(b)"."""
    from scipy import stats

    if min(a) == max(a) and min(b) == max(b):  # no spread: the t statistic is undefined
        return 0.0 if statistics.fmean(a) < statistics.fmean(b) else 1.0
    with warnings.catch_warnings():  # one constant arm (all rewards 0, say) is fine for Welch
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False, alternative="less")
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def evaluate(baseline: list[float], candidate: list[float], *, threshold: float,
             min_sessions: int, alpha: float) -> Evaluation:
    """Judge a rollout from the sessions' mean rewards of each arm (higher is better).

    ``rollback``: candidate mean below baseline mean by more than ``threshold`` and a one-sided
    Welch t-test of "candidate < baseline" at p < ``alpha``. ``complete``: non-inferiority, a
    one-sided Welch t-test of "baseline < candidate + threshold" at p < ``alpha``. ``wait``:
    an arm has fewer than ``min_sessions`` sessions. ``continue``: neither is credible yet.
    """
    nb, nc = len(baseline), len(candidate)
    mb = statistics.fmean(baseline) if baseline else None
    mc = statistics.fmean(candidate) if candidate else None
    counts = f"baseline {_fmt(mb)} over {nb} sessions, candidate {_fmt(mc)} over {nc}"
    if nb < min_sessions or nc < min_sessions:
        return Evaluation("wait", nb, mb, nc, mc,
                          explanation=f"waiting for {min_sessions} sessions per arm: {counts}")
    assert mb is not None and mc is not None
    difference = mc - mb
    p_worse = _welch_less(candidate, baseline)
    p_not_worse = _welch_less(baseline, [x + threshold for x in candidate])
    stats_text = (f"{counts}; difference {difference:+.4f} (threshold {threshold:g}), "
                  f"one-sided Welch p(worse) = {p_worse:.3g}, p(not worse) = {p_not_worse:.3g}, "
                  f"alpha {alpha:g}")
    if difference < -threshold and p_worse < alpha:
        return Evaluation("rollback", nb, mb, nc, mc, p_worse, p_not_worse,
                          f"candidate is worse beyond the threshold: {stats_text}")
    if p_not_worse < alpha:
        return Evaluation("complete", nb, mb, nc, mc, p_worse, p_not_worse,
                          f"candidate is credibly not worse: {stats_text}")
    return Evaluation("continue", nb, mb, nc, mc, p_worse, p_not_worse,
                      f"no credible difference yet: {stats_text}")


def percent(fraction: float) -> str:
    """``0.1`` -> ``"10%"``, ``0.025`` -> ``"2.5%"``."""
    return f"{fraction * 100:.4g}%"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def in_force(name: str, *, path: str | os.PathLike[str] | None = None) -> int | None:
    """The policy version serving everyone outside a rollout: the one a rollout or a person
    last put in force, else the newest stored version; None when none is stored."""
    with connect(path, _SCHEMA) as db:
        row = db.execute("SELECT version FROM policy_in_force WHERE name = ?",
                         (name,)).fetchone()
    if row is not None:
        return int(row["version"])
    latest = VersionStore(path).latest(KIND, name)
    return latest.version if latest else None


class Rollout:
    """The gradual rollout of versions of the policy ``name`` (state in ``safety.db``)."""

    def __init__(self, name: str, *, path: str | os.PathLike[str] | None = None,
                 audit: AuditLog | None = None) -> None:
        self.name = name
        self.path = path
        self._audit = audit
        self.versions = VersionStore(path)

    @property
    def audit(self) -> AuditLog:
        return self._audit if self._audit is not None else AuditLog()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, candidate: int, *, fraction: float | None = None,
              threshold: float | None = None, min_sessions: int | None = None,
              alpha: float | None = None, auto_complete: bool = False,
              author: str) -> RolloutStatus:
        """Serve version ``candidate`` to ``fraction`` of sessions, the version in force to the
        rest. Settings give the defaults of ``fraction``, ``threshold``, ``min_sessions`` and
        ``alpha``; with ``auto_complete`` a credibly-not-worse candidate is put in force."""
        from hub_kernel.core.config import get_settings

        settings = get_settings()
        fraction = settings.rollout_fraction if fraction is None else float(fraction)
        threshold = settings.rollout_threshold if threshold is None else float(threshold)
        min_sessions = settings.rollout_min_sessions if min_sessions is None else min_sessions
        alpha = settings.rollout_alpha if alpha is None else float(alpha)
        if not 0 < fraction < 1:
            raise RolloutError(f"fraction must be between 0 and 1 (exclusive), got {fraction}; "
                               "to serve everyone, complete a rollout instead")
        if not (math.isfinite(threshold) and threshold >= 0):
            raise RolloutError(f"threshold must be a non-negative number, got {threshold}")
        if min_sessions < 2:
            raise RolloutError(f"min_sessions must be at least 2, got {min_sessions}")
        if not 0 < alpha < 1:
            raise RolloutError(f"alpha must be between 0 and 1, got {alpha}")
        # versions are append-only: what exists now still exists inside the transaction (which
        # must not open a second connection to safety.db while it holds the write lock)
        self.versions.get(KIND, self.name, candidate)  # VersionError when it does not exist
        stored = [v.version for v in self.versions.history(KIND, self.name)]
        with connect(self.path, _SCHEMA) as db:
            current = self._current(db)
            if current is not None and current["state"] == "running":
                raise RolloutError(
                    f"a rollout of policy {self.name!r} is already running (v"
                    f"{current['baseline']} -> v{current['candidate']}); finish it with "
                    f"`hub rollout complete {self.name}` or `hub rollout stop {self.name}`")
            baseline = self._in_force(db)
            if baseline is None:
                earlier = [v for v in stored if v < candidate]
                if not earlier:
                    raise VersionError(
                        f"policy {self.name!r} has no version before v{candidate} to compare "
                        "with; save the policy in force as a version first")
                baseline = max(earlier)
            if baseline == candidate:
                raise RolloutError(f"v{candidate} of policy {self.name!r} is already in force; "
                                   "save the new policy as a new version and roll that out")
            self.audit.record(
                agent=AGENT, approved_by=author,
                action=f"start rollout policy {self.name} v{candidate} at {percent(fraction)} "
                       f"(baseline v{baseline})",
                explanation=f"{author} rolls out v{candidate} to {percent(fraction)} of sessions; "
                            f"rolled back when worse than v{baseline} by more than "
                            f"{threshold:g} (one-sided Welch p < {alpha:g}, at least "
                            f"{min_sessions} sessions per arm)",
                observation={"policy": self.name, "baseline": baseline,
                             "candidate": candidate})
            stamp = _now()
            db.execute(
                "INSERT INTO rollouts (name, baseline, candidate, fraction, threshold, "
                "min_sessions, alpha, auto_complete, state, started_by, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (self.name, baseline, candidate, fraction, threshold, min_sessions, alpha,
                 int(auto_complete), author, stamp))
            self._set_in_force(db, baseline, author, "baseline of a rollout")
        logger.info("rollout of policy %s: v%d to %s of sessions (baseline v%d)",
                    self.name, candidate, percent(fraction), baseline)
        return self.status()

    def complete(self, author: str) -> RolloutStatus:
        """Put the candidate in force for every session (audited, then applied)."""
        return self._end("completed", author)

    def stop(self, author: str) -> RolloutStatus:
        """End the rollout and keep the baseline in force for every session."""
        return self._end("stopped", author)

    def _end(self, state: Literal["completed", "stopped"], author: str) -> RolloutStatus:
        with connect(self.path, _SCHEMA) as db:
            current = self._running(db)
            evaluation = self._evaluate(db, current)
            baseline, candidate = current["baseline"], current["candidate"]
            if state == "completed":
                action = f"complete rollout policy {self.name} v{baseline} -> v{candidate}"
                why = f"{author} completed the rollout; {evaluation.explanation}"
                version = candidate
            else:
                action = f"stop rollout policy {self.name} v{candidate}, keep v{baseline}"
                why = f"{author} stopped the rollout; {evaluation.explanation}"
                version = baseline
            self._finish(db, current, state, version, author=author, action=action, why=why,
                         evaluation=evaluation, approved_by=author)
        return self.status()

    def put_in_force(self, version: int, *, author: str, reason: str | None = None) -> int:
        """Serve ``version`` to everyone (``hub rollback policy``): audited first; refused
        while a rollout runs (stop or complete it first)."""
        self.versions.get(KIND, self.name, version)  # VersionError when it does not exist
        with connect(self.path, _SCHEMA) as db:
            current = self._current(db)
            if current is not None and current["state"] == "running":
                raise RolloutError(
                    f"a rollout of policy {self.name!r} is running (v{current['baseline']} -> "
                    f"v{current['candidate']}); `hub rollout stop {self.name}` first")
            before = self._in_force(db)
            why = reason or f"{author} put version {version} of policy {self.name} in force"
            self.audit.record(agent="person", approved_by=author,
                              action=f"rollback policy {self.name} v{before} -> v{version}",
                              explanation=why)
            self._set_in_force(db, version, author, why)
        return version

    # -- serving -----------------------------------------------------------------------------
    def assign(self, session_id: str) -> int:
        """The policy version ``session_id`` gets: during a rollout by stable hash, otherwise
        the version in force. ``VersionError`` when no version of the policy is stored."""
        with connect(self.path, _SCHEMA) as db:
            current = self._current(db)
            if current is not None and current["state"] == "running":
                return self._arm(current, session_id)[1]
            version = self._in_force(db)
        if version is None:
            latest = self.versions.latest(KIND, self.name)
            version = latest.version if latest else None
        if version is None:
            raise VersionError(f"no version of policy {self.name!r} is stored; save one with "
                               "VersionStore().save('policy', name, state, ...)")
        return version

    def _arm(self, rollout: sqlite3.Row, session_id: str) -> tuple[str, int]:
        if bucket(self.name, rollout["id"], session_id) < rollout["fraction"]:
            return "candidate", int(rollout["candidate"])
        return "baseline", int(rollout["baseline"])

    def record(self, session_id: str, reward: float,
               version: int | None = None) -> RolloutStatus:
        """Store ``reward`` for ``session_id`` under its arm, then judge the rollout (which may
        roll it back or, with ``auto_complete``, complete it). Outside a running rollout, or
        when ``version`` (the one the session runs) is not its arm's, the reward is not stored
        and the status is returned unchanged."""
        reward = float(reward)
        if not math.isfinite(reward):
            raise RolloutError(f"reward must be a finite number, got {reward}")
        # _with_latest opens its own connection: never call it while holding the write lock
        with connect(self.path, _SCHEMA) as db:
            current = self._current(db)
            undecided: RolloutStatus | None = None
            if current is None or current["state"] != "running":
                logger.debug("reward for policy %s ignored: no rollout running", self.name)
                undecided = self._status(db, current)
            elif version is not None and version != self._arm(current, session_id)[1]:
                # the session started before this rollout and runs another version
                logger.debug("reward of session %s (v%s) is not for this rollout", session_id,
                             version)
                undecided = self._status(db, current)
            else:
                arm, served = self._arm(current, session_id)
                db.execute("INSERT INTO rollout_rewards VALUES (?, ?, ?, ?, ?, ?)",
                           (current["id"], session_id, arm, served, reward, _now()))
                evaluation = self._evaluate(db, current)
                if not self._decides(current, evaluation):
                    undecided = self._status(db, current, evaluation)
        if undecided is not None:
            return self._with_latest(undecided)
        # decided in a second transaction: a failing audit write must not lose the reward
        with connect(self.path, _SCHEMA) as db:
            current = self._current(db)
            # re-judged under the lock: another process may have decided meanwhile
            if current is not None and current["state"] == "running":
                evaluation = self._evaluate(db, current)
                if evaluation.verdict == "rollback":
                    self._finish(
                        db, current, "rolled_back", current["baseline"], author=AGENT,
                        action=f"rollback policy {self.name} v{current['candidate']} -> "
                               f"v{current['baseline']}",
                        why=evaluation.explanation, evaluation=evaluation)
                elif self._decides(current, evaluation):
                    self._finish(
                        db, current, "completed", current["candidate"], author=AGENT,
                        action=f"complete rollout policy {self.name} v{current['baseline']} "
                               f"-> v{current['candidate']}",
                        why=evaluation.explanation, evaluation=evaluation)
            status = self._status(db, self._current(db))
        return self._with_latest(status)

    @staticmethod
    def _decides(rollout: sqlite3.Row, evaluation: Evaluation) -> bool:
        return evaluation.verdict == "rollback" or (
            evaluation.verdict == "complete" and bool(rollout["auto_complete"]))

    # -- reading -----------------------------------------------------------------------------
    def status(self) -> RolloutStatus:
        """The newest rollout of this policy with its arms' numbers."""
        with connect(self.path, _SCHEMA) as db:
            status = self._status(db, self._current(db))
        return self._with_latest(status)

    def _with_latest(self, status: RolloutStatus) -> RolloutStatus:
        """Fill ``in_force`` from the newest stored version when no rollout set it (read
        outside any transaction on safety.db)."""
        if status.in_force is not None:
            return status
        latest = self.versions.latest(KIND, self.name)
        return replace(status, in_force=latest.version) if latest else status

    def _status(self, db: sqlite3.Connection, current: sqlite3.Row | None,
                evaluation: Evaluation | None = None) -> RolloutStatus:
        version = self._in_force(db)
        if current is None:
            return RolloutStatus(self.name, "none", version,
                                 decision=f"policy {self.name!r} was never rolled out")
        if evaluation is None:
            evaluation = self._evaluate(db, current)
        running = current["state"] == "running"
        return RolloutStatus(
            name=self.name, state=current["state"], in_force=version,
            rollout_id=current["id"], baseline=current["baseline"],
            candidate=current["candidate"], fraction=current["fraction"],
            threshold=current["threshold"], min_sessions=current["min_sessions"],
            alpha=current["alpha"], auto_complete=bool(current["auto_complete"]),
            baseline_n=evaluation.baseline_n, baseline_mean=evaluation.baseline_mean,
            candidate_n=evaluation.candidate_n, candidate_mean=evaluation.candidate_mean,
            p_worse=evaluation.p_worse,
            decision=evaluation.explanation if running else (current["decision"] or ""),
            started_by=current["started_by"], ended_by=current["ended_by"])

    # -- internals ---------------------------------------------------------------------------
    def _current(self, db: sqlite3.Connection) -> sqlite3.Row | None:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM rollouts WHERE name = ? ORDER BY id DESC LIMIT 1",
            (self.name,)).fetchone()
        return row

    def _running(self, db: sqlite3.Connection) -> sqlite3.Row:
        current = self._current(db)
        if current is None:
            raise RolloutError(f"policy {self.name!r} has no rollout; start one with "
                               f"`hub rollout start {self.name} VERSION`")
        if current["state"] != "running":
            raise RolloutError(
                f"the rollout of policy {self.name!r} (v{current['baseline']} -> "
                f"v{current['candidate']}) already ended: {current['state']}; start a new one "
                f"with `hub rollout start {self.name} VERSION`")
        return current

    def _in_force(self, db: sqlite3.Connection) -> int | None:
        row = db.execute("SELECT version FROM policy_in_force WHERE name = ?",
                         (self.name,)).fetchone()
        return None if row is None else int(row["version"])

    def _set_in_force(self, db: sqlite3.Connection, version: int, author: str,
                      reason: str) -> None:
        db.execute("INSERT INTO policy_in_force VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO "
                   "UPDATE SET version = excluded.version, set_by = excluded.set_by, "
                   "time = excluded.time, reason = excluded.reason",
                   (self.name, version, author, _now(), reason))

    def _evaluate(self, db: sqlite3.Connection, rollout: sqlite3.Row) -> Evaluation:
        rows = db.execute("SELECT arm, AVG(reward) AS mean FROM rollout_rewards "
                          "WHERE rollout_id = ? GROUP BY arm, session_id",
                          (rollout["id"],)).fetchall()
        arms: dict[str, list[float]] = {"baseline": [], "candidate": []}
        for row in rows:
            arms[row["arm"]].append(float(row["mean"]))
        return evaluate(arms["baseline"], arms["candidate"], threshold=rollout["threshold"],
                        min_sessions=rollout["min_sessions"], alpha=rollout["alpha"])

    def _finish(self, db: sqlite3.Connection, rollout: sqlite3.Row, state: str, version: int,
                *, author: str, action: str, why: str, evaluation: Evaluation,
                approved_by: str | None = None) -> None:
        """Audit first (an unwritable log stops the change), then end the rollout and put
        ``version`` in force, all inside the caller's transaction."""
        self.audit.record(
            agent=AGENT, action=action, explanation=why, approved_by=approved_by,
            expected_reward=(evaluation.candidate_mean if version == rollout["candidate"]
                             else evaluation.baseline_mean),
            observation={"policy": self.name, "rollout": rollout["id"],
                         "baseline": [rollout["baseline"], evaluation.baseline_n,
                                      evaluation.baseline_mean],
                         "candidate": [rollout["candidate"], evaluation.candidate_n,
                                       evaluation.candidate_mean],
                         "p_worse": evaluation.p_worse})
        db.execute("UPDATE rollouts SET state = ?, ended_by = ?, ended_at = ?, decision = ? "
                   "WHERE id = ?", (state, author, _now(), why, rollout["id"]))
        self._set_in_force(db, version, author, f"rollout {rollout['id']} {state}")
        level = logging.WARNING if state == "rolled_back" else logging.INFO
        logger.log(level, "%s: %s", action, why)
