"""The Analysis Strategy Agent: which analyses to show, and which model pipelines to try.

Two decisions, both learned:

(a) **Analyses worth computing and showing**: the contextual bandit of ``bandit``
    (``AnalysisBandit``), learning from ``feedback`` on the analyses' tiles; every decision is
    recorded with its propensity.

(b) **Which preprocessing + estimator + hyperparameters to evaluate next, and when to stop**:
    ``hub_kernel.automl``'s ``PipelineSearch`` within a wall-clock budget, warm-started from
    the searches of similar datasets (``automl.warmstart.MetaStore``, kept under
    ``$HUB_HOME/agents/strategy``), with the preference of a small stable-baselines3 policy
    trained across datasets on those recorded searches (``env``) when one was trained.

``analyze`` runs the chosen analyses (``hub_kernel.analyses``), handing the
``supervised_model`` analysis this agent's ``search`` as its searcher.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.agents.common.learner import TileLearner, Viewer
from hub_kernel.agents.strategy.bandit import (
    SIGNALS,
    AnalysisBandit,
    AnalysisChoice,
    analysis_context,
)
from hub_kernel.agents.strategy.tiles import TileChoice, choose_tiles
from hub_kernel.automl.warmstart import AGENT, MetaStore, remember_search, strategy_dir, write_json
from hub_kernel.exceptions import AgentError, HubError

if TYPE_CHECKING:
    from hub_kernel.automl.policy import StrategyPolicy
    from hub_kernel.automl.results import SearchResult
    from hub_kernel.data.profile import DatasetProfile
    from hub_kernel.models.leakage import LeakReport
    from hub_kernel.safety.audit import AuditLog

logger = logging.getLogger("hub_kernel")


@dataclass
class StrategyReport:
    """What ``StrategyAgent.analyze`` did: its choices (with why), the analyses' results, the
    model search (with a target) and the MLflow run holding the choices."""

    choices: list[AnalysisChoice]
    results: dict[str, Any]  # analysis name -> AnalysisResult
    search: SearchResult | None = None
    run_id: str | None = None
    #: the columns left out as leaks of the target (None without a target)
    leaks: LeakReport | None = None

    @property
    def shown(self) -> list[str]:
        return [c.name for c in self.choices if c.show]

    def facts(self) -> list[Any]:
        """Every fact of every result, in the order the analyses ran."""
        return [fact for result in self.results.values() for fact in result.facts]


class StrategyAgent:
    """Chooses analyses for a dataset and searches model pipelines, learning from feedback
    and from earlier datasets. State lives in ``directory`` (default
    ``$HUB_HOME/agents/strategy``): ``analysis_bandit.json``, ``meta.json`` and, once trained,
    ``policy.pt``. ``audit`` (default True) records every decision in the audit log."""

    name = AGENT

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, seed: int | None = 0,
                 audit: AuditLog | bool = True, mode: str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else strategy_dir()
        self.seed = seed
        self.audit = audit
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.bandit = self._load_bandit()
        self.meta = MetaStore(self.directory / "meta.json")
        self._policy: StrategyPolicy | Literal[False] | None = None

    # -- persistence ------------------------------------------------------------------------------
    @property
    def bandit_path(self) -> Path:
        return self.directory / "analysis_bandit.json"

    def _load_bandit(self) -> AnalysisBandit:
        try:
            return AnalysisBandit.from_dict(json.loads(self.bandit_path.read_text("utf-8")))
        except FileNotFoundError:
            return AnalysisBandit()
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("analysis bandit state %s unreadable (%s); starting from priors",
                           self.bandit_path, exc)
            return AnalysisBandit()

    def save(self) -> Path:
        """Write the analysis bandit's state; returns its path."""
        write_json(self.bandit_path, self.bandit.to_dict())
        return self.bandit_path

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None, **kwargs: Any
             ) -> StrategyAgent:
        return cls(directory, **kwargs)

    def _audit_log(self) -> AuditLog | None:
        if self.audit is True:
            from hub_kernel.safety.audit import AuditLog

            return AuditLog()
        return self.audit or None

    def _record(self, **decision: Any) -> Any:
        log = self._audit_log()
        if log is None:
            return None
        try:
            return log.record(agent=AGENT, mode=self.mode, **decision)
        except HubError as exc:
            logger.error("could not write the strategy decision to the audit log: %s", exc)
            return None

    # -- (a) analyses ------------------------------------------------------------------------------
    def choose_analyses(self, profile: DatasetProfile, target: str | None = None, *,
                        names: Sequence[str] | None = None, explore: bool = True,
                        limit: int | None = None) -> list[AnalysisChoice]:
        """Decide, for each registered analysis (or ``names``), whether to show it.

        With ``explore`` the decision is a Thompson sample (shown when the sampled value
        clears the threshold); without, the posterior mean decides. ``limit`` keeps the
        highest-valued shown ones. Each decision is recorded with its propensity.
        """
        from hub_kernel.analyses import available as registered
        from hub_kernel.analyses import get

        context = analysis_context(profile, target)
        choices: list[AnalysisChoice] = []
        for name in (names if names is not None else registered()):
            analysis = get(name)
            applies = analysis.applies(profile, target)
            mean, sd = self.bandit.posterior(name, context)
            p_show = self.bandit.probability_shown(name, context)
            seen = self.bandit.counts.get(name, 0)
            if not applies:
                show, propensity = False, 1.0
                why = f"skipped: it needs {analysis.requirement}"
            elif target is not None and name in ("supervised_model", "feature_importance"):
                show, propensity = True, 1.0  # asked for with the target: never left to chance
                why = f"shown: a target ({target}) was given"
            else:
                if explore:
                    sample = self.rng.normal(mean, sd)
                    show = bool(sample >= self.bandit.threshold)
                else:
                    show = mean >= self.bandit.threshold
                propensity = (p_show if show else 1 - p_show) if explore else 1.0
                basis = (f"after {seen} feedback event{'s' if seen != 1 else ''}"
                         if seen else "prior, no feedback yet")
                why = (f"{'shown' if show else 'skipped'}: expected value {mean:.2f} ± "
                       f"{sd:.2f} ({basis}), shown with probability {p_show:.2f}")
            choices.append(AnalysisChoice(name, analysis.title, applies, show, mean, sd,
                                          p_show if applies else 0.0, propensity, why))
        if limit is not None:
            shown = sorted((c for c in choices if c.show), key=lambda c: -c.value)
            keep = {c.name for c in shown[:limit]}
            choices = [c if c.show == (c.name in keep) else AnalysisChoice(
                c.name, c.title, c.applies, False, c.value, c.sd, c.probability, c.propensity,
                c.explanation.replace("shown:", "skipped (over the limit):"))
                for c in choices]
        for choice in choices:
            if choice.applies:
                self._record(action=f"{'show' if choice.show else 'skip'}:{choice.name}",
                             explanation=f"{choice.title}: {choice.explanation}",
                             propensity=choice.propensity, expected_reward=choice.value,
                             observation={"context": context.round(4).tolist(),
                                          "analysis": choice.name})
        return choices

    def choose_tiles(self, profile: DatasetProfile, target: str | None, *, key: str,
                     learner: TileLearner, viewer: Viewer, epsilon: float = 0.0,
                     budget_seconds: float = 30.0,
                     measured: Mapping[str, list[float]] | None = None,
                     pinned: Collection[str] = (), rejected: Collection[str] = (),
                     n_columns: int = 3) -> list[TileChoice]:
        """The analysis tiles of a dashboard (``agents.strategy.tiles``), each decision
        audited as ``show:NAME for KEY`` / ``skip:NAME for KEY`` with its propensity (``key``:
        ``safety.governor.layout_key(user, dashboard)``). With a target the model tile stands
        for ``supervised_model``, which is not planned."""
        from hub_kernel.analyses import available, get

        names = [n for n in available(profile, target)
                 if not (target is not None and n == "supervised_model")]
        choices = choose_tiles(names, {n: get(n).title for n in names}, learner=learner,
                               viewer=viewer, rng=self.rng, epsilon=epsilon,
                               budget_seconds=budget_seconds, n_rows=profile.analysed_rows,
                               n_columns=profile.n_columns, measured=measured or {},
                               pinned=pinned, rejected=rejected, grid_columns=n_columns)
        last = self._last_decisions(key, len(choices))
        ids: dict[str, int | None] = {}
        new: list[tuple[str, dict[str, Any]]] = []
        for c in choices:
            action = f"{'show' if c.show else 'skip'}:{c.name} for {key}"
            explanation = f"{c.tile.title}: {c.why}"
            before = last.get(c.name)
            if before is not None and (before.action, before.explanation, before.propensity) == (
                    action, explanation, c.propensity):
                ids[c.name] = before.id  # the same decision as last time: not repeated
            else:
                new.append((c.name, dict(
                    agent=AGENT, mode=self.mode, action=action, explanation=explanation,
                    propensity=c.propensity, expected_reward=c.value,
                    observation={"analysis": c.name, "sd": round(c.sd, 4),
                                 "seconds": round(c.seconds, 3), "epsilon": round(epsilon, 4)})))
        log = self._audit_log()
        if new and log is not None:
            try:  # one transaction for the plan's decisions
                entries = log.record_many([d for _, d in new])
                ids.update({name: e.id for (name, _), e in zip(new, entries, strict=True)})
            except HubError as exc:
                logger.error("could not write the strategy decisions to the audit log: %s", exc)
        return [dataclasses.replace(c, decision_id=ids.get(c.name)) for c in choices]

    def _last_decisions(self, key: str, n: int) -> dict[str, Any]:
        """Per analysis, the newest audit row of the strategy agent's ``show:``/``skip:``
        decisions about ``key`` (among its newest ``4 n`` rows about it)."""
        log = self._audit_log()
        if log is None or n == 0:
            return {}
        try:
            rows = log.entries(agent=AGENT, action=f" for {key}", limit=4 * n)
        except HubError:
            return {}
        last: dict[str, Any] = {}
        for row in rows:
            if row.action.endswith(f" for {key}") and row.action.startswith(("show:", "skip:")):
                last[row.action.partition(":")[2].removesuffix(f" for {key}")] = row
        return last

    def feedback(self, profile: DatasetProfile, analysis: str, signal: str | float,
                 target: str | None = None, *, save: bool = True) -> float:
        """Learn from what a user did with an analysis's tile (a ``SIGNALS`` name or a reward
        in [0, 1]); returns the reward used."""
        if isinstance(signal, str):
            if signal not in SIGNALS:
                raise AgentError(f"unknown feedback {signal!r}; use one of "
                                 f"{', '.join(SIGNALS)} or a reward between 0 and 1")
            reward = SIGNALS[signal]
        else:
            reward = float(signal)
            if not 0.0 <= reward <= 1.0:
                raise AgentError(f"a reward must be between 0 and 1, not {reward}")
        self.bandit.update(analysis, analysis_context(profile, target), reward)
        if save:
            self.save()
        return reward

    def analyze(self, frame: pd.DataFrame, target: str | None = None, *,
                names: Sequence[str] | None = None, budget: float = 10.0,
                n_jobs: int | None = None, track: bool = True, name: str = "dataset",
                profile: DatasetProfile | None = None, explore: bool = True,
                metric: str | None = None, keep_columns: Sequence[str] = (),
                cluster: str | None = None) -> StrategyReport:
        """Choose analyses for ``frame`` (or run ``names``), run them, and with a ``target``
        search model pipelines for ``budget`` seconds: one call for a notebook cell.

        With a target, the columns that leak it are left out of the search and the analyses
        (``models.leakage``; ``report.leaks`` names them) unless named in ``keep_columns``;
        ``metric`` is the scikit-learn scorer the model is judged by (default: one that fits
        the target, ``models.metrics.default_metric``). ``track`` logs the search (child run
        per configuration) and the choices to MLflow; ``cluster`` the Dask cluster the search
        evaluates on (default the HUB_DASK_ADDRESS setting). A named analysis that does not apply
        raises ``AnalysisError``; a metric that does not suit the target, ``ModelError``.
        """
        from hub_kernel.analyses import AnalysisError, AnalysisRequestError, run_analyses
        from hub_kernel.data.profile import profile_dataset, text_columns

        frame = text_columns(frame)
        if target is not None and target not in frame.columns:
            raise AnalysisRequestError(f"no column {target!r} in the data; columns: "
                                       f"{', '.join(map(str, frame.columns[:20]))}")
        leaks = self._check_target(frame, target, metric, keep_columns)
        profile = profile if profile is not None else profile_dataset(frame)
        asked = list(names) if names is not None else None
        choices = self.choose_analyses(profile, target, names=asked,
                                       explore=explore and asked is None)
        if asked is not None:
            refused = [c for c in choices if not c.applies]
            if refused:
                raise AnalysisError(refused[0].name, f"does not apply to {name}: "
                                    + refused[0].explanation.removeprefix("skipped: "))
        chosen = asked if asked is not None else [c.name for c in choices if c.show]
        params: dict[str, dict[str, Any]] = {
            "supervised_model": {"budget": budget, "track": track, "searcher": self.search,
                                 "name": name, "n_jobs": n_jobs, "metric": metric,
                                 "keep_columns": tuple(keep_columns),
                                 **({"cluster": cluster} if cluster is not None else {})},
            "feature_importance": {"metric": metric, "leaks": leaks}}
        results = run_analyses(frame, profile, names=chosen, target=target, params=params,
                               errors="skip")
        search = results["supervised_model"].artifacts.get("search") \
            if "supervised_model" in results else None
        run_id = log_choices(choices, dataset=name, run_id=search.parent_run_id
                             if search is not None else None) if track else None
        return StrategyReport(choices, results, search, run_id, leaks)

    @staticmethod
    def _check_target(frame: pd.DataFrame, target: str | None, metric: str | None,
                      keep_columns: Sequence[str]) -> LeakReport | None:
        """Before any work: the metric suits the target, and the leaks of the target."""
        from hub_kernel.models.features import infer_task
        from hub_kernel.models.leakage import find_leaks
        from hub_kernel.models.metrics import check_metric

        if target is None:
            if metric is not None:
                check_metric(metric)
            if keep_columns:
                raise AgentError("keep_columns keeps columns that leak a target: name the "
                                 "target too")
            return None
        labels = frame[target].dropna()
        task = infer_task(labels)
        if metric is not None:
            check_metric(metric, task, labels.nunique() if task == "classification" else None)
        return find_leaks(frame, target, task, keep_columns)

    # the design's agent contract, for the analysis decision: observation = context vector,
    # action = index of an analysis in ``analysis_names()``
    @staticmethod
    def analysis_names() -> list[str]:
        from hub_kernel.analyses import available

        return available()

    def action_probabilities(self, observation: np.ndarray, samples: int = 2000) -> np.ndarray:
        """Probability that each analysis has the highest Thompson sample (Monte Carlo)."""
        names = self.analysis_names()
        stats = [self.bandit.posterior(n, np.asarray(observation)) for n in names]
        rng = np.random.default_rng(0)
        draws = np.column_stack([rng.normal(m, s, samples) for m, s in stats])
        counts = np.bincount(np.argmax(draws, axis=1), minlength=len(names))
        return counts / samples

    def act(self, observation: np.ndarray) -> int:
        """The analysis (index) with the highest Thompson sample."""
        names = self.analysis_names()
        samples = [self.rng.normal(*self.bandit.posterior(n, np.asarray(observation)))
                   for n in names]
        return int(np.argmax(samples))

    def update(self, observation: np.ndarray, action: int, reward: float) -> None:
        self.bandit.update(self.analysis_names()[action], np.asarray(observation), reward)

    # -- (b) pipelines ---------------------------------------------------------------------------
    def policy(self) -> StrategyPolicy | None:
        """The SB3 policy trained across datasets, if one was trained (``train_policy``)."""
        if self._policy is None:
            from hub_kernel.automl.policy import load_policy

            try:
                self._policy = load_policy(self.directory) or False
            except HubError as exc:
                logger.warning("strategy policy not loaded: %s", exc)
                self._policy = False
        return self._policy if self._policy is not False else None

    def search(self, X: Any, y: Any, *, budget: float = 10.0, name: str = "dataset",
               metric: str | None = None, n_jobs: int | None = None, track: bool = True,
               remember: bool = True, warm_start: bool = True, use_policy: bool = True,
               exclude: Sequence[str] = (), **kwargs: Any) -> SearchResult:
        """Search pipelines for ``y`` from ``X`` within ``budget`` seconds, warm-started from
        similar datasets; what it learns is remembered for the next dataset."""
        # imported here: it loads scikit-learn, which a dashboard's plan does not need
        from hub_kernel.automl.searcher import search_and_remember

        return search_and_remember(
            X, y, store=self.meta, policy=self.policy() if use_policy else None,
            audit=self._audit_log() or None, seed=self.seed or 0, budget=budget, name=name,
            metric=metric, n_jobs=n_jobs, track=track, remember=remember,
            warm_start=warm_start, exclude=exclude, **kwargs)

    def remember(self, name: str, result: SearchResult, *,
                 features: np.ndarray | None = None) -> None:
        """Keep what a search learned for warm starts (keyed by ``name``)."""
        remember_search(self.meta, name, result, features=features)

    def train_policy(self, timesteps: int = 20_000, *, exclude: Sequence[str] = (),
                     seed: int = 0) -> Path:
        """Train the SB3 family policy on every remembered search (but ``exclude``)."""
        from hub_kernel.agents.strategy.env import train_policy

        path = train_policy(self.meta, timesteps=timesteps, exclude=exclude, seed=seed,
                            directory=self.directory)
        self._policy = None
        return path



