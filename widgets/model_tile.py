"""The model tile: the champion model for this dataset and target, and a Train button.

The tile finds the registered model trained from this dashboard (tag ``hub.dashboard``, the
dashboard's content-hash id) and shows its champion's cross-validated score beside the trivial
baseline's (majority class or mean, on the same metric) and its top predictors. **Train** runs
the strategy agent's pipeline search within the chosen budget in a background thread (the cell
and the page stay live), with a progress bar showing the elapsed time and the best score so
far, then registers the winning pipeline through ``ModelTrainer`` (cross-validated again,
logged to MLflow, a new version: champion if the model has none, else challenger).

The tile's quality (the accuracy term of the reward) is how far the model closes the gap
between the baseline and a perfect score: ``(score - baseline) / (1 - baseline)``, clipped to
[0, 1] (the primary metrics, f1_macro and r2, are at most 1).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from hub_kernel.core.formatting import format_number
from hub_kernel.exceptions import HubError
from widgets.markup import error_html, escape

logger = logging.getLogger("hub_kernel")
BUDGETS = (5, 10, 30, 60)
DASHBOARD_TAG = "hub.dashboard"
BASELINE_TAG = "hub.baseline_score"


def model_name(target: str, dashboard: str) -> str:
    """The registered name of the model of ``target`` on dashboard ``dashboard``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(target)).strip("-._")[:60] or "target"
    return f"{slug}-{dashboard.removeprefix('dash-')[:12]}"


def quality(score: float | None, baseline: float | None) -> float | None:
    """The share of the gap between the baseline and a perfect score the model closes."""
    if score is None or baseline is None or not np.isfinite([score, baseline]).all():
        return None
    if baseline >= 1:
        return 0.0
    return float(np.clip((score - baseline) / (1 - baseline), 0.0, 1.0))


def champion(dashboard: str, target: str) -> tuple[str, Any] | None:
    """(model name, champion ``VersionInfo``) of the model trained from this dashboard."""
    from hub_kernel.models.registry import ModelRegistry

    registry = ModelRegistry()
    name = model_name(target, dashboard)
    if name not in {m.name for m in registry.list_models()}:
        return None
    info = registry.get_model_info(name)
    number = info.champion or max((v.version for v in info.versions), default=None)
    return (name, info.version(number)) if number is not None else None


