"""The family policy is saved as weights and loaded without cloudpickle (``load_policy``)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from hub_kernel.exceptions import AgentError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from hub_kernel.agents.strategy.env import synthetic_traces, train_policy

    return train_policy(traces=synthetic_traces(3, seed=2), timesteps=128, seed=0,
                        directory=tmp_path_factory.mktemp("strategy"))


def test_train_policy_saves_weights_and_json_not_a_zip(folder):
    from hub_kernel.automl.policy import load_policy

    assert (folder / "policy.pt").is_file() and not (folder / "policy.zip").exists()
    meta = json.loads((folder / "policy.json").read_text())
    assert meta["weights"]["file"] == "policy.pt" and meta["weights"]["algo"] == "ppo"
    policy = load_policy(folder)
    assert policy is not None
    obs = np.full(meta["observation_size"], 0.5, dtype=np.float32)
    assert policy.action_probabilities(obs).sum() == pytest.approx(1.0)
    assert 0 <= policy.act(obs) < len(policy.action_probabilities(obs))


def test_a_tampered_policy_file_is_refused(folder, tmp_path):
    import shutil

    from hub_kernel.automl.policy import load_policy

    copy = tmp_path / "strategy"
    shutil.copytree(folder, copy)
    (copy / "policy.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle of 1, not the weights
    with pytest.raises(AgentError, match=r"does not match the SHA-256.*train_policy"):
        load_policy(copy)


def test_an_sb3_zip_of_an_older_hub_is_not_loaded(tmp_path):
    from hub_kernel.agents.layout.pretrain import load_pretrained
    from hub_kernel.automl.policy import load_policy

    with zipfile.ZipFile(tmp_path / "policy.zip", "w") as z:
        z.writestr("data", "{}")
    with pytest.raises(AgentError, match=r"SB3's zip format.*pickled.*train_policy"):
        load_policy(tmp_path)
    with zipfile.ZipFile(tmp_path / "model.zip", "w") as z:
        z.writestr("data", "{}")
    with pytest.raises(AgentError, match=r"SB3's zip format.*hub agents pretrain"):
        load_pretrained(tmp_path)
