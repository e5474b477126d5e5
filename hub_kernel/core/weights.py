"""stable-baselines3 policies stored as weights: a state dict of tensors and JSON settings.

SB3's own ``model.save`` writes a zip whose settings (spaces, schedules, the policy class) are
cloudpickled, and ``PPO.load`` unpickles them: a tampered zip runs code. hub stores instead

- the policy's ``state_dict()`` with ``torch.save`` (tensors only), and
- JSON settings (``save_weights`` returns them; the caller keeps them in its metadata file):
  the algorithm, ``policy_kwargs``, the observation and action spaces, and the file's SHA-256;

and ``load_weights`` checks the SHA-256, reads the tensors with ``torch.load(...,
weights_only=True)`` (no pickled object other than tensors and plain containers is accepted)
and puts them in a freshly built policy of the recorded settings. What it returns answers
``predict``, ``policy`` and ``q_net`` as the SB3 model did, which is all hub asks of a trained
policy. Errors name the file and the problem; torch and stable-baselines3 are imported inside
the functions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub_kernel.exceptions import AgentError

ALGORITHMS = ("ppo", "dqn")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _space(space: Any) -> dict[str, Any]:
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    raise AgentError(f"a policy over a {type(space).__name__} space cannot be saved as weights")


def _build_space(spec: Mapping[str, Any]) -> Any:
    import numpy as np
    from gymnasium import spaces

    kind = spec.get("type")
    if kind == "Box":
        dtype = np.dtype(str(spec["dtype"]))
        if dtype.kind != "f":
            raise ValueError(f"Box dtype {dtype} is not a float type")
        return spaces.Box(np.asarray(spec["low"], dtype=dtype),
                          np.asarray(spec["high"], dtype=dtype),
                          shape=tuple(int(n) for n in spec["shape"]), dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(spec["n"]), start=int(spec.get("start", 0)))
    raise ValueError(f"unknown space type {kind!r}")


def save_weights(model: Any, path: str | os.PathLike[str], *, algo: str,
                 policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Write the weights of SB3 ``model`` to ``path`` (atomically); returns the settings to
    keep (JSON) for ``load_weights``."""
    import torch

    if algo not in ALGORITHMS:
        raise AgentError(f"unknown algorithm {algo!r}; use {' or '.join(ALGORITHMS)}")
    target = Path(path)
    state = {key: value.detach().cpu().clone()
             for key, value in model.policy.state_dict().items()}
    partial = target.with_name(target.name + ".partial")
    torch.save(state, partial)
    partial.replace(target)
    return {"format": "torch-state-dict", "file": target.name, "sha256": _sha256(target),
            "algo": algo, "policy_kwargs": dict(policy_kwargs),
            "observation_space": _space(model.observation_space),
            "action_space": _space(model.action_space)}


class LoadedPolicy:
    """A policy rebuilt from its weights, answering what hub asks of an SB3 model."""

    def __init__(self, policy: Any, settings: Mapping[str, Any]) -> None:
        self.policy = policy
        self.settings = dict(settings)

    def predict(self, observation: Any, deterministic: bool = True) -> tuple[Any, Any]:
        return self.policy.predict(observation, deterministic=deterministic)

    @property
    def q_net(self) -> Any:  # DQN
        return self.policy.q_net


def load_weights(path: str | os.PathLike[str], settings: Mapping[str, Any], *,
                 retrain: str) -> LoadedPolicy:
    """The policy saved by ``save_weights`` at ``path`` with its ``settings``; ``AgentError``
    (naming the file, the problem and ``retrain``, the command that makes a new one) if the
    file is not what was saved or cannot be put in a policy of those settings."""
    import stable_baselines3 as sb3
    import torch

    source = Path(path)
    if not source.is_file():
        raise AgentError(f"no policy weights at {source}; {retrain}")
    expected = settings.get("sha256")
    if not isinstance(expected, str) or _sha256(source) != expected:
        raise AgentError(f"{source} does not match the SHA-256 in its settings: the file was "
                         f"changed after it was saved; it was not loaded. {retrain}")
    algo = settings.get("algo")
    if algo not in ALGORITHMS:
        raise AgentError(f"{source}: unknown algorithm {algo!r} in its settings; {retrain}")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AgentError(f"{source} is not a file of tensors and was not loaded "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                         f"{retrain}") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise AgentError(f"{source} holds {type(state).__name__}, not a state dict of "
                         f"tensors; it was not loaded. {retrain}")
    try:
        kwargs = dict(settings.get("policy_kwargs") or {})
        if set(kwargs) - {"net_arch"}:
            raise ValueError(f"unexpected policy settings {sorted(set(kwargs) - {'net_arch'})}")
        cls = getattr(sb3, algo.upper()).policy_aliases["MlpPolicy"]
        policy = cls(_build_space(settings["observation_space"]),
                     _build_space(settings["action_space"]), lambda _: 0.0, **kwargs)
        policy.load_state_dict(state, strict=True)
    except Exception as exc:
        raise AgentError(f"{source} does not fit the policy its settings describe "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                         f"{retrain}") from None
    policy.set_training_mode(False)
    return LoadedPolicy(policy.to("cpu"), settings)
