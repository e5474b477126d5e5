"""LayoutEnv: a valid gymnasium environment whose reward is the product's weighted reward."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hub_kernel.agents.common.reward import reward_terms
from hub_kernel.agents.controller import MetaController
from hub_kernel.agents.layout.env import LayoutEnv, observation, observation_size, sample_profile
from hub_kernel.agents.layout.simulate import SimulatedUser, candidate_tiles
from hub_kernel.core import config
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout


@pytest.fixture
def env():
    return LayoutEnv(n_users=4, sessions_per_user=2)


def run_episode(env, choose=None):
    obs, info = env.reset()
    total, steps, done, info = 0.0, 0, False, {}
    while not done:
        action = choose(env) if choose else int(np.flatnonzero(env.action_masks())[0])
        obs, reward, done, truncated, info = env.step(action)
        assert obs in env.observation_space and not truncated
        total, steps = total + reward, steps + 1
    return total, steps, info


def test_check_env_passes(env):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*render modes.*")
        check_env(env)


def test_an_episode_fills_every_slot_then_terminates(env):
    env.reset(seed=0)
    total, steps, info = run_episode(env)
    assert steps == len(env.tiles)
    assert sorted(info["layout"]) == sorted(t.id for t in env.tiles)
    assert 0.0 <= total <= 1.0 and set(info["terms"]) == {
        "engagement", "accuracy", "task_completion", "satisfaction", "efficiency"}
    assert 0 < info["engagement"] <= info["oracle_engagement"] + 1e-9


def test_invalid_actions_are_penalized_and_still_fill_a_slot(env):
    env.reset(seed=1)
    env.step(0)
    assert not env.action_masks()[0] and env.action_masks().sum() == len(env.tiles) - 1
    _, reward, done, _, info = env.step(0)  # already placed
    assert info["invalid"] and reward == pytest.approx(-env.invalid_penalty) and not done
    _, reward, _, _, info = env.step(env.max_candidates - 1)  # past the candidates
    assert info["invalid"] and len(env.layout()) == 3


def test_reward_is_the_controller_reward_with_settings_weights(hub_home, monkeypatch, env):
    env.reset(seed=2)
    total, _, info = run_episode(env)
    assert total == pytest.approx(MetaController.reward(info["terms"]))
    monkeypatch.setenv("HUB_REWARD_WEIGHTS__ENGAGEMENT", "1")
    for term in ("ACCURACY", "TASK_COMPLETION", "SATISFACTION", "EFFICIENCY"):
        monkeypatch.setenv(f"HUB_REWARD_WEIGHTS__{term}", "0")
    config.reload_settings()
    total, _, info = run_episode(env)
    assert total == pytest.approx(info["terms"]["engagement"])


def test_reward_samples_make_the_reward_less_noisy():
    def spread(samples):
        env = LayoutEnv(n_users=1, reward_samples=samples)
        env.reset(seed=3)
        return np.std([run_episode(env)[0] for _ in range(60)])

    assert spread(8) < spread(1) / 2


def test_offline_terms_match_the_live_round_terms(hub_home, monkeypatch):
    monkeypatch.setenv("HUB_RELAYOUT_EVERY", "1000")
    config.reload_settings()
    tiles = candidate_tiles(sample_profile())
    layout = Layout(tiles)
    user = SimulatedUser(name="ann", feedback_rate=0.8, task_rate=1.0)
    rng = np.random.default_rng(4)
    session = MetaController().open(layout, user="ann", dashboard="d")
    events = [e for _ in range(3) for e in user.session(layout, rng)]
    for e in events:
        session.interact(e.tile, e.kind, e.value)
    assert session.round_terms() == pytest.approx(reward_terms(events, len(tiles)))


def test_users_and_history_carry_across_episodes(env):
    env.reset(seed=5)
    first = env.user
    run_episode(env)  # reset() inside: episode 1 of user 1
    assert env.user is first
    obs, _ = env.reset()  # user 1 again: history now shows in the summary
    assert env.user is first and obs[14:26].sum() > 0
    env.reset()
    assert env._episodes == 4


def test_observation_for_a_live_context_matches_the_env(env):
    obs, _ = env.reset(seed=6)
    user = env.user
    live = observation(env.tiles, profile=env.profile, viewport=user.viewport,
                       skill=user.current_skill, max_candidates=env.max_candidates)
    assert np.array_equal(obs, live)
    assert live.shape == (observation_size(env.max_candidates),)
    with pytest.raises(AgentError, match="viewport"):
        observation(env.tiles, viewport="phone")


def test_too_many_candidates_is_an_agent_error():
    tiles = candidate_tiles(sample_profile())
    with pytest.raises(AgentError, match="max_candidates"):
        LayoutEnv(tiles=tiles, max_candidates=len(tiles) - 1)
