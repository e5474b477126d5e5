"""The family policy trained across datasets (``agents.strategy.env.train_policy``), as the
pipeline search asks it: ``StrategyPolicy`` (``act``, ``action_probabilities`` over
``observation.FAMILY_ORDER`` and stop) and ``load_policy``. The policy is stored as weights
(``policy.pt``, a state dict of tensors, and its settings in ``policy.json``: ``core.weights``),
never as SB3's zip, whose settings are cloudpickled. torch and stable-baselines3 are imported
inside the functions that need them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hub_kernel.automl.observation import OBSERVATION_SIZE
from hub_kernel.automl.warmstart import strategy_dir
from hub_kernel.exceptions import AgentError

POLICY_FILE = "policy.pt"
POLICY_METADATA = "policy.json"
LEGACY_FILE = "policy.zip"  # SB3's zip (cloudpickled settings): never loaded
_RETRAIN = "retrain it with StrategyAgent().train_policy()"


class StrategyPolicy:
    """A trained SB3 policy over ``StrategyEnv``'s actions."""

    def __init__(self, model: Any, metadata: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.metadata = dict(metadata or {})

    def act(self, observation: np.ndarray) -> int:
        action, _ = self.model.predict(np.asarray(observation, dtype=np.float32),
                                       deterministic=True)
        return int(action)

    def action_probabilities(self, observation: np.ndarray) -> np.ndarray:
        import torch

        obs, _ = self.model.policy.obs_to_tensor(np.asarray(observation, dtype=np.float32))
        with torch.no_grad():
            distribution = self.model.policy.get_distribution(obs)
            probs = distribution.distribution.probs
        return np.asarray(probs.cpu().numpy()[0], dtype="float64")


def load_policy(directory: str | os.PathLike[str] | None = None) -> StrategyPolicy | None:
    """The policy saved by ``train_policy`` in ``directory``, or None when there is none."""
    folder = Path(directory) if directory is not None else strategy_dir()
    path = folder / POLICY_FILE
    if not path.exists():
        if (folder / LEGACY_FILE).exists():
            raise AgentError(f"strategy policy {folder / LEGACY_FILE} is in SB3's zip format, "
                             "whose settings are pickled (loading it could run code): hub no "
                             f"longer loads it; {_RETRAIN}")
        return None
    from hub_kernel.core.weights import load_weights

    metadata_path = folder / POLICY_METADATA
    try:
        import torch

        torch.set_num_threads(1)
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AgentError(f"strategy policy settings {metadata_path} cannot be read ({exc}); "
                         f"{_RETRAIN}") from None
    weights = metadata.get("weights") if isinstance(metadata, dict) else None
    if not isinstance(weights, dict):
        raise AgentError(f"{metadata_path} does not describe the weights in {path}; {_RETRAIN}")
    model = load_weights(path, weights, retrain=_RETRAIN)
    if metadata.get("observation_size", OBSERVATION_SIZE) != OBSERVATION_SIZE:
        raise AgentError(f"strategy policy {path} was trained for another observation layout; "
                         "retrain it with StrategyAgent().train_policy()")
    return StrategyPolicy(model, metadata)