def baseline_score(X: pd.DataFrame, y: pd.Series, metric: str, task: str) -> float:
    """Cross-validated score of the trivial model (majority class, or the mean)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import cross_val_score

    dummy = DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor()
    keep = y.notna().to_numpy()
    scores = cross_val_score(dummy, np.zeros((int(keep.sum()), 1)), y[keep], scoring=metric,
                             cv=3)
    return float(np.mean(scores))


def summary_html(name: str, version: Any, target: str) -> str:
    metric = version.primary_metric or "score"
    score = version.score
    raw = version.tags.get(BASELINE_TAG)
    baseline = float(raw) if raw not in (None, "") else None
    parts = [f"<p class='hub-model-score'><b>{escape(name)}</b> v{version.version} predicts "
             f"<code>{escape(target)}</code>: {escape(metric)} "
             f"<b>{escape(format_number(score))}</b>"]
    if baseline is not None:
        parts.append(f" against <span class='hub-model-baseline'>{escape(format_number(baseline))}"
                     f"</span> for the baseline")
    parts.append(" (cross-validated).</p>")
    top = [k.removeprefix("importance.") for k, _ in sorted(
        ((k, v) for k, v in version.metrics.items() if k.startswith("importance.")),
        key=lambda kv: -kv[1])][:3]
    if top:
        parts.append("<p class='hub-model-top'>Top predictors: "
                     + ", ".join(f"<code>{escape(t)}</code>" for t in top) + "</p>")
    return "".join(parts)


class ModelTile(w.VBox):
    """The body of a model tile (``render`` builds it from a tile context)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.target = ctx.target or (ctx.tile.columns[0] if ctx.tile.columns else None)
        self._summary = w.HTML()
        self._summary.add_class("hub-model-summary")
        self._budget = w.Dropdown(options=[(f"{b} s", b) for b in BUDGETS], value=10,
                                  description="Budget:", layout=w.Layout(width="160px"))
        self._budget.add_class("hub-budget")
        self._train = w.Button(description="Train", icon="play", button_style="primary",
                               tooltip="Search model pipelines within the budget and register "
                                       "the best as a new version")
        self._train.add_class("hub-train")
        self._train.on_click(lambda _b: self.train())
        self._progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                         layout=w.Layout(width="100%", display="none"))
        self._progress.add_class("hub-train-progress")
        self._status = w.HTML()
        self._status.add_class("hub-train-status")
        self._thread: threading.Thread | None = None
        self.last_result: Any = None
        super().__init__([self._summary, w.HBox([self._budget, self._train]), self._progress,
                          self._status])
        self.refresh()

    def refresh(self) -> None:
        """Show the champion of this dashboard's model, if there is one."""
        if self.target is None:
            self._summary.value = "<p>No target: choose one in the toolbar.</p>"
            self._train.disabled = True
            return
        try:
            found = champion(self.ctx.dashboard, self.target)
        except HubError as exc:
            self._summary.value = error_html(exc)
            return
        if found is None:
            self._summary.value = (f"<p class='hub-model-none'>No model of "
                                   f"<code>{escape(self.target)}</code> on this data yet: "
                                   "press Train.</p>")
            return
        name, version = found
        self._summary.value = summary_html(name, version, self.target)
        raw = version.tags.get(BASELINE_TAG)
        q = quality(version.score, float(raw) if raw else None)
        if q is not None:
            self.ctx.quality(q)

    def train(self, budget: float | None = None, *, wait: bool = False) -> None:
        """Start a training in the background (``wait``: return when it is done)."""
        if self._thread is not None and self._thread.is_alive():
            return
        budget = float(budget or self._budget.value)
        self._train.disabled = True
        self._progress.layout.display = "flex"
        self._progress.value = 0.0
        self._status.value = "<span class='hub-train-running'>searching…</span>"
        self._thread = threading.Thread(target=self._run, args=(budget,), daemon=True,
                                        name="hub-train")
        self._thread.start()
        if wait:
            self._thread.join()

    def _run(self, budget: float) -> None:
        started = time.monotonic()
        best: list[float] = []
        done = threading.Event()

        def tick() -> None:  # the bar moves with the clock, the label with each evaluation
            while not done.wait(0.5):
                elapsed = time.monotonic() - started
                self._progress.value = min(elapsed / budget, 0.99)
                shown = f", best so far {format_number(best[-1])}" if best else ""
                self._status.value = (f"<span class='hub-train-running'>searching: "
                                      f"{elapsed:.0f} s of {budget:.0f}{shown}</span>")

        def on_evaluation(evaluation: Any, search: Any) -> None:
            if search.best_ is not None:
                best.append(float(search.best_.score))

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            result = self._search_and_register(budget, on_evaluation)
        except Exception as exc:  # shown in the tile; the dashboard goes on
            logger.exception("training from the model tile failed")
            done.set()
            self._status.value = error_html(exc)
            self._progress.layout.display = "none"
            self._train.disabled = False
            return
        done.set()
        self.last_result = result
        self._progress.value = 1.0
        self._status.value = (f"<span class='hub-train-done'>registered {escape(result.name)} "
                              f"v{result.version} ({escape(result.alias)}) in "
                              f"{time.monotonic() - started:.0f} s</span>")
        self._train.disabled = False
        self.ctx.report("train", 1.0)
        self.refresh()

    def _search_and_register(self, budget: float, callback: Any) -> Any:
        from hub_kernel.agents.strategy.agent import StrategyAgent
        from hub_kernel.models.trainer import ModelTrainer

        frame = self.ctx.frame
        target = self.target
        if target not in frame.columns:
            raise HubError(f"no column {target!r} to predict; columns: "
                           f"{', '.join(map(str, frame.columns[:20]))}")
        rows = frame[frame[target].notna()]
        if len(rows) < 10:
            raise HubError(f"only {len(rows)} rows have a value of {target!r}: too few to "
                           "train a model")
        X, y = rows.drop(columns=[target]), rows[target]
        name = model_name(str(target), self.ctx.dashboard)
        agent = StrategyAgent()
        search = agent.search(X, y, budget=budget, name=name, track=True, callback=callback)
        pipeline = best_pipeline(search.model)
        baseline = search.baseline_score
        tags = {DASHBOARD_TAG: self.ctx.dashboard, BASELINE_TAG: repr(float(baseline)),
                "hub.search": f"best of {len(search.evaluations)} pipelines in "
                              f"{search.seconds:.0f} s: {search.best.config.label()}"[:250],
                "hub.trained_from": "dashboard"}
        return ModelTrainer().train_model_sync(name, X, y, estimator=pipeline, tags=tags)


def best_pipeline(model: Any) -> Any:
    """An unfitted copy of the search's winning pipeline. When an ensemble of several
    configurations won, its heaviest member's pipeline (the trainer registers one pipeline;
    registering the ensemble itself is issue 16's one model path)."""
    from sklearn.base import clone

    if hasattr(model, "members"):  # WeightedEnsemble: (weight, FoldEnsemble) pairs
        model = max(model.members, key=lambda member: member[0])[1]
    if hasattr(model, "estimators") and not hasattr(model, "steps"):  # FoldEnsemble
        model = model.estimators[0]
    return clone(model)


def render(ctx: Any) -> w.Widget:
    """The model tile's body for ``ctx`` (a ``widgets.tile_kinds.TileContext``)."""
    return ModelTile(ctx)
