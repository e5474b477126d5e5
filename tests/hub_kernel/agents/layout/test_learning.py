"""Learning: the online design agent adapts to a simulated user; pre-training saves, loads and
yields a cold-start prior for it."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from hub_kernel.agents.layout.design import DesignAgent, tile_feature
from hub_kernel.agents.layout.env import sample_profile
from hub_kernel.agents.layout.simulate import FEATURES, SimulatedUser, candidate_tiles
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout


@pytest.fixture(scope="module")
def tiles():
    return candidate_tiles(sample_profile())


def test_engagement_rises_over_sessions_with_a_simulated_user(tiles):
    """Seeded, small budget: 30 sessions of an expert whose favourites the default puts last."""
    user = SimulatedUser(name="ann", skill="expert", noise=0.05,
                         deviation={"chart:scatter": 1.0, "overview": -1.0})
    agent, rng = DesignAgent(seed=0), np.random.default_rng(0)
    layout, mine, engagement = Layout(tiles), [], []
    for _ in range(30):
        posts = agent.posteriors(layout, mine)
        epsilon = 0.25 * 0.5 ** (len(mine) / 20)  # the controller's autonomous schedule
        proposal = agent.propose(layout, posts, epsilon=epsilon)
        assert 0 < proposal.propensity <= 1
        layout = Layout.from_dict(proposal.layout)
        engagement.append(user.engagement(layout))
        mine += user.session(layout, rng)
    early, late = np.mean(engagement[:5]), np.mean(engagement[-10:])
    oracle = user.engagement(user.oracle_layout(tiles))
    assert late > early + 0.15
    assert late > 0.8 * oracle


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from hub_kernel.agents.layout.pretrain import pretrain

    directory = tmp_path_factory.mktemp("agents")
    started = time.perf_counter()
    pretrain(timesteps=256, seed=0, directory=directory,
             env_kwargs={"n_users": 5, "reward_samples": 2}, eval_episodes=10)
    return directory, time.perf_counter() - started


def test_tiny_pretraining_saves_model_and_metadata(trained):
    directory, _ = trained
    assert (directory / "model.pt").is_file()
    meta = json.loads((directory / "metadata.json").read_text())
    assert meta["algo"] == "ppo" and meta["timesteps"] == 256 and meta["seed"] == 0
    assert meta["observation_size"] > 0 and len(meta["candidates"]) == 8
    assert {"policy_reward", "random_reward", "default_oracle_share"} <= set(meta["evaluation"])


def test_pretrained_policy_loads_and_yields_a_prior(trained, tiles):
    from hub_kernel.agents.layout.env import observation
    from hub_kernel.agents.layout.pretrain import PretrainedPrior, load_pretrained

    directory, _ = trained
    policy = load_pretrained(directory)
    obs = observation(tiles, profile=sample_profile(), placed=[0, 1])
    mask = np.zeros(policy.max_candidates, dtype=bool)
    mask[2:len(tiles)] = True
    p = policy.action_probabilities(obs, mask)
    assert p.sum() == pytest.approx(1) and p[:2].sum() == 0 and p[len(tiles):].sum() == 0
    assert mask[policy.act(obs, mask)]

    prior = PretrainedPrior(policy, strength=20)
    counts = prior.population(Layout(tiles), profile=sample_profile(), skill="novice")
    assert set(counts) == set(FEATURES)
    assert all(ups + downs == pytest.approx(20) and 0 < ups < 20 for ups, downs in
               counts.values())
    # cold start: the prior sets the order of a new user's first proposal
    posts = DesignAgent().posteriors(Layout(tiles), [], counts)
    first = max(tiles, key=lambda t: posts[t.id].mean)
    assert tile_feature(first) == max(counts, key=lambda f: counts[f][0])
    assert PretrainedPrior.combine(counts, {"overview": (5.0, 1.0)})["overview"] == \
        pytest.approx((counts["overview"][0] + 5, counts["overview"][1] + 1))


def test_dqn_pretraining_also_yields_probabilities(tmp_path, tiles):
    from hub_kernel.agents.layout.pretrain import PretrainedPrior, pretrain

    pretrain(timesteps=200, seed=1, algo="dqn", directory=tmp_path,
             env_kwargs={"n_users": 3, "reward_samples": 1}, eval_episodes=5)
    counts = PretrainedPrior.load(tmp_path).population(tiles)
    assert set(counts) == set(FEATURES)


def test_loading_without_a_model_says_how_to_make_one(tmp_path):
    from hub_kernel.agents.layout.pretrain import load_pretrained, pretrain

    with pytest.raises(AgentError, match="hub agents pretrain"):
        load_pretrained(tmp_path)
    with pytest.raises(AgentError, match="unknown algorithm"):
        pretrain(10, algo="a2c", directory=tmp_path)  # type: ignore[arg-type]


def test_agents_pretrain_command_saves_under_hub_home(hub_home):
    from hub_kernel.cli.agents import app

    root = typer.Typer()
    root.add_typer(app, name="agents")
    root.command("noop")(lambda: None)
    result = CliRunner().invoke(root, ["agents", "pretrain", "--timesteps", "128", "--seed", "2",
                                       "--users", "3", "--reward-samples", "1",
                                       "--eval-episodes", "5"])
    assert result.exit_code == 0, result.output
    assert (hub_home / "agents" / "model.pt").is_file()
    assert "% of oracle engagement" in result.output
    bad = CliRunner().invoke(root, ["agents", "pretrain", "--algo", "sac"])
    assert bad.exit_code == 1 and "unknown algorithm" in bad.output
