"""The model tile: the champion model for this dashboard's data and target, and a Train button.

The tile shows the champion of the model named ``model_name(dashboard, target)`` (and the
newest version when that is a challenger): its held-out score (the trainer's cross-validated
primary metric: macro F1 for classes, R² for quantities) against the trivial baseline's
(always the most common class / always the mean, cross-validated on the same rows), and its
top predictors (the permutation importance the trainer logs with every version), and the
columns left out as leaks of the target (``hub_kernel.models.leakage``: copies, monotone
transforms, near-perfect single columns, identifiers), which the search does not use.

**Train** runs ``ModelTrainer.train_model(..., budget=)`` with the budget chosen in the
dropdown, in a background thread, with a live progress bar (elapsed / budget seconds and the
best score so far): the strategy search, then its winner (an ensemble when that won)
cross-validated, logged to MLflow and registered as a new version (``hub models list`` shows
it), and the tile shows it.

Quality reported to the dashboard (``ctx.quality``): the share of the possible improvement over
the baseline the model achieves, ``clip((score - baseline) / (1 - baseline), 0, 1)`` (both
metrics are at most 1): 0 for a model no better than the baseline, 1 for a perfect one.

Widgets are touched only in the thread of the event loop captured at construction (the
kernel's); the training thread hands its updates to that loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import ipywidgets as w
import numpy as np
import pandas as pd

from hub_kernel.exceptions import HubError
from widgets.markup import error_html, escape, tag

logger = logging.getLogger("hub_kernel")

BUDGETS = (5, 10, 30, 60)
DEFAULT_BUDGET = 10
TOP_PREDICTORS = 3
_TICK_SECONDS = 0.5
_BASELINE_WORDS = {"classification": "always predicting the most common class",
                   "regression": "always predicting the mean"}


class TileContext(Protocol):
    """What a tile kind is given (``widgets.tile_kinds.TileContext``)."""

    tile: Any
    frame: pd.DataFrame
    target: str | None
    dashboard: str

    def report(self, kind: str, value: float = 1.0) -> None: ...

    def quality(self, value: float) -> None: ...


def model_name(dashboard: str, target: str) -> str:
    """The registered name of the model of ``target`` on dashboard ``dashboard`` (a valid
    registry name: letters, digits, ``.``, ``_``, ``-``; at most 100 characters)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(target)).strip("-.") or "target"
    return f"{dashboard}-{slug}"[:100].rstrip("-.")


def quality_of(score: float, baseline: float) -> float:
    """The model's quality in [0, 1]: the share of the possible gain over the baseline it
    achieves (metrics at most 1). 0 when the baseline is already perfect."""
    if not (np.isfinite(score) and np.isfinite(baseline)) or baseline >= 1.0:
        return 0.0
    return float(np.clip((score - baseline) / (1.0 - baseline), 0.0, 1.0))


#: the trainer's names of metrics that are not scikit-learn scorer names, as (scorer, sign)
_TRAINER_METRICS = {"rmse": ("neg_root_mean_squared_error", -1.0),
                    "mae": ("neg_mean_absolute_error", -1.0)}


def baseline_of(frame: pd.DataFrame, target: str, *, folds: int | None = None,
                seed: int | None = None, metric: str | None = None) -> tuple[str, str, float]:
    """``(task, metric, score)`` of the trivial baseline predicting ``target``, cross-validated
    like the trainer (same folds), in ``metric`` (default: the one that fits the target,
    ``models.metrics.default_metric``). ``ModelError`` when the rows cannot train a model (no
    labelled rows, one class...)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    from hub_kernel.core.config import get_settings
    from hub_kernel.models.features import prepare_xy
    from hub_kernel.models.metrics import default_metric

    settings = get_settings()
    folds = folds or settings.cv_folds
    seed = settings.random_state if seed is None else seed
    prepared = prepare_xy(frame, target, folds=folds)
    task = prepared.task
    metric = metric or default_metric(prepared.y, task)
    scoring, sign = _TRAINER_METRICS.get(metric, (metric, 1.0))
    splitter = (StratifiedKFold(prepared.folds, shuffle=True, random_state=seed)
                if task == "classification"
                else KFold(prepared.folds, shuffle=True, random_state=seed))
    dummy = (DummyClassifier(strategy="most_frequent") if task == "classification"
             else DummyRegressor())
    scores = cross_val_score(dummy, np.zeros((len(prepared.y), 1)), prepared.y, cv=splitter,
                             scoring=scoring)
    return task, metric, sign * float(np.mean(scores))


@dataclass(frozen=True)
class ShownModel:
    """One registered version as the tile shows it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    metric: str
    score: float
    predictors: tuple[tuple[str, float], ...]  # (column, mean score drop), largest first


