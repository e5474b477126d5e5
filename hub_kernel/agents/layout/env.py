"""``LayoutEnv``: the Dashboard Design Agent's decision as a gymnasium environment.

One episode is one session of a simulated user (``agents.layout.simulate``) on one dashboard.
The agent fills the dashboard slot by slot: each step's action is the index of the candidate tile
that goes into the next slot (``Discrete(max_candidates)``). Choosing a tile that is already placed
(or an index past the candidates) costs ``invalid_penalty`` and places the first free candidate
instead, so every episode lasts exactly ``len(candidates)`` steps; ``action_masks()`` lists the
valid actions for maskable algorithms. Chart type is chosen through the candidates (the same
columns may be offered as several tiles, e.g. a histogram and a line); sizes are the tiles' own
and are not part of the action (the simulated users have no taste for sizes, so learning them
would learn noise).

When the last slot is filled, the user runs a session on the layout and the episode's reward is
the product's reward, ``common.reward.weighted_reward(terms)`` with the weights in settings, of the
terms ``common.reward.reward_terms`` computes from the session's events (docs/reward.md).
Intermediate steps earn 0 (or the invalid-action penalty). With ``reward_samples`` > 1 the terms
are averaged over that many sessions (the extra ones on a copy of the user, so tastes drift and
history grows once per episode): less noise for training, the same expected reward.

The observation (``Box`` in [0, 1], float32), in order:

- the dataset profile's meta-features (``hub_kernel.data.profile.profile_features``, 8);
- context: viewport bucket (one-hot narrow/medium/wide) and stated skill (one-hot
  novice/analyst/expert) (6);
- the user's interaction summary per tile feature: share of successes and of failures in the
  design agent's weighting, then their experience ``log1p(sessions) / log(101)`` (13);
- system performance: expected render seconds per tile feature, / 2 (6);
- progress: slots filled / ``max_candidates`` (1);
- per candidate (``max_candidates`` blocks of 11, zero-padded): present, already placed,
  one-hot tile feature (6), render seconds / 2, this tile's success and failure shares.

``observation(...)`` builds the same vector for a live context, which is how a pre-trained
policy is asked about a real dashboard (``pretrain.PretrainedPrior``).

Each ``reset(seed=...)`` draws a fresh population of ``n_users`` simulated users; a user then
serves ``sessions_per_user`` consecutive episodes (their interaction summary grows across them and
is kept when they come back) before the next user is drawn.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hub_kernel.agents.common.events import InteractionEvent
from hub_kernel.agents.common.reward import reward_terms, weighted_reward
from hub_kernel.agents.layout.design import tile_feature
from hub_kernel.agents.layout.simulate import (
    FEATURES,
    FOLD_SLOTS,
    SKILLS,
    VIEWPORTS,
    Population,
    SimulatedUser,
    candidate_tiles,
    feature_render_seconds,
    feedback_counts,
    render_failures,
    render_seconds,
)
from hub_kernel.data.profile import profile_features
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout, Tile

logger = logging.getLogger("hub_kernel")

N_PROFILE = 8
N_CONTEXT = len(VIEWPORTS) + len(SKILLS)
N_SUMMARY = 2 * len(FEATURES) + 1
N_SYSTEM = len(FEATURES)
N_TILE = 2 + len(FEATURES) + 3


def observation_size(max_candidates: int) -> int:
    return N_PROFILE + N_CONTEXT + N_SUMMARY + N_SYSTEM + 1 + max_candidates * N_TILE


@lru_cache(maxsize=1)
def sample_profile() -> Any:
    """The profile of the bundled sample dataset (the environment's default data)."""
    from hub_kernel.data import profile_dataset, read_table, sample_path

    return profile_dataset(read_table(sample_path()))


def _shares(counts: tuple[float, float] | None) -> tuple[float, float]:
    ups, downs = counts or (0.0, 0.0)
    total = 1.0 + ups + downs
    return ups / total, downs / total


def observation(tiles: Sequence[Tile], *, profile: Any = None,
                placed: Iterable[int] = (), viewport: str = "medium", skill: str = "analyst",
                events: Iterable[InteractionEvent] = (), sessions: int = 0,
                n_rows: int | None = None, max_candidates: int = 10) -> np.ndarray:
    """The observation vector for candidate ``tiles`` in a context (see the module docstring).

    ``events`` are the user's past interaction events; ``placed`` the indexes of the tiles
    already given a slot. Tiles past ``max_candidates`` are left out.
    """
    if viewport not in VIEWPORTS or skill not in SKILLS:
        raise AgentError(f"viewport must be one of {VIEWPORTS} and skill one of {SKILLS}; got "
                         f"{viewport!r}, {skill!r}")
    events = list(events)
    by_feature = feedback_counts(events)
    by_tile = feedback_counts(events, by="tile")
    return _observation(tiles, profile_vector=_profile_vector(profile), placed=set(placed),
                        viewport=viewport, skill=skill, by_feature=by_feature, by_tile=by_tile,
                        sessions=sessions,
                        n_rows=n_rows if n_rows is not None else int(getattr(profile, "n_rows",
                                                                             1000)),
                        max_candidates=max_candidates)


def _profile_vector(profile: Any) -> np.ndarray:
    if profile is None:
        return np.zeros(N_PROFILE)
    return np.clip(profile_features(profile), 0.0, 1.0)


def _observation(tiles: Sequence[Tile], *, profile_vector: np.ndarray, placed: set[int],
                 viewport: str, skill: str, by_feature: Mapping[str, tuple[float, float]],
                 by_tile: Mapping[str, tuple[float, float]], sessions: int, n_rows: int,
                 max_candidates: int) -> np.ndarray:
    parts: list[Any] = [profile_vector]
    parts.append([float(viewport == v) for v in VIEWPORTS] + [float(skill == s) for s in SKILLS])
    summary = [share for f in FEATURES for share in _shares(by_feature.get(f))]
    parts.append([*summary, min(math.log1p(sessions) / math.log(101), 1.0)])
    parts.append([min(feature_render_seconds(f, n_rows) / 2.0, 1.0) for f in FEATURES])
    parts.append([min(len(placed), max_candidates) / max_candidates])
    blocks = np.zeros((max_candidates, N_TILE))
    for i, tile in enumerate(tiles[:max_candidates]):
        feature = tile_feature(tile)
        blocks[i, 0] = 1.0
        blocks[i, 1] = float(i in placed)
        if feature in FEATURES:
            blocks[i, 2 + FEATURES.index(feature)] = 1.0
        blocks[i, 2 + len(FEATURES)] = min(render_seconds(tile, n_rows) / 2.0, 1.0)
        blocks[i, 3 + len(FEATURES):] = _shares(by_tile.get(tile.id))
    parts.append(blocks.ravel())
    return np.clip(np.concatenate([np.asarray(p, dtype=float) for p in parts]), 0.0,
                   1.0).astype(np.float32)


class LayoutEnv(gym.Env[np.ndarray, np.int64]):
    """Fill a dashboard's slots one tile at a time for a simulated user (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(self, profile: Any = None, tiles: Sequence[Tile] | None = None, *,
                 n_users: int = 50, sessions_per_user: int = 5, max_candidates: int = 10,
                 invalid_penalty: float = 0.1, n_columns: int = 3, reward_samples: int = 1,
                 population: Mapping[str, Any] | None = None) -> None:
        self.profile = profile if profile is not None else sample_profile()
        self.tiles = list(tiles) if tiles is not None else candidate_tiles(self.profile,
                                                                           n_columns)
        if not 1 <= len(self.tiles) <= max_candidates:
            raise AgentError(f"the environment needs 1 to max_candidates={max_candidates} "
                             f"candidate tiles, got {len(self.tiles)}; raise max_candidates")
        if n_users < 1 or sessions_per_user < 1 or reward_samples < 1:
            raise AgentError("n_users, sessions_per_user and reward_samples must be at least 1")
        self.n_users = n_users
        self.sessions_per_user = sessions_per_user
        self.max_candidates = max_candidates
        self.invalid_penalty = invalid_penalty
        self.n_columns = n_columns
        self.reward_samples = reward_samples
        self.population_params = dict(population or {})
        self.observation_space = spaces.Box(0.0, 1.0, (observation_size(max_candidates),),
                                            np.float32)
        self.action_space = spaces.Discrete(max_candidates)
        self._profile_vector = _profile_vector(self.profile)
        self._population: Population | None = None
        self._user: SimulatedUser | None = None
        self._by_feature: dict[str, dict[str, tuple[float, float]]] = {}
        self._by_tile: dict[str, dict[str, tuple[float, float]]] = {}
        self._sessions: dict[str, int] = {}
        self._episodes = 0
        self._order: list[int] = []

    # -- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self._population is None:
            self._population = Population(
                n_users=self.n_users, seed=int(self.np_random.integers(2**31)),
                columns=tuple(c.name for c in self.profile.columns),
                **self.population_params)
            self._by_feature, self._by_tile, self._sessions, self._episodes = {}, {}, {}, 0
        if self._episodes % self.sessions_per_user == 0 or self._user is None:
            self._user = self._population.sample(self.np_random)
        self._episodes += 1
        self._order = []
        return self._observe(), {"user": self._user.name}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                    dict[str, Any]]:
        if self._user is None:
            raise AgentError("call reset() before step()")
        index = int(action)
        invalid = not (0 <= index < len(self.tiles)) or index in self._order
        reward = 0.0
        if invalid:
            reward -= self.invalid_penalty
            index = next(i for i in range(len(self.tiles)) if i not in self._order)
        self._order.append(index)
        info: dict[str, Any] = {"invalid": invalid}
        terminated = len(self._order) == len(self.tiles)
        if terminated:
            reward += self._finish(info)
        return self._observe(), float(reward), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Which actions place a tile (for maskable policies)."""
        mask = np.zeros(self.max_candidates, dtype=bool)
        mask[:len(self.tiles)] = True
        mask[self._order] = False
        return mask

    # -- helpers -----------------------------------------------------------------------------
    @property
    def user(self) -> SimulatedUser | None:
        return self._user

    def layout(self) -> Layout:
        """The tiles placed so far, in slot order."""
        return Layout([self.tiles[i] for i in self._order], self.n_columns)

    def _finish(self, info: dict[str, Any]) -> float:
        user = self._user
        assert user is not None
        tiles = [self.tiles[i] for i in self._order]
        engagement = user.engagement(tiles)
        oracle = user.engagement(user.oracle_layout(tiles, self.n_columns))
        failures = render_failures(tiles, self.profile.n_rows, FOLD_SLOTS[user.viewport])
        # extra sessions on a copy of the user: same tastes, no drift, no history
        extra = [reward_terms(copy.deepcopy(user).session(tiles, self.np_random), len(tiles),
                              failures=failures) for _ in range(self.reward_samples - 1)]
        events = user.session(tiles, self.np_random)
        terms = reward_terms(events, len(tiles), failures=failures)
        if extra:
            terms = {k: float(np.mean([v, *(e[k] for e in extra)])) for k, v in terms.items()}
        feedback_counts(events, into=self._by_feature.setdefault(user.name, {}))
        feedback_counts(events, by="tile", into=self._by_tile.setdefault(user.name, {}))
        self._sessions[user.name] = self._sessions.get(user.name, 0) + 1
        info.update(terms=terms, engagement=engagement, oracle_engagement=oracle,
                    n_events=len(events), layout=[t.id for t in tiles])
        return weighted_reward(terms)

    def _observe(self) -> np.ndarray:
        user = self._user
        assert user is not None
        return _observation(self.tiles, profile_vector=self._profile_vector,
                            placed=set(self._order), viewport=user.viewport,
                            skill=user.current_skill,
                            by_feature=self._by_feature.get(user.name, {}),
                            by_tile=self._by_tile.get(user.name, {}),
                            sessions=self._sessions.get(user.name, 0),
                            n_rows=self.profile.n_rows, max_candidates=self.max_candidates)
