"""``StrategyEnv``: the strategy agent's search decision as a gymnasium environment.

At each step the agent picks the estimator family whose next configuration is evaluated, or
stops (``Discrete(len(FAMILY_ORDER) + 1)``; the last action is "stop"). Episodes replay
recorded searches (``Trace``: a dataset's meta-features, its baseline score and, per family,
the scores and seconds of the configurations evaluated on it), so a policy can be trained
across datasets in seconds instead of re-running the searches: picking a family draws its next
recorded evaluation (in random order, then with replacement), advances the clock by its seconds
and rewards the improvement of the best score, normalized by the dataset's baseline-to-best
range, minus ``time_cost`` x the share of the budget spent. A family never recorded on the
dataset costs a small penalty and 5% of the budget. The episode ends when the budget is spent or
the agent stops.

The observation (``Box`` in [0, 1], float32), in order:

- the dataset's meta-features (``hub_kernel.automl.warmstart.search_features``, 14);
- per family in ``FAMILY_ORDER``: tried, best score as a share of the way from the baseline to
  the best so far, evaluations / 20, median seconds per evaluation / time left (4 each);
- share of the budget spent, and the best score's gain over the baseline (2).

``hub_kernel.automl.observation.live_observation`` builds the same vector during a real
search, which is how the trained policy is asked (``PipelineSearch(policy=...)``).
``train_policy`` trains a small PPO policy (SB3, CPU, seeded) on the traces of a ``MetaStore``
and saves it; ``hub_kernel.automl.policy.load_policy`` reads it back as a ``StrategyPolicy``
(``act``, ``action_probabilities``). torch and stable-baselines3 are imported inside the
functions that need them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hub_kernel.automl.observation import (
    FAMILY_ORDER,
    OBSERVATION_SIZE,
    family_block,
)
from hub_kernel.automl.policy import LEGACY_FILE, POLICY_FILE, POLICY_METADATA, StrategyPolicy
from hub_kernel.automl.warmstart import N_META, strategy_dir
from hub_kernel.exceptions import AgentError

if TYPE_CHECKING:
    from hub_kernel.automl.warmstart import MetaStore

logger = logging.getLogger("hub_kernel")

STOP = len(FAMILY_ORDER)


@dataclass
class Trace:
    """One dataset's recorded search: what each family's evaluations scored and cost."""

    name: str
    features: np.ndarray
    baseline: float
    evaluations: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def best(self) -> float:
        scores = [s for runs in self.evaluations.values() for s, _ in runs]
        return max(scores) if scores else self.baseline

    @property
    def total_seconds(self) -> float:
        return float(sum(t for runs in self.evaluations.values() for _, t in runs))


def traces_from_store(store: MetaStore, exclude: Sequence[str] = ()) -> list[Trace]:
    """Traces of every dataset the store remembers (but ``exclude``, by key or name)."""
    skip = set(exclude)
    traces = []
    for memory in store.load().values():
        if memory.key in skip or memory.name in skip:
            continue
        runs: dict[str, list[tuple[float, float]]] = {}
        for item in memory.evaluations:
            runs.setdefault(str(item["family"]), []).append(
                (float(item["score"]), float(item["seconds"])))
        if runs:
            features = np.nan_to_num(np.asarray(memory.features, dtype="float64"), nan=0.0)
            traces.append(Trace(memory.name, np.clip(features, 0, 1), memory.baseline, runs))
    return traces


def synthetic_traces(n: int = 12, seed: int = 0) -> list[Trace]:
    """Made-up searches whose best family depends on the meta-features (for tests, demos and
    the default environment): each family's quality is a fixed function of the features."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(1234).normal(0, 1.5, size=(len(FAMILY_ORDER), N_META))
    traces = []
    for i in range(n):
        features = rng.random(N_META)
        quality = 1 / (1 + np.exp(-(weights @ (features - 0.5))))
        baseline = float(rng.uniform(0.2, 0.6))
        runs: dict[str, list[tuple[float, float]]] = {}
        for j, family in enumerate(FAMILY_ORDER):
            top = baseline + (0.95 - baseline) * quality[j]
            cost = float(rng.lognormal(math.log(0.3 + 2 * j / len(FAMILY_ORDER)), 0.3))
            runs[family] = [(float(top - abs(rng.normal(0, 0.05 + 0.1 * rng.random()))),
                             float(cost * rng.lognormal(0, 0.2))) for _ in range(12)]
        traces.append(Trace(f"synthetic-{i}", features, baseline, runs))
    return traces


