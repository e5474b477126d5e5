"""The strategy agent's environment over recorded searches, and the SB3 family policy trained on
it guiding a search."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hub_kernel.agents.strategy.env import (
    STOP,
    StrategyEnv,
    synthetic_traces,
    traces_from_store,
)
from hub_kernel.automl.observation import OBSERVATION_SIZE, live_observation
from hub_kernel.automl.search import PipelineSearch
from hub_kernel.automl.warmstart import MetaStore, remember_search
from hub_kernel.exceptions import AgentError


def test_check_env_passes():
    env = StrategyEnv()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*render.*")
        check_env(env)
    assert env.observation_space.shape == (OBSERVATION_SIZE,)


def test_episode_rewards_improvement_and_ends_on_budget_or_stop():
    env = StrategyEnv(synthetic_traces(3, seed=1))
    obs, info = env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, reward, terminated, truncated, _ = env.step(steps % STOP)
        assert obs in env.observation_space
        total, steps, done = total + reward, steps + 1, terminated or truncated
    assert 0 < total <= 1.0 and env.elapsed == pytest.approx(env.budget)
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step(STOP)
    assert terminated and reward == 0.0 and info["stopped"]
    with pytest.raises(AgentError):
        env.step(STOP + 1)


def test_environment_replays_remembered_searches(tmp_path, radial):
    X, y = radial(0, n=120)
    store = MetaStore(tmp_path / "meta.json")
    result = PipelineSearch(budget=20, max_evaluations=3, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    remember_search(store, "radial", result)
    traces = traces_from_store(store)
    assert [t.name for t in traces] == ["radial"]
    assert set(traces[0].evaluations) == {"linear", "knn", "svm"}
    assert traces_from_store(store, exclude=["radial"]) == []
    env = StrategyEnv(traces)
    env.reset(seed=0)
    assert env.step(3)[0] in env.observation_space  # linear, recorded


@pytest.mark.slow
def test_sb3_policy_trains_across_datasets_and_guides_the_search(tmp_path, radial):
    from hub_kernel.agents.strategy.env import train_policy
    from hub_kernel.automl.policy import load_policy

    traces = synthetic_traces(6, seed=2)
    folder = train_policy(traces=traces, timesteps=1024, directory=tmp_path, seed=0)
    policy = load_policy(folder)
    assert policy is not None and policy.metadata["trained_on"][0] == "synthetic-0"
    probabilities = policy.action_probabilities(StrategyEnv(traces).reset(seed=0)[0])
    assert probabilities.shape == (STOP + 1,) and probabilities.sum() == pytest.approx(1.0)
    X, y = radial(8, n=120)
    result = PipelineSearch(budget=20, max_evaluations=9, policy=policy, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    assert len(result.evaluations) == 9
    obs = live_observation(np.zeros(14), {}, 0.5, 0.5, 1.0, 10.0)
    assert obs.shape == (OBSERVATION_SIZE,)