def _predictors(metrics: dict[str, float]) -> tuple[tuple[str, float], ...]:
    found = [(k.removeprefix("importance."), v) for k, v in metrics.items()
             if k.startswith("importance.") and np.isfinite(v)]
    found.sort(key=lambda item: -item[1])
    return tuple(found[:TOP_PREDICTORS])


def registered_models(name: str) -> list[ShownModel]:
    """The champion of ``name`` and its newest version when that is another (champion first);
    empty when no such model is registered."""
    from hub_kernel.exceptions import ModelError
    from hub_kernel.models.registry import ModelRegistry

    try:
        info = ModelRegistry().get_model_info(name)
    except ModelError as exc:
        if "no model named" in str(exc):
            return []
        raise
    by_number = {v.version: v for v in info.versions if v.score is not None}
    chosen = [n for n in (info.champion, max(by_number, default=None)) if n in by_number]
    return [ShownModel(name, v.version, v.aliases, v.primary_metric or "score", float(v.score),
                       _predictors(v.metrics))
            for v in (by_number[n] for n in dict.fromkeys(chosen)) if v.score is not None]


def train_best(frame: pd.DataFrame, target: str, name: str, *, budget: float,
               on_progress: Callable[[float, float | None, int | None], None] | None = None,
               dashboard: str | None = None) -> Any:
    """Search pipelines for ``target`` within ``budget`` seconds and register the winner (an
    ensemble when that won) as a new version of ``name``: the trainer's one path,
    ``ModelTrainer.train_model(..., budget=)``; returns its ``TrainResult``. The search runs
    on the Dask cluster of ``HUB_DASK_ADDRESS`` when it is set.
    ``on_progress(elapsed, best, workers)`` follows the search (``workers``: the Dask workers
    it evaluates on, None in-process)."""
    from hub_kernel.automl.searcher import StrategySearcher
    from hub_kernel.models.features import prepare_xy
    from hub_kernel.models.trainer import ModelTrainer

    prepare_xy(frame, target)  # refuses unusable rows before any search
    started = time.monotonic()

    def progress(_evaluation: Any, search: Any) -> None:
        if on_progress is not None:
            best = search.best_.score if search.best_ is not None else None
            on = getattr(search, "cluster_", None)
            on_progress(time.monotonic() - started, best, on["workers"] if on else None)

    X, y = frame.drop(columns=[target]), frame[target]
    return ModelTrainer(n_jobs=1).train_model_sync(
        name, X, y, budget=budget, searcher=StrategySearcher(callback=progress),
        tags={"hub.trained_from": "dashboard",
              **({"hub.dashboard": dashboard} if dashboard else {})})


def cluster_words(workers: int | None = None) -> str:
    """Where the Train button's search evaluates, for its progress line: "" in-process, else
    "on a Dask cluster of N workers" (before the first result: what HUB_DASK_ADDRESS says)."""
    from hub_kernel.automl.cluster import cluster_address, local_workers

    if workers is not None:
        return f" on a Dask cluster of {workers} worker{'s' if workers != 1 else ''}"
    try:
        address = cluster_address(None)
    except HubError:
        return ""
    if address is None:
        return ""
    local = local_workers(address)
    return (f" on a local Dask cluster of {local} worker{'s' if local != 1 else ''}"
            if local is not None else f" on the Dask cluster {address}")


def leaks_html(leaks: Any) -> str:
    """"Left out as leaks: ..." for a ``models.leakage.LeakReport`` (empty without leaks)."""
    if leaks is None or not leaks.leaks:
        return ""
    items = ", ".join(f"{escape(leak.column)} <span class='hub-dim'>({escape(leak.reason)})"
                      "</span>" for leak in leaks.leaks)
    return f"<p class='hub-model-leaks'>Left out as leaks: {items}.</p>"


