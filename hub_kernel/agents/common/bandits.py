"""What the Bayesian bandits of the agents share: a Beta posterior and its Thompson rankings.

The design agent (tiles) and the report agent (sections) each keep one ``Posterior`` per arm:
a prior as pseudo-counts, then feedback. A decision ranks arms by posterior mean (exploiting) or
by a Thompson draw (exploring); ``ranking_probability`` is how likely a Thompson draw was to give
the ranking chosen, the propensity logged for off-policy evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Posterior:
    """A Beta(alpha, beta) belief in an arm's appeal, with the feedback counts behind it."""

    alpha: float = 1.0
    beta: float = 1.0
    n_up: float = 0.0
    n_down: float = 0.0
    seconds: float = 0.0  # time spent reading (the report agent's sections)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


def thompson_draw(posteriors: Sequence[Posterior], rng: np.random.Generator) -> list[float]:
    """One Thompson sample per posterior, in order."""
    return [float(rng.beta(p.alpha, p.beta)) for p in posteriors]


def ranking_probability(posteriors: Sequence[Posterior], chosen: Sequence[int],
                        samples: int) -> float:
    """How often a Thompson draw over ``posteriors`` ranks the arms at indexes ``chosen``
    first, in this order (Monte Carlo, ``samples`` draws from a fixed seed; at least
    ``1 / samples``). 1 when there is no choice to make."""
    if len(posteriors) <= 1 or not chosen:
        return 1.0
    rng = np.random.default_rng(0)
    draws = np.column_stack([rng.beta(p.alpha, p.beta, samples) for p in posteriors])
    order = np.argsort(-draws, axis=1, kind="stable")[:, :len(chosen)]
    target = np.array(list(chosen))
    return float(max((order == target).all(axis=1).mean(), 1 / samples))
