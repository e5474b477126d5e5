"""Which analysis tiles a dashboard shows: the Analysis Strategy Agent's live decision.

Every catalog analysis that applies to the data (``hub_kernel.analyses.available``) is a
candidate tile, valued by the contextual learner all agents share
(``agents.common.learner``: what people did with tiles of this analysis, on any data, with
this viewer's own feedback weighing most), plus an analyst's prior (``ANALYSIS_PRIORS``) that
fades as the learner grows confident, about this viewer or about everyone (``prior_fade``).
With probability ``1 - epsilon`` the decision is greedy (show when the mean clears
``THRESHOLD``), else a Thompson draw decides. Shown tiles must fit
a compute budget, estimated per analysis from the measured ``compute`` events of earlier runs
(else from the table's size), best first. A pinned analysis is always shown; one the viewer
rejected twice is not. Each decision's propensity is its probability under that whole policy
(threshold and budget included): exact for the greedy part, Monte Carlo over
``MC_SAMPLES`` Thompson draws for the exploring part.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hub_kernel.agents.common.learner import TileLearner, Viewer
from hub_kernel.agents.plan import analysis_tile
from hub_kernel.agents.strategy.bandit import ANALYSIS_PRIORS, DEFAULT_PRIOR
from hub_kernel.layout import ANALYSIS_PREFIX, Tile

THRESHOLD = 0.4  # the expected reward a tile must clear to be shown
#: rough seconds per million cells, by analysis, when none of its runs were measured
SECONDS_PER_MILLION_CELLS = {"supervised_model": 20.0, "clustering": 4.0, "segments": 2.0,
                             "feature_importance": 6.0, "outliers": 1.0}
BASE_SECONDS = 0.2

logger = logging.getLogger("hub_kernel")
MC_SAMPLES = 400  # Thompson draws behind each decision's propensity


@dataclass(frozen=True)
class TileChoice:
    """The strategy agent's decision about one analysis tile."""

    name: str
    tile: Tile
    show: bool
    value: float  # expected reward (learner mean + fading prior)
    sd: float
    propensity: float  # probability of the decision taken, under the policy
    seconds: float  # estimated compute seconds
    why: str
    decision_id: int | None = None
    prior: float = 0.0  # the analyst's prior in ``value``, beyond the learner's mean


def estimate_seconds(name: str, n_rows: int, n_columns: int,
                     measured: Mapping[str, list[float]]) -> float:
    """Seconds ``name`` is expected to take: the mean of its measured runs, else a rough
    figure scaling with rows x columns."""
    runs = measured.get(name) or []
    if runs:
        return float(np.mean(runs))
    cells = n_rows * max(n_columns, 1) / 1e6
    return BASE_SECONDS + SECONDS_PER_MILLION_CELLS.get(name, 0.5) * cells


def prior_fade(learner: TileLearner, viewer: Viewer, tiles: list[Tile]) -> np.ndarray:
    """How much of an analyst's prior is left for each of ``tiles``: the learner's posterior
    variance over the prior's, for this viewer or for everyone, whichever is smaller. (For a
    viewer alone, most of a tile's vector is their own attributes, so the variance stays near
    the prior's for every new viewer, and a guess everybody's feedback contradicted would
    outweigh that feedback for each of them.)"""
    if not tiles:
        return np.zeros(0)
    prior_sd = learner.noise / math.sqrt(learner.prior_precision)
    everyone = dataclasses.replace(viewer, user=None)
    sds = [learner.sd(learner.vectors([v.attributes(t) for t in tiles]))
           for v in (viewer, everyone)]
    return np.minimum((np.minimum(*sds) / prior_sd) ** 2, 1.0)


def fading_prior(learner: TileLearner, viewer: Viewer, tile: Tile, prior: float) -> float:
    """An analyst's ``prior`` value of ``tile`` as an offset on the learner's prediction,
    fading with the learner's confidence in the tile (``prior_fade``)."""
    return float(prior_fade(learner, viewer, [tile])[0] * (prior - DEFAULT_PRIOR))