def model_html(shown: list[ShownModel], task: str | None,
               baseline: float | Mapping[str, float] | None, leaks: Any = None) -> str:
    """The tile's text: each shown version's score against the baseline (one number, or one
    per metric) and its predictors, and the columns left out as leaks of the target."""
    if not shown:
        return tag("p", "No model of this target yet: press Train to search for one.",
                   cls="hub-model-none") + leaks_html(leaks)
    parts = []
    for model in shown:
        base = baseline.get(model.metric) if isinstance(baseline, Mapping) else baseline
        role = ", ".join(model.aliases) or "not aliased"
        line = (f"<b>{escape(model.name)}</b> v{model.version} ({escape(role)}): "
                f"<span class='hub-model-score'>{escape(model.metric)} "
                f"{model.score:.3f}</span> held out (cross-validated)")
        if base is not None and task is not None:
            line += (f" against <span class='hub-model-baseline'>{base:.3f}</span> for "
                     f"{escape(_BASELINE_WORDS.get(task, 'the trivial baseline'))}")
        parts.append(f"<p class='hub-model-version'>{line}.</p>")
        if model.predictors:
            items = "".join(f"<li>{escape(col)} <span class='hub-dim'>(shuffling it costs "
                            f"{drop:.2g})</span></li>" for col, drop in model.predictors)
            parts.append(f"<div class='hub-model-predictors'>Top predictors:<ol>{items}</ol>"
                         "</div>")
    return "".join(parts) + leaks_html(leaks)