class StrategyEnv(gym.Env[np.ndarray, np.int64]):
    """Pick the family to evaluate next (or stop) on replayed searches; see the module doc."""

    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(self, traces: Sequence[Trace] | None = None, *, time_cost: float = 0.05,
                 budget_range: tuple[float, float] = (0.3, 1.0), max_steps: int = 200) -> None:
        super().__init__()
        self.traces = list(traces) if traces is not None else synthetic_traces()
        if not self.traces:
            raise AgentError("StrategyEnv needs at least one recorded search (trace)")
        self.time_cost = time_cost
        self.budget_range = budget_range
        self.max_steps = max_steps
        self.observation_space = spaces.Box(0.0, 1.0, shape=(OBSERVATION_SIZE,),
                                            dtype=np.float32)
        self.action_space = spaces.Discrete(len(FAMILY_ORDER) + 1)
        self._trace = self.traces[0]
        self._reset_state()

    def _reset_state(self) -> None:
        self.best = self._trace.baseline
        self.elapsed = 0.0
        self.steps = 0
        self.budget = max(self._trace.total_seconds, 1.0)
        self.family_scores: dict[str, list[float]] = {f: [] for f in FAMILY_ORDER}
        self.family_costs: dict[str, list[float]] = {f: [] for f in FAMILY_ORDER}
        self.pools: dict[str, list[tuple[float, float]]] = {}

    def _observation(self) -> np.ndarray:
        trace = self._trace
        parts: list[float] = list(trace.features[:N_META])
        time_left = max(self.budget - self.elapsed, 1e-6)
        for family in FAMILY_ORDER:
            scores = self.family_scores[family]
            cost = float(np.median(self.family_costs[family])) if scores else 0.0
            parts += family_block(bool(scores), max(scores) if scores else None, len(scores),
                                   cost, self.best, trace.baseline, time_left)
        parts += [float(np.clip(self.elapsed / self.budget, 0, 1)),
                  float(np.clip(self.best - trace.baseline, 0, 1))]
        return np.asarray(parts, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._trace = self.traces[int(self.np_random.integers(len(self.traces)))]
        self._reset_state()
        low, high = self.budget_range
        self.budget = max(self._trace.total_seconds * float(self.np_random.uniform(low, high)),
                          1e-3)
        for family, runs in self._trace.evaluations.items():
            order = self.np_random.permutation(len(runs))
            self.pools[family] = [runs[i] for i in order]
        return self._observation(), {"dataset": self._trace.name}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                  dict[str, Any]]:
        action = int(action)
        if not 0 <= action <= STOP:
            raise AgentError(f"action {action} out of range 0..{STOP}")
        self.steps += 1
        if action == STOP:
            return self._observation(), 0.0, True, False, {"stopped": True}
        family = FAMILY_ORDER[action]
        trace = self._trace
        span = max(trace.best - trace.baseline, 1e-9)
        runs = trace.evaluations.get(family) or []
        if not runs:
            spent = 0.05 * self.budget
            reward = -0.05
        else:
            pool = self.pools.get(family) or []
            if pool:
                score, spent = pool.pop(0)
            else:
                score, spent = runs[int(self.np_random.integers(len(runs)))]
            self.family_scores[family].append(score)
            self.family_costs[family].append(spent)
            gain = max(score - self.best, 0.0) / span
            self.best = max(self.best, score)
            reward = gain
        spent = min(spent, max(self.budget - self.elapsed, 0.0))
        self.elapsed += spent
        reward -= self.time_cost * spent / self.budget
        terminated = self.elapsed >= self.budget - 1e-9
        truncated = not terminated and self.steps >= self.max_steps
        return self._observation(), float(reward), terminated, truncated, {"family": family}