def choose_tiles(names: list[str], titles: Mapping[str, str], *, learner: TileLearner,
                 viewer: Viewer, rng: np.random.Generator, epsilon: float,
                 budget_seconds: float, n_rows: int, n_columns: int,
                 measured: Mapping[str, list[float]], pinned: Collection[str] = (),
                 rejected: Collection[str] = (), grid_columns: int = 3) -> list[TileChoice]:
    """Decide, for each analysis in ``names`` (those that apply), whether its tile is shown
    (module docstring). ``rejected``: analyses (or their tile ids) this viewer rejected
    twice."""
    usable, tiles = [], []
    for name in names:
        try:
            tiles.append(analysis_tile(name, titles.get(name, name), grid_columns))
            usable.append(name)
        except ValueError as exc:  # a plug-in named so that it cannot be a tile kind
            logger.warning("analysis %r cannot be shown as a tile (a tile kind is lowercase "
                           "letters, digits, '_' and '-'): %s", name, str(exc).splitlines()[0])
    names = usable
    if not tiles:
        return []
    X = learner.vectors([viewer.attributes(t) for t in tiles])
    means, sds = learner.mean(X), learner.sd(X)
    fade = prior_fade(learner, viewer, tiles)
    offsets = np.array([ANALYSIS_PRIORS.get(n, DEFAULT_PRIOR) - DEFAULT_PRIOR for n in names])
    values = means + fade * offsets
    seconds = [estimate_seconds(n, n_rows, n_columns, measured) for n in names]
    forced = {i: (n in pinned) for i, n in enumerate(names)
              if n in pinned or n in rejected or tiles[i].id in rejected}

    def select(scores: np.ndarray) -> np.ndarray:
        """Shown or not, for scores ``scores``: best first, above the threshold, within the
        budget; pinned always, rejected never (the whole policy, so propensities are exact
        up to Monte Carlo error)."""
        shown = np.zeros(len(names), dtype=bool)
        spent = 0.0
        for i in np.argsort(-scores, kind="stable"):
            if i in forced:
                shown[i] = forced[i]
            elif scores[i] >= THRESHOLD and spent + seconds[i] <= budget_seconds:
                shown[i] = True
            if shown[i]:
                spent += seconds[i]
        return shown

    explore = bool(rng.random() < epsilon)
    draws = values + sds * rng.standard_normal(len(names)) if explore else values
    chosen = select(draws)
    # P(each tile's decision) under the policy: greedy with 1 - epsilon, else a Thompson draw
    sampler = np.random.default_rng(0)
    samples = values + sds * sampler.standard_normal((MC_SAMPLES, len(names)))
    agree = np.mean([select(d) == chosen for d in samples], axis=0)
    propensities = (1 - epsilon) * (select(values) == chosen) + epsilon * agree
    choices: dict[str, TileChoice] = {}
    for i in np.argsort(-draws, kind="stable"):
        name, value, sd, show = names[i], float(values[i]), float(sds[i]), bool(chosen[i])
        basis = f"expected {value:.2f} ± {sd:.2f}, threshold {THRESHOLD:.2f}"
        if name in pinned:
            why = "shown: pinned"
        elif i in forced:
            why = "skipped: you rejected it twice"
        elif draws[i] < THRESHOLD:
            why = f"skipped: {basis}" + (" (exploring)" if explore else "")
        elif not show:
            why = (f"skipped: {basis}, but about {seconds[i]:.1f} s of compute would pass "
                   f"the {budget_seconds:.0f} s budget")
        else:
            why = f"shown: {basis}" + (" (exploring)" if explore else "")
        choices[name] = TileChoice(name, tiles[i], show, value, sd,
                                   float(min(max(propensities[i], 1 / MC_SAMPLES), 1.0)),
                                   seconds[i], why, prior=float(fade[i] * offsets[i]))
    return [choices[n] for n in names]


def measured_seconds(events: Iterable[Any]) -> dict[str, list[float]]:
    """Measured ``compute`` seconds per analysis, from the ``compute`` events of analysis
    tiles (their ``feature`` is the tile kind, ``analysis-NAME``)."""
    out: dict[str, list[float]] = {}
    for e in events:
        if e.kind == "compute" and e.feature.startswith(ANALYSIS_PREFIX) and e.value >= 0:
            out.setdefault(e.feature.removeprefix(ANALYSIS_PREFIX), []).append(float(e.value))
    return out
