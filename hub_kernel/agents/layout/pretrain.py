"""Offline pre-training of the layout policy on simulated users, and its use as a cold-start prior.

``pretrain()`` trains a stable-baselines3 policy (PPO by default, or DQN; ``MlpPolicy``, small net,
CPU, seeded) on ``LayoutEnv`` and saves it under ``$HUB_HOME/agents/``: ``model.pt`` (the
policy's weights, a state dict of tensors: ``core.weights``, never SB3's pickled zip) and
``metadata.json`` (algorithm, seed, steps, observation layout, the weights' settings and SHA-256,
library versions, and an evaluation against uniform random and the default order on users the
policy never met). ``load_pretrained()`` rebuilds the policy from them (``torch.load(...,
weights_only=True)``) as a ``PretrainedPolicy`` (``act``, ``action_probabilities``).

Live, ``MetaController.pretrained_prior`` feeds it to the design agent: for a dashboard's tiles
and a user's context (data profile, viewport, stated skill, past events) ``PretrainedPolicy
.scores`` asks the policy to fill the slots greedily and records how much more likely than
uniform it was to pick each tile; the sigmoid of that log-odds minus one half, fading with the
user's deliberate interactions, is added to the shared learner's prediction of the tile. So a
new user starts from what pre-training learned, then the learner takes over.
``PretrainedPrior`` turns the same scores into per-feature pseudo-counts for the previous
(Beta) policy that ``benchmarks/layout_agent.py`` still measures.

torch and stable-baselines3 are imported inside the functions that need them only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hub_kernel.agents.common.events import InteractionEvent
from hub_kernel.agents.layout.design import tile_feature
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout, Tile

logger = logging.getLogger("hub_kernel")

MODEL_FILE = "model.pt"
LEGACY_FILE = "model.zip"  # SB3's zip (cloudpickled settings): never loaded
_RETRAIN = "run `hub agents pretrain` again"
METADATA_FILE = "metadata.json"
Algorithm = Literal["ppo", "dqn"]


def agents_dir() -> Path:
    """Where pre-trained agents live: ``$HUB_HOME/agents``."""
    from hub_kernel.core.config import get_settings

    return get_settings().home / "agents"


def _sb3() -> Any:
    try:
        import stable_baselines3
        import torch
    except ImportError as exc:  # pragma: no cover - both are dependencies of hub
        raise AgentError(f"pre-training needs stable-baselines3 and torch ({exc}); install "
                         "them with `pip install torch==2.13.0 stable-baselines3`") from exc
    torch.set_num_threads(1)  # small nets: threads cost more than they give, and cores are shared
    return stable_baselines3


def pretrain(timesteps: int = 50_000, seed: int = 0, *, algo: Algorithm = "ppo",
             directory: str | os.PathLike[str] | None = None,
             env_kwargs: Mapping[str, Any] | None = None, net_arch: Sequence[int] = (64, 64),
             eval_episodes: int = 300,
             callback: Callable[[int], None] | None = None) -> Path:
    """Train a policy on ``LayoutEnv(**env_kwargs)`` for ``timesteps`` steps and save it.

    Returns the directory holding ``model.pt`` and ``metadata.json`` (default
    ``$HUB_HOME/agents``). ``env_kwargs`` default to ``reward_samples=16``: the product reward
    moves little with the order of tiles, so one session per episode is mostly noise.
    ``callback(steps_done)`` is called as training goes (progress bars).
    """
    if timesteps < 1:
        raise AgentError(f"timesteps must be at least 1, got {timesteps}")
    if algo not in ("ppo", "dqn"):
        raise AgentError(f"unknown algorithm {algo!r}; use ppo or dqn")
    sb3 = _sb3()
    from stable_baselines3.common.callbacks import BaseCallback

    from hub_kernel.agents.layout.env import LayoutEnv

    class _Progress(BaseCallback):
        """Forwards progress through SB3's callback hook."""

        def _on_step(self) -> bool:
            if callback is not None and self.num_timesteps % 500 == 0:
                callback(self.num_timesteps)
            return True

    env_kwargs = dict(env_kwargs or {})
    env_kwargs.setdefault("reward_samples", 16)
    env = LayoutEnv(**env_kwargs)
    env.reset(seed=seed)
    policy_kwargs = {"net_arch": list(net_arch)}
    if algo == "ppo":
        model = sb3.PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                        n_steps=min(512, max(64, timesteps)), batch_size=64, ent_coef=0.0,
                        policy_kwargs=policy_kwargs)
    else:
        model = sb3.DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                        learning_starts=min(1000, timesteps // 2), buffer_size=50_000,
                        exploration_fraction=0.3, target_update_interval=500,
                        policy_kwargs=policy_kwargs)
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=_Progress())
    seconds = time.perf_counter() - started
    policy = PretrainedPolicy(model, {"max_candidates": env.max_candidates, "algo": algo})
    evaluation = evaluate(policy, env_kwargs, episodes=eval_episodes, seed=seed + 1)

    target = Path(directory) if directory is not None else agents_dir()
    target.mkdir(parents=True, exist_ok=True)
    import stable_baselines3
    import torch

    metadata = {
        "algo": algo, "policy": "MlpPolicy", "net_arch": list(net_arch), "seed": seed,
        "timesteps": timesteps, "train_seconds": round(seconds, 2),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "max_candidates": env.max_candidates,
        "observation_size": int(env.observation_space.shape[0]),  # type: ignore[index]
        "env": {k: v for k, v in env_kwargs.items() if k not in ("profile", "tiles")},
        "candidates": [t.id for t in env.tiles], "evaluation": evaluation,
        "versions": {"stable_baselines3": stable_baselines3.__version__,
                     "torch": torch.__version__},
    }
    from hub_kernel.core.weights import save_weights

    metadata["weights"] = save_weights(model, target / MODEL_FILE, algo=algo,
                                       policy_kwargs=policy_kwargs)
    (target / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    (target / LEGACY_FILE).unlink(missing_ok=True)  # an older pickled policy: replaced
    logger.info("pre-trained %s for %d steps in %.1f s: %s", algo, timesteps, seconds,
                evaluation)
    return target


def evaluate(policy: PretrainedPolicy, env_kwargs: Mapping[str, Any] | None = None, *,
             episodes: int = 300, seed: int = 1) -> dict[str, float]:
    """Mean episode reward and share of oracle engagement of the policy (greedy, masked),
    uniform random and the candidates' default order, on the same fresh simulated users."""
    from hub_kernel.agents.layout.env import LayoutEnv

    result: dict[str, float] = {}
    for name in ("policy", "random", "default"):
        env = LayoutEnv(**dict(env_kwargs or {}))
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        rewards, shown, best = [], 0.0, 0.0
        for _ in range(episodes):
            total, done, info = 0.0, False, dict[str, Any]()
            while not done:
                mask = env.action_masks()
                if name == "policy":
                    action = policy.act(obs, mask)
                elif name == "random":
                    action = int(rng.choice(np.flatnonzero(mask)))
                else:
                    action = int(np.flatnonzero(mask)[0])
                obs, reward, done, _, info = env.step(action)
                total += reward
            rewards.append(total)
            shown += info["engagement"]
            best += info["oracle_engagement"]
            obs, _ = env.reset()
        result[f"{name}_reward"] = round(float(np.mean(rewards)), 4)
        result[f"{name}_oracle_share"] = round(shown / best, 4)
    return result


@dataclass
class PretrainedPolicy:
    """A saved SB3 layout policy: ``act`` and ``action_probabilities`` on env observations."""

    model: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def max_candidates(self) -> int:
        return int(self.metadata.get("max_candidates", 10))

    def action_probabilities(self, observation: np.ndarray,
                             mask: np.ndarray | None = None) -> np.ndarray:
        """Probability of each action (0 where ``mask`` is False), summing to 1."""
        import torch

        obs, _ = self.model.policy.obs_to_tensor(np.asarray(observation, dtype=np.float32))
        with torch.no_grad():
            if hasattr(self.model.policy, "get_distribution"):  # PPO, A2C
                probs = self.model.policy.get_distribution(obs).distribution.probs
            else:  # DQN: a softmax of the Q-values
                probs = torch.softmax(self.model.q_net(obs), dim=-1)
        p = probs.cpu().numpy().reshape(-1).astype(float)
        if mask is not None:
            p = np.where(mask, p, 0.0)
            if p.sum() <= 0:
                p = mask.astype(float)
        return p / p.sum()

    def act(self, observation: np.ndarray, mask: np.ndarray | None = None) -> int:
        """The most probable valid action."""
        return int(np.argmax(self.action_probabilities(observation, mask)))

    def scores(self, tiles: Sequence[Tile], **context: Any) -> list[float]:
        """Per tile, the policy's average log-odds of picking it over uniform, slot after slot
        of a greedy fill (0: indifferent). ``context``: keywords of ``env.observation``."""
        from hub_kernel.agents.layout.env import observation

        n = min(len(tiles), self.max_candidates)
        placed: list[int] = []
        logodds: list[list[float]] = [[] for _ in range(n)]
        for _ in range(n):
            mask = np.zeros(self.max_candidates, dtype=bool)
            mask[:n] = True
            mask[placed] = False
            obs = observation(tiles, placed=placed, max_candidates=self.max_candidates,
                              **context)
            p = self.action_probabilities(obs, mask)
            remaining = np.flatnonzero(mask)
            for i in remaining:
                logodds[i].append(math.log(max(len(remaining) * p[i], 1e-6)))
            placed.append(int(remaining[np.argmax(p[remaining])]))
        return [float(np.mean(v)) for v in logodds] + [0.0] * (len(tiles) - n)


def load_pretrained(directory: str | os.PathLike[str] | None = None) -> PretrainedPolicy:
    """The policy saved by ``pretrain`` (default ``$HUB_HOME/agents``)."""
    source = Path(directory) if directory is not None else agents_dir()
    path, meta_path = source / MODEL_FILE, source / METADATA_FILE
    if not path.exists():
        if (source / LEGACY_FILE).exists():
            raise AgentError(f"{source / LEGACY_FILE} is in SB3's zip format, whose settings "
                             "are pickled (loading it could run code): hub no longer loads it; "
                             f"{_RETRAIN} to save the policy as weights")
        raise AgentError(f"no pre-trained layout policy in {source}; run "
                         "`hub agents pretrain` first")
    try:
        metadata = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except (OSError, ValueError) as exc:
        raise AgentError(f"{meta_path} cannot be read ({exc}); run `hub agents pretrain` "
                         "again") from exc
    _sb3()
    algo = metadata.get("algo", "ppo")
    if algo not in ("ppo", "dqn"):
        raise AgentError(f"{meta_path} names an unknown algorithm {algo!r}")
    from hub_kernel.core.weights import load_weights

    weights = metadata.get("weights")
    if not isinstance(weights, dict) or weights.get("algo") != algo:
        raise AgentError(f"{meta_path} does not describe the weights in {path}; {_RETRAIN}")
    return PretrainedPolicy(load_weights(path, weights, retrain=_RETRAIN), metadata)


@dataclass
class PretrainedPrior:
    """Per-tile-feature prior pseudo-counts from a pre-trained policy (module docstring)."""

    policy: PretrainedPolicy
    strength: float = 30.0  # pseudo-events per tile feature

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None,
             strength: float = 30.0) -> PretrainedPrior:
        return cls(load_pretrained(directory), strength)

    def population(self, tiles: Layout | Sequence[Tile], *, profile: Any = None,
                   viewport: str = "medium", skill: str = "analyst",
                   events: Iterable[InteractionEvent] = (), sessions: int = 0
                   ) -> dict[str, tuple[float, float]]:
        """``{feature: (successes, failures)}`` to pass (or add) as ``population`` to
        ``DesignAgent.posteriors``."""
        tiles = list(tiles.tiles if isinstance(tiles, Layout) else tiles)
        if not tiles:
            return {}
        scores = self.policy.scores(tiles, profile=profile, viewport=viewport, skill=skill,
                                    events=list(events), sessions=sessions)
        shares: dict[str, list[float]] = {}
        for tile, score in zip(tiles, scores, strict=True):
            shares.setdefault(tile_feature(tile), []).append(1.0 / (1.0 + math.exp(-score)))
        return {f: (self.strength * float(np.mean(s)), self.strength * (1 - float(np.mean(s))))
                for f, s in shares.items()}

    @staticmethod
    def combine(*counts: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Add several ``{feature: (successes, failures)}`` maps (population + prior)."""
        total: dict[str, tuple[float, float]] = {}
        for mapping in counts:
            for feature, (ups, downs) in mapping.items():
                have = total.get(feature, (0.0, 0.0))
                total[feature] = (have[0] + ups, have[1] + downs)
        return total