def log_choices(choices: Sequence[AnalysisChoice], *, dataset: str, run_id: str | None = None,
                tracking_uri: str | None = None) -> str | None:
    """Put the analysis choices and their explanations in MLflow: into ``run_id`` (e.g. the
    search's parent run) or a new run of their own. Returns the run id (None if MLflow failed:
    the audit log has them anyway)."""
    try:
        from hub_kernel.models.tracking import TrackingStore

        store = TrackingStore.from_settings(tracking_uri).open()
        client = store.client
        own = run_id is None
        if own:
            run = client.create_run(store.experiment_id, tags={
                "hub.agent": AGENT, "hub.kind": "analysis_choice", "hub.dataset": dataset,
                "mlflow.runName": f"analysis choice {dataset}"[:250]})
            run_id = run.info.run_id
        assert run_id is not None
        shown = [c.name for c in choices if c.show]
        client.set_tag(run_id, "hub.analyses", ",".join(shown) or "-")
        client.log_dict(run_id, {"dataset": dataset,
                                 "choices": [c.to_dict() for c in choices]},
                        "hub/analysis_choices.json")
        if own:
            client.set_terminated(run_id, status="FINISHED")
        return run_id
    except Exception as exc:
        logger.warning("could not log the analysis choices to MLflow: %s", exc)
        return None