class ModelTile(w.VBox):
    """The model tile of ``ctx`` (see the module docstring)."""

    def __init__(self, ctx: TileContext, *,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.ctx = ctx
        tile_target = ctx.tile.columns[0] if getattr(ctx.tile, "columns", ()) else None
        self.target: str | None = tile_target or ctx.target
        self.name = model_name(ctx.dashboard, self.target or "target")
        self._loop = loop if loop is not None else _running_loop()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._best: float | None = None
        self._where = ""  # where the search evaluates ("" in-process)
        self._task: str | None = None
        self._baseline: float | None = None  # of the first model shown (or the default metric)
        self._baselines: dict[str, float] = {}  # metric -> the baseline's score
        self._leaks: Any = None
        self.last_result: Any = None
        self.error: str | None = None

        self._info = w.HTML()
        self._info.add_class("hub-model-info")
        self._message = w.HTML()
        self.budget = w.Dropdown(options=[(f"{s} s", s) for s in BUDGETS], value=DEFAULT_BUDGET,
                                 description="Budget", layout=w.Layout(width="150px"))
        self.budget.add_class("hub-budget")
        self.button = w.Button(description="Train", icon="play", button_style="primary",
                               tooltip="Search pipelines within the budget, then train and "
                                       "register the best as a new version")
        self.button.add_class("hub-train")
        self.button.on_click(lambda _b: self.train())
        self._bar = w.FloatProgress(value=0.0, min=0.0, max=float(DEFAULT_BUDGET),
                                    layout=w.Layout(width="160px"))
        self._bar_text = w.HTML()
        self.progress = w.HBox([self._bar, self._bar_text],
                               layout=w.Layout(display="none", align_items="center"))
        self.progress.add_class("hub-train-progress")
        controls = w.HBox([self.budget, self.button], layout=w.Layout(align_items="center"))
        super().__init__([self._info, controls, self.progress, self._message],
                         layout=w.Layout(width="100%"))
        self.add_class("hub-model-tile")
        self.refresh()

    # -- showing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the registry and the baseline, and show them (in the loop's thread)."""
        if self.target is None:
            self._fail("This dashboard has no target: choose one to model.")
            return
        try:
            shown = registered_models(self.name)
            wanted: list[str | None] = [m.metric for m in shown] or [None]
            for metric in wanted:
                if metric is None or metric not in self._baselines:
                    self._task, found, score = baseline_of(self.ctx.frame, self.target,
                                                           metric=metric)
                    self._baselines[found] = score
            first = shown[0].metric if shown else None
            self._baseline = self._baselines.get(first) if first else next(
                iter(self._baselines.values()), None)
            if self._leaks is None:
                from hub_kernel.models.leakage import find_leaks

                self._leaks = find_leaks(self.ctx.frame, self.target, self._task)
        except HubError as exc:
            self._fail(exc)
            return
        except Exception as exc:  # the registry or the data: say so in the tile
            logger.exception("model tile %s", self.name)
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        self._info.value = model_html(shown, self._task, self._baselines, self._leaks)
        if shown and self._baseline is not None:
            self.ctx.quality(quality_of(shown[0].score, self._baseline))

    def _fail(self, error: object) -> None:
        self.error = str(error)
        self._message.value = error_html(error, name="p", style="color:#b5485d")

    # -- training --------------------------------------------------------------------------
    def train(self, budget: float | None = None) -> threading.Thread | None:
        """Start a training in the background (none while one runs); returns its thread."""
        if self._thread is not None and self._thread.is_alive():
            return None
        seconds = float(budget if budget is not None else self.budget.value)
        self.error, self._best = None, None
        self._where = cluster_words()
        self._message.value = ""
        self.button.disabled = True
        self._bar.max, self._bar.value = seconds, 0.0
        self._bar.bar_style = "info"
        self.progress.layout.display = "flex"
        self._started = time.monotonic()
        self._show_progress(0.0, None, seconds)
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True,
                                        name="hub-model-tile")
        self._thread.start()
        if self._loop is not None:
            self._loop.call_later(_TICK_SECONDS, self._tick, seconds)
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        """Wait for the training under way (tests, scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, seconds: float) -> None:
        try:
            if self.target is None:
                raise HubError("This dashboard has no target: choose one to model.")
            result = train_best(self.ctx.frame, self.target, self.name, budget=seconds,
                                on_progress=self._on_progress, dashboard=self.ctx.dashboard)
        except Exception as exc:
            if not isinstance(exc, HubError):
                logger.exception("training from the model tile %s failed", self.name)
            self._call(self._finished, None, exc)
            return
        self._call(self._finished, result, None)

    def _on_progress(self, _elapsed: float, best: float | None,
                     workers: int | None = None) -> None:  # training thread
        self._best = best
        if workers is not None:
            self._where = cluster_words(workers)

    def _tick(self, seconds: float) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        self._show_progress(time.monotonic() - self._started, self._best, seconds)
        if self._loop is not None:
            self._loop.call_later(_TICK_SECONDS, self._tick, seconds)

    def _show_progress(self, elapsed: float, best: float | None, seconds: float) -> None:
        self._bar.value = min(elapsed, seconds)
        phase = (f"searching{self._where}: {elapsed:.1f} / {seconds:.0f} s" if elapsed < seconds
                 else f"training the winner: {elapsed:.1f} s (search budget {seconds:.0f} s)")
        text = phase + (f" · best so far {best:.3f}" if best is not None else "")
        self._bar_text.value = f"<span class='hub-train-status'>{escape(text)}</span>"

    def _finished(self, result: Any, error: BaseException | None) -> None:
        self.button.disabled = False
        elapsed = time.monotonic() - self._started
        if error is not None:
            self._bar.bar_style = "danger"
            self._bar_text.value = ""
            self.progress.layout.display = "none"
            self._fail(error)
            return
        self.last_result = result
        self.refresh()  # the new version first: "done" is what the page shows last
        self._bar.value, self._bar.bar_style = self._bar.max, "success"
        self._bar_text.value = tag(
            "span", f"done in {elapsed:.1f} s: version {result.version} ({result.alias}), "
                    f"{result.primary_metric} {result.score:.3f}", cls="hub-train-status")
        self.ctx.report("train")

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` in the loop's thread (directly when there is no loop)."""
        if self._loop is None:
            fn(*args)
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the kernel's loop is closed: it is shutting down
            logger.info("model tile %s: training finished after the kernel's loop closed",
                        self.name)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()  # a Jupyter kernel runs cells inside its loop
    except RuntimeError:
        return None


def render(ctx: TileContext) -> w.Widget:
    """The model tile of ``ctx``: champion, score against the baseline, predictors, Train."""
    return ModelTile(ctx)
