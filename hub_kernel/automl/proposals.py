"""What the pipeline search evaluates next: first a portfolio (the best configurations of
similar datasets, then each family's defaults), then a bandit over estimator families (an
optimistic bound on each family's best score per second of evaluation, sampled by softmax: the
chosen family's probability is its propensity) with a Bayesian step inside the family (a
Gaussian process on the configurations tried, expected improvement over local and random
candidates). A trained family policy (``PipelineSearch(policy=...)``) can add its preference.

``Proposals`` is the part of the search run (``run.SearchRun``) that makes these choices;
it reads the run's state, declared below.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hub_kernel.automl.observation import FAMILY_ORDER, live_observation
from hub_kernel.automl.results import Evaluation
from hub_kernel.automl.space import COLD_ORDER, FAMILIES, SIZE_PARAM, Config, Param, work
from hub_kernel.automl.warmstart import MetaStore

logger = logging.getLogger("hub_kernel")


@dataclass(frozen=True)
class Planned:
    """A configuration of the portfolio, with why it is there."""

    config: Config
    why: str
    source: str  # "warm" or "default"
    quality: float | None  # its share of the way from baseline to best where it comes from


@dataclass
class FamilyState:
    """What the search knows of one estimator family: its evaluations, how long since it
    improved, and how fast it runs."""

    evaluations: list[Evaluation] = field(default_factory=list)
    stall: int = 0  # evaluations since the family last improved its best
    rates: list[float] = field(default_factory=list)  # seconds per unit of ``work``

    @property
    def best(self) -> Evaluation | None:
        return max(self.evaluations, key=lambda e: e.score) if self.evaluations else None

    def cost(self) -> float:
        return float(np.median([e.seconds for e in self.evaluations])) if self.evaluations \
            else 0.0

    def estimate(self, config: Config) -> float | None:
        """Seconds ``config`` should take, from what this family's evaluations took."""
        return float(np.median(self.rates)) * work(config) if self.rates else None



