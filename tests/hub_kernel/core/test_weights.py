"""SB3 policies are stored as weights (tensors) and JSON settings, loaded with
``torch.load(weights_only=True)`` into a fresh policy: a tampered file is refused and runs
nothing; a normal one acts exactly as the policy did before saving."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hub_kernel.exceptions import AgentError

RETRAIN = "train it again"


class _WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _model(algo: str):
    import stable_baselines3 as sb3

    from hub_kernel.agents.strategy.env import StrategyEnv, synthetic_traces

    env = StrategyEnv(synthetic_traces(3, seed=1))
    env.reset(seed=0)
    if algo == "ppo":
        model = sb3.PPO("MlpPolicy", env, seed=0, device="cpu", n_steps=64, batch_size=32,
                        policy_kwargs={"net_arch": [16, 16]})
    else:
        model = sb3.DQN("MlpPolicy", env, seed=0, device="cpu", learning_starts=16,
                        policy_kwargs={"net_arch": [16, 16]})
    model.learn(total_timesteps=128)
    return model, env


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_saved_weights_load_into_a_fresh_policy_that_acts_the_same(tmp_path, algo):
    import torch

    from hub_kernel.core.weights import load_weights, save_weights

    model, env = _model(algo)
    settings = save_weights(model, tmp_path / "policy.pt", algo=algo,
                            policy_kwargs={"net_arch": [16, 16]})
    assert settings["format"] == "torch-state-dict" and len(settings["sha256"]) == 64
    assert isinstance(torch.load(tmp_path / "policy.pt", weights_only=True), dict)
    loaded = load_weights(tmp_path / "policy.pt", settings, retrain=RETRAIN)
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs = rng.uniform(0, 1, env.observation_space.shape).astype(np.float32)
        assert loaded.predict(obs, deterministic=True)[0] == model.predict(
            obs, deterministic=True)[0]
        tensor = torch.as_tensor(obs)[None]
        with torch.no_grad():
            if algo == "ppo":
                before = model.policy.get_distribution(tensor).distribution.probs
                after = loaded.policy.get_distribution(tensor).distribution.probs
            else:
                before, after = model.q_net(tensor), loaded.q_net(tensor)
        assert torch.equal(before, after)


def test_a_changed_weights_file_is_refused(tmp_path):
    from hub_kernel.core.weights import load_weights, save_weights

    model, _ = _model("ppo")
    path = tmp_path / "policy.pt"
    settings = save_weights(model, path, algo="ppo", policy_kwargs={"net_arch": [16, 16]})
    path.write_bytes(path.read_bytes()[:-1] + b"\1")
    with pytest.raises(AgentError, match=r"policy.pt does not match the SHA-256.*not loaded"):
        load_weights(path, settings, retrain=RETRAIN)


def test_a_pickle_in_place_of_the_weights_is_refused_and_runs_nothing(tmp_path):
    import hashlib

    from hub_kernel.core.weights import load_weights, save_weights

    model, _ = _model("ppo")
    path = tmp_path / "policy.pt"
    settings = save_weights(model, path, algo="ppo", policy_kwargs={"net_arch": [16, 16]})
    marker = tmp_path / "marker"
    path.write_bytes(pickle.dumps({"weights": _WritesMarker(marker)}))
    with pytest.raises(AgentError, match="SHA-256"):
        load_weights(path, settings, retrain=RETRAIN)
    # the settings forged to match: torch's weights_only unpickler still refuses it
    forged = {**settings, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    with pytest.raises(AgentError, match=r"not a file of tensors.*train it again"):
        load_weights(path, forged, retrain=RETRAIN)
    assert not marker.exists()


def test_weights_that_do_not_fit_the_settings_are_refused(tmp_path):
    from hub_kernel.core.weights import load_weights, save_weights

    model, _ = _model("ppo")
    path = tmp_path / "policy.pt"
    settings = save_weights(model, path, algo="ppo", policy_kwargs={"net_arch": [16, 16]})
    with pytest.raises(AgentError, match="does not fit the policy"):
        load_weights(path, {**settings, "policy_kwargs": {"net_arch": [8]}}, retrain=RETRAIN)
    with pytest.raises(AgentError, match="does not fit the policy"):
        load_weights(path, {**settings, "policy_kwargs": {"activation_fn": "os.system"}},
                     retrain=RETRAIN)