def evaluate_policy(choose: Any, traces: Sequence[Trace], *, episodes: int = 200,
                    seed: int = 0) -> float:
    """Mean episode return of ``choose(observation, env) -> action`` on ``traces``."""
    env = StrategyEnv(traces)
    total = 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(choose(obs, env))
            total += reward
            done = terminated or truncated
    return total / episodes


def train_policy(store: MetaStore | None = None, *, timesteps: int = 20_000, seed: int = 0,
                 exclude: Sequence[str] = (), traces: Sequence[Trace] | None = None,
                 directory: str | os.PathLike[str] | None = None) -> Path:
    """Train a PPO policy on the recorded searches of ``store`` (or ``traces``), never on
    ``exclude``; saves ``policy.pt`` (weights) and ``policy.json`` in ``directory`` (default
    ``$HUB_HOME/agents/strategy``) and returns that folder."""
    if timesteps < 1:
        raise AgentError(f"timesteps must be at least 1, got {timesteps}")
    if traces is None:
        if store is None:
            raise AgentError("train_policy needs a MetaStore or traces")
        traces = traces_from_store(store, exclude)
    if not traces:
        raise AgentError("no recorded search to train the strategy policy on: run some "
                         "searches first (StrategyAgent.search remembers them)")
    try:
        import stable_baselines3 as sb3
        import torch
    except ImportError as exc:  # pragma: no cover - both are dependencies of hub
        raise AgentError(f"training the strategy policy needs stable-baselines3 and torch "
                         f"({exc}); `pip install torch==2.13.0 stable-baselines3`") from exc
    torch.set_num_threads(1)
    env = StrategyEnv(traces)
    env.reset(seed=seed)
    model = sb3.PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                    n_steps=min(512, max(64, timesteps)), batch_size=64, ent_coef=0.01,
                    policy_kwargs={"net_arch": [32, 32]})
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    seconds = time.perf_counter() - started
    policy = StrategyPolicy(model)
    trained = evaluate_policy(lambda obs, env: policy.act(obs), traces, episodes=50,
                              seed=seed + 1)
    rng = np.random.default_rng(seed)
    uniform = evaluate_policy(lambda obs, env: int(rng.integers(STOP)), traces, episodes=50,
                              seed=seed + 1)
    target = Path(directory) if directory is not None else strategy_dir()
    target.mkdir(parents=True, exist_ok=True)
    from hub_kernel.core.weights import save_weights

    weights = save_weights(model, target / POLICY_FILE, algo="ppo",
                           policy_kwargs={"net_arch": [32, 32]})
    metadata = {"algo": "ppo", "timesteps": timesteps, "seed": seed,
                "trained_on": [t.name for t in traces], "excluded": list(exclude),
                "families": list(FAMILY_ORDER), "observation_size": OBSERVATION_SIZE,
                "train_seconds": round(seconds, 2),
                "evaluation": {"policy_return": trained, "uniform_return": uniform},
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "versions": {"stable_baselines3": sb3.__version__,
                             "torch": torch.__version__}, "weights": weights}
    (target / POLICY_METADATA).write_text(json.dumps(metadata, indent=1), encoding="utf-8")
    (target / LEGACY_FILE).unlink(missing_ok=True)  # an older pickled policy: replaced
    logger.info("strategy policy trained on %d searches in %.1f s: return %.3f (uniform %.3f)",
                len(traces), seconds, trained, uniform)
    return target