class Proposals:
    """The choices of a search run: the portfolio, the bandit over families, the Bayesian
    step. Mixed into the run, whose state it reads."""

    PORTFOLIO_WARM = 6
    # the run's state (set by the run's ``prepare`` and loop)
    search: Any  # the PipelineSearch: warm_start, exclude, budget, policy
    families: dict[str, FamilyState]
    features: np.ndarray
    task: str
    metric: str
    width: dict[str, int]
    rng: np.random.Generator
    seen: set[str]
    best: Evaluation | None
    baseline_score: float
    family_prior: dict[str, float]
    warm: list[tuple[str, float]]
    evaluations: list[Evaluation]
    queue: list[Planned]

    def elapsed(self) -> float:
        raise NotImplementedError

    def remaining(self) -> float:
        raise NotImplementedError

    def reserve(self) -> float:
        raise NotImplementedError

    def allowed(self) -> float:
        raise NotImplementedError

    def record(self, action: str, explanation: str, *, propensity: float | None = None,
                expected: float | None = None, observation: Any = None) -> None:
        raise NotImplementedError

    def portfolio(self) -> list[Planned]:
        """Configurations to evaluate first: the best ones of similar datasets, then each
        family's defaults (families that did well on similar datasets first)."""
        queue: list[Planned] = []
        s = self.search
        store = (MetaStore() if s.warm_start is True else
                 s.warm_start if isinstance(s.warm_start, MetaStore) else None)
        self.family_prior = {}
        self.warm = []
        if store is not None:
            similar = store.similar(self.features, self.task, exclude=s.exclude)
            self.warm = [(m.name, sim) for m, sim in similar]
            candidates: dict[str, tuple[float, Config, str, float, float, float]] = {}
            prior_sum: dict[str, float] = {}
            weight_sum = 0.0
            for memory, sim in similar:
                weight_sum += sim
                best_by_family: dict[str, float] = {}
                for item in memory.top:
                    config = Config.from_dict(item["config"])
                    if config.family not in self.families:
                        continue
                    quality = memory.relative(float(item["score"]))
                    best_by_family[config.family] = max(best_by_family.get(config.family, 0.0),
                                                        quality)
                    value = sim * quality
                    if config.key not in candidates or candidates[config.key][0] < value:
                        candidates[config.key] = (value, config, memory.name,
                                                  float(item["score"]), sim, quality)
                for family in self.families:
                    prior_sum[family] = prior_sum.get(family, 0.0) + sim * best_by_family.get(
                        family, 0.0)
            if weight_sum > 0:
                self.family_prior = {f: v / weight_sum for f, v in prior_sum.items()}
            ranked = sorted(candidates.values(), key=lambda c: -c[0])[: self.PORTFOLIO_WARM]
            for _value, config, source_name, score, sim, quality in ranked:
                queue.append(Planned(config, f"worked on the similar dataset {source_name} "
                                      f"(similarity {sim:.2f}): it scored {score:.4f} there, "
                                      f"{100 * quality:.0f}% of the way from its baseline to "
                                      "its best", "warm", quality))
            if similar:
                self.record("warm_start", "starting from what worked on similar datasets: "
                             + "; ".join(f"{m.name} (similarity {sim:.2f}, best "
                                         f"{m.best_score:.4f} {m.metric})" for m, sim in similar),
                             observation={"features": self.features.round(4).tolist()})
        # what won the last search of this model goes first (it is likely to win again)
        started = []
        for item in getattr(s, "start", ()) or ():
            try:
                config = Config.from_dict(item)
            except (KeyError, TypeError, ValueError):
                logger.warning("starting configuration %r is not one; skipped", item)
                continue
            if config.family in self.families:
                started.append(Planned(config, "won the last search of this model", "start",
                                       1.0))
        queue[:0] = started
        order = sorted(self.families, key=lambda f: (-self.family_prior.get(f, 0.0),
                                                     COLD_ORDER.index(f)
                                                     if f in COLD_ORDER else 99))
        for family in order:
            config = Config(family, FAMILIES[family].defaults(self.task, self.width["ordinal"]))
            why = f"the default {FAMILIES[family].title}: {FAMILIES[family].description}"
            if family in self.family_prior:
                why += (f"; on similar datasets this family reached "
                        f"{100 * self.family_prior[family]:.0f}% of the way from baseline "
                        "to best")
            queue.append(Planned(config, why, "default", self.family_prior.get(family)))
        return queue

    def expected_for(self, planned: Planned) -> float | None:
        """What a portfolio configuration should score here: as far from the baseline to
        the best so far as it got where it comes from (unknown before any evaluation)."""
        if self.best is None or planned.quality is None:
            return None
        return self.baseline_score + planned.quality * (self.best.score - self.baseline_score)

    # -- the bandit over families ---------------------------------------------------------------
    def choose(self) -> tuple[Config, str, float | None, float] | None:
        """The next configuration by the bandit over families and a Bayesian step inside the
        chosen one: (config, explanation, expected score, propensity); None to stop."""
        assert self.best is not None
        best = self.best.score
        spread_floor = max(1e-4, 0.01 * abs(best - self.baseline_score))
        time_left = self.remaining() - self.reserve()
        names, logits, bounds, costs = [], [], {}, {}
        policy_prior = self.policy_prior()
        for family, state in self.families.items():
            family_best = state.best
            if family_best is None:
                continue
            cost = max(state.cost(), 0.01)
            if min(e.seconds for e in state.evaluations) > time_left:
                continue
            scores = np.array([e.score for e in state.evaluations])
            spread = max(float(scores.std()) if len(scores) > 1 else 2 * spread_floor,
                         spread_floor)
            # optimism shrinks as the family keeps failing to improve (diminishing returns)
            bound = family_best.score + 1.5 * spread / math.sqrt(len(scores)) * 0.85 ** min(
                state.stall, 30)
            gain = max(bound - best, 0.0) + 1e-3 * spread_floor
            prior = 0.5 + 0.5 * self.family_prior.get(family, 0.5)
            if policy_prior is not None:
                prior *= 0.5 + policy_prior.get(family, 0.0) * len(self.families) / 2
            names.append(family)
            logits.append(math.log(gain) - 0.5 * math.log(cost) + math.log(prior))
            bounds[family], costs[family] = bound, cost
        while names:
            weights = np.exp(np.array(logits) - max(logits))
            probabilities = weights / weights.sum()
            pick = int(self.rng.choice(len(names), p=probabilities))
            family, propensity = names[pick], float(probabilities[pick])
            config, how, expected = self.propose(family)
            if config is not None:
                break
            del names[pick], logits[pick]  # nothing new to try there
        else:
            return None
        state = self.families[family]
        family_best = state.best
        assert family_best is not None
        explanation = (
            f"{FAMILIES[family].title}: best {self.metric} {family_best.score:.4f} in "
            f"{len(state.evaluations)} evaluations, optimistic bound {bounds[family]:.4f} "
            f"against the overall best {best:.4f}, about {costs[family]:.2f} s per evaluation; "
            f"chosen with probability {propensity:.2f} among "
            + ", ".join(f"{n} {p:.2f}" for n, p in zip(names, probabilities, strict=True))
            + f". Next configuration by {how}"
            + (f", expected {self.metric} {expected:.4f}" if expected is not None else ""))
        return config, explanation, expected, propensity

    def policy_prior(self) -> dict[str, float] | None:
        policy = self.search.policy
        if policy is None:
            return None
        try:
            obs = live_observation(self.features, self.families, self.best_score_or_baseline(),
                                   self.baseline_score, self.elapsed(), float(self.search.budget))
            probs = policy.action_probabilities(obs)
        except Exception as exc:  # the bandit decides alone
            logger.warning("the strategy policy could not be asked (%s); ignoring it", exc)
            return None
        total = sum(float(probs[i]) for i, f in enumerate(FAMILY_ORDER) if f in self.families)
        if total <= 0:
            return None
        return {f: float(probs[i]) / total for i, f in enumerate(FAMILY_ORDER)
                if f in self.families}

    def best_score_or_baseline(self) -> float:
        return self.best.score if self.best is not None else self.baseline_score

    def propose(self, family: str) -> tuple[Config | None, str, float | None]:
        """A new configuration of ``family``: a Gaussian-process expected-improvement step
        once it has a few evaluations, else a local step around its best or a random one."""
        state = self.families[family]
        space = FAMILIES[family].space(self.task)
        best = state.best
        assert best is not None
        center = best.config.unit(self.task)
        sigma = max(0.03, 0.25 * 0.8 ** state.stall)
        local = np.clip(center + self.rng.normal(0, sigma, size=(24, len(space))), 0, 1)
        uniform = self.rng.random((24, len(space)))
        candidates = np.vstack([local, uniform])
        configs = [self._config(family, space, u) for u in candidates]
        fresh = [i for i, c in enumerate(configs) if c.key not in self.seen]
        if not fresh:
            return None, "", None
        if len(state.evaluations) >= 4:
            try:
                chosen, mean = self._expected_improvement(state, candidates[fresh])
                index = fresh[chosen]
                origin = "local" if index < len(local) else "random"
                return (configs[index], f"a Bayesian step (Gaussian process, highest expected "
                        f"improvement among {len(fresh)} {origin}/random candidates)", mean)
            except Exception as exc:  # too few distinct points, numerical trouble
                logger.debug("GP step failed for %s: %s", family, exc)
        if self.rng.random() < 0.75:
            local_fresh = [i for i in fresh if i < len(local)] or fresh
            return configs[local_fresh[0]], (f"a local step around its best (step "
                                             f"{sigma:.2f})"), best.score
        random_fresh = [i for i in fresh if i >= len(local)] or fresh
        return configs[random_fresh[0]], "a random draw (exploring the space)", None

    def _config(self, family: str, space: Sequence[Param], unit: np.ndarray) -> Config:
        return Config(family, {p.name: p.from_unit(u) for p, u in zip(space, unit, strict=True)})

    def _expected_improvement(self, state: FamilyState, candidates: np.ndarray
                              ) -> tuple[int, float]:
        from scipy.stats import norm
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        points = np.array([e.config.unit(self.task) for e in state.evaluations])
        scores = np.array([e.score for e in state.evaluations])
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(points.shape[1], 0.3), length_scale_bounds=(0.02, 10.0),
            nu=2.5) + WhiteKernel(1e-3, (1e-6, 1e-1))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.fit(points, scores)
            mean, std = gp.predict(candidates, return_std=True)
        best = float(scores.max())
        std = np.maximum(std, 1e-9)
        z = (mean - best - 1e-4) / std
        ei = (mean - best - 1e-4) * norm.cdf(z) + std * norm.pdf(z)
        chosen = int(np.argmax(ei))
        return chosen, float(mean[chosen])

    def converged(self) -> bool:
        """No improvement in the last ``max(10, 3 x families)`` evaluations."""
        patience = max(10, 3 * len(self.families))
        if self.best is None or len(self.evaluations) < patience:
            return False
        return self.evaluations[-1].index - self.best.index >= patience

    def fit_in(self, config: Config, seconds: float, estimate: float) -> Config | None:
        """``config`` with less work so that it takes about ``seconds`` (None: impossible)."""
        name = SIZE_PARAM.get(config.family)
        if name is None or estimate <= 0:
            return None
        space = {p.name: p for p in FAMILIES[config.family].space(self.task)}
        value = int(config.params[name] * 0.8 * seconds / estimate)
        if value < space[name].low:
            return None
        smaller = Config(config.family, {**config.params, name: value})
        return None if smaller.key in self.seen else smaller

    def plan_cheaper(self, config: Config, projected: float, why: str) -> None:
        """After an evaluation was cut for time, plan a cheaper variant of it next."""
        smaller = self.fit_in(config, self.allowed(), projected)
        self.record(f"cut:{config.family}", f"{config.label()} stopped after its first folds: "
                     f"it would take about {projected:.1f} s, more than the {self.allowed():.1f}"
                     " s one evaluation may take" + (
                         f"; trying {smaller.label()} instead" if smaller else ""))
        if smaller is not None:
            self.queue.insert(0, Planned(smaller, why + f"; a cheaper variant, as the "
                                          f"original would take about {projected:.1f} s",
                                          "default", None))
