"""The joint dashboard problem: which tiles (analyses included), their order and chart type.

hub's agents, driven exactly as the dashboard drives them (``MetaController.plan`` for a viewer
and a dataset, then ``DashboardSession.interact`` for every event the viewer makes and
``relayout`` to close the round, all against a real ``HUB_HOME``), against Vowpal Wabbit's
``--cb_explore_adf`` given the same candidates, the same attributes and the same events,
uniform random, the static default and the oracle.

**The viewers** are simulated here, independently of ``hub_kernel.agents.layout.simulate``
(the simulator hub's agent was pre-trained and tuned on): a viewer's appeal for a tile is a
logistic function of their hidden taste for its *columns* (per column name) and for its
*analysis* (per tile kind), a smaller taste for its chart type, and a skill effect; the skill
they state in the toolbar is wrong for ``--wrong-skill`` of them; explicit feedback (thumbs) is
rare (``--feedback-rate``), dwell and clicks are common; at a random session each viewer's
interests change abruptly (tastes redrawn). Several datasets (the bundled sample and three
generated tables of other shapes) share one population, so what transfers between datasets
counts.

**The action**: the first ``--slots`` tiles of the dashboard, in order, each with a chart type.
Candidates (the same for every policy): ``hub_kernel.agents.plan.cheap_tiles`` (overview,
charts, missing values) and one tile per catalog analysis that applies, each chart tile with
every chart type that fits its columns. A viewer looks at slot k with probability decay^k
and stops after a tile they do not like with probability ``1 - patience``. Engagement of a
session = expected number of tiles liked; the oracle shows the viewer's best tiles, best chart
type each, best first. Regret = oracle - shown, summed over sessions.

**Policies**: hub (above; exploration and priors as shipped, in autonomous mode on layout and
analyses, so that its choices apply as the other policies' do); VW ``--cb_explore_adf`` with one
decision per slot over the remaining candidates (features: the tile attributes hub's learner
sees, ``hub_kernel.agents.common.learner.tile_attributes`` without the viewer-crossed ones,
which VW builds itself with ``-q UA``; shared: viewer, stated skill, dataset profile, slot),
cost = -(the tile's reward from the viewer's events: the same evidence hub's learner is taught
from them, explicit feedback, clicks and dwell, as one number per tile,
``hub_kernel.agents.session.tile_rewards``; a tile the viewer never reached teaches hub nothing
and gives VW ``UNSEEN_REWARD``), its settings chosen on tuning seeds 100-102 (``--tune``); uniform
random; static (the planner's default order, never changed).

Seeds 0..N-1 are reported; tuning (VW's settings, and any change to hub's agent) used seeds
100-102 only (``--seed-offset 100``).

**Tuning hub (issue 15; seeds 100-102, 300 sessions, 30 viewers; hub's regret per seed; a run
varies by about +-10 from the next, as hub's agents are not seeded):** as shipped before,
410.9 / 465.5 / 437.5 (VW with the rewards it had then: 394.6 / 385.4 / 426.5). The changes
made for principled reasons, not tuned: dwell teaches for every tile, a quick pass as clearly
as a long look (``session.passive_evidence``; VW got the same rewards); the viewer-crossed
attributes no longer repeat the stated skill; an analyst's prior of an analysis fades with
everyone's evidence too: 413.4 / 390.8 / 422.2 at the old passive weight. Tuned: the weight
of one round's clear dwell verdict ``session.PASSIVE_WEIGHT``: 0.25 (above), 0.5 415.5 /
371.3 / 460.4, **1.0 377.9 / 370.3 / 397.1 (kept)**, 3.0 370.6 / 368.5 / 388.4 (within the
noise of 1.0, and dwell should not outweigh one explicit judgement, weight 1); tried and not
kept: autonomous exploration 0.1 instead of 0.25 (387.0 / 370.9 / 395.8), ``USER_WEIGHT`` 3
instead of 2 (377.3 / 383.8 / 394.1). Then VW's settings and its label for unreached tiles
were chosen again with the new rewards (``VW_ARGS``, ``UNSEEN_REWARD``). At 500 sessions on
the tuning seeds, then: hub 653.6 / 564.7 / 604.4, VW 599.2 / 620.0 / 649.9 (0.97x).

Reported after that tuning (seeds 0-2, 500 sessions, 30 viewers): hub 630.1 / 647.2 / 641.8
(median 641.8; before 687.8), VW 637.7 / 628.0 / 635.8 (635.8; 667.3 with its old rewards),
random 752.4, static 731.0; % oracle over sessions 401-500: hub 58.2%, VW 58.4%; hub / VW
1.01.

Goals (issue 15): hub's regret at 500 sessions <= 0.8x VW's; >= 90% of the oracle's
engagement over sessions 401-500. Missing a goal still exits 0.

Run: ``python benchmarks/layout_joint.py [--sessions 500] [--seeds 3] [--users 30]
[--json out.json]``; ``--quick``: 1 seed, 120 sessions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# a 512-dimensional learner gains nothing from BLAS threads, and they fight over shared cores
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

GOAL_VW = 0.8
GOAL_ORACLE = 0.90
POLICIES = ("hub", "vw", "random", "static")
LABELS = {"hub": "hub agents (plan + interact)", "vw": "VW --cb_explore_adf",
          "random": "uniform random", "static": "static default"}
#: VW settings: the best on tuning seeds 100-102 of those tried (``--tune``)
VW_CANDIDATES = ("--cb_explore_adf --squarecb -q UA -q SA -l 2",
                 "--cb_explore_adf --epsilon 0.1 -q UA -q SA",
                 "--cb_explore_adf --squarecb -q UA -l 0.5",
                 "--cb_explore_adf --cover 3 -q UA -q SA",
                 "--cb_explore_adf --squarecb -q UA -q SA -l 0.5",
                 "--cb_explore_adf --squarecb -q UA -q SA -q PA -l 0.5",
                 "--cb_explore_adf --squarecb --gamma_scale 100 -q UA -q SA -l 0.5",
                 "--cb_explore_adf --epsilon 0.05 --cb_type mtr -q UA -q SA -l 0.5")
#: VW's label for a tile the viewer never reached (None: no label), chosen with its settings
UNSEEN_REWARD: float | None = 0.3
#: tuning seeds 100-102, 500 sessions, with hub's rewards (``tile_rewards``): 620.0, the others
#: 657.1-691.9 (with no label for unreached tiles: 629.4-683.9); with the old rewards: 646.5
VW_ARGS = VW_CANDIDATES[2]


# -- data --------------------------------------------------------------------------------------
def datasets(seed: int = 0) -> dict[str, pd.DataFrame]:
    """The bundled sample and three generated tables of other shapes."""
    from hub_kernel.data import read_table, sample_path

    rng = np.random.default_rng(seed)
    n = 600
    sales = pd.DataFrame({
        "day": pd.date_range("2023-01-01", periods=n, freq="D"),
        "revenue": np.cumsum(rng.normal(1, 5, n)) + 200,
        "orders": rng.poisson(30, n),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "discount": rng.uniform(0, 0.3, n)})
    survey = pd.DataFrame({
        "age_group": rng.choice(["18-29", "30-44", "45-64", "65+"], n),
        "education": rng.choice(["school", "college", "degree"], n),
        "satisfied": rng.random(n) < 0.6,
        "income": np.exp(rng.normal(10, 0.6, n)),
        "hours": rng.normal(38, 8, n).round()})
    sensor = pd.DataFrame({f"s{i}": rng.normal(size=n) * (i + 1) for i in range(6)})
    sensor["s5"] = sensor["s0"] * 2 + rng.normal(size=n)
    return {"sample": read_table(sample_path()), "sales": sales, "survey": survey,
            "sensor": sensor}


@dataclass
class Board:
    """One dataset as the policies see it: its profile, dashboard id and candidate tiles."""

    name: str
    frame: pd.DataFrame
    profile: Any
    dashboard: str
    candidates: list[Any]  # every tile with every chart type that fits
    default: list[Any]  # the planner's starting tiles, in order


def boards(seed: int) -> list[Board]:
    from hub_kernel.agents.plan import (
        analysis_tile,
        cheap_tiles,
        dashboard_id,
        tile_chart_candidates,
    )
    from hub_kernel.analyses import available, get
    from hub_kernel.data import profile_dataset

    result = []
    for name, frame in datasets(seed).items():
        profile = profile_dataset(frame)
        cheap = cheap_tiles(profile)
        analyses = [analysis_tile(a, get(a).title) for a in available(profile)]
        candidates = []
        for tile in [*cheap, *analyses]:
            types = tile_chart_candidates(tile, profile) or (tile.chart_type,)
            candidates += [tile.model_copy(update={"chart_type": t}) for t in types]
        result.append(Board(name, frame, profile, dashboard_id(frame), candidates,
                            [*cheap, *analyses]))
    return result


# -- viewers -----------------------------------------------------------------------------------
SKILLS = ("novice", "analyst", "expert")


@dataclass
class Viewer:
    """A simulated viewer (independent of hub's own simulator; see the module docstring)."""

    name: str
    skill: str
    stated: str
    rng: np.random.Generator
    change_at: int
    feedback_rate: float
    column_taste: dict[str, float] = field(default_factory=dict)
    kind_taste: dict[str, float] = field(default_factory=dict)
    chart_taste: dict[str, float] = field(default_factory=dict)
    sessions: int = 0

    def _draw(self, table: dict[str, float], key: str, scale: float) -> float:
        if key not in table:
            table[key] = float(self.rng.normal(0, scale))
        return table[key]

    def appeal(self, tile: Any) -> float:
        """Probability of liking ``tile`` (logistic in column, analysis, chart, skill)."""
        z = -0.4
        for column in tile.columns:
            z += self._draw(self.column_taste, str(column), 1.2) / len(tile.columns)
        z += self._draw(self.kind_taste, tile.kind, 1.4)
        if tile.chart_type:
            z += self._draw(self.chart_taste, tile.chart_type, 0.5)
        if tile.kind.startswith("analysis-"):  # experts like analyses, novices charts
            z += {"novice": -0.6, "analyst": 0.1, "expert": 0.7}[self.skill]
        elif tile.kind == "chart":
            z += {"novice": 0.5, "analyst": 0.1, "expert": -0.3}[self.skill]
        return 1 / (1 + math.exp(-z))

    def end_session(self) -> None:
        self.sessions += 1
        if self.sessions == self.change_at:  # abrupt change of interests
            self.column_taste.clear()
            self.kind_taste.clear()
            self.chart_taste.clear()


DECAY, PATIENCE = 0.85, 0.7


def engagement(viewer: Viewer, tiles: Sequence[Any]) -> float:
    """Expected tiles liked: slot k is reached with the chance of getting that far."""
    reach, total = 1.0, 0.0
    for tile in tiles:
        p = viewer.appeal(tile)
        total += reach * p
        reach *= DECAY * (p + (1 - p) * PATIENCE)
    return total


def oracle(viewer: Viewer, board: Board, slots: int) -> list[Any]:
    best: dict[str, Any] = {}
    for tile in board.candidates:  # best chart type per tile
        if tile.id not in best or viewer.appeal(tile) > viewer.appeal(best[tile.id]):
            best[tile.id] = tile
    return sorted(best.values(), key=lambda t: -viewer.appeal(t))[:slots]


def react(viewer: Viewer, tiles: Sequence[Any], rng: np.random.Generator
          ) -> list[tuple[str, str, float]]:
    """The viewer's events on ``tiles``: (tile id, kind, value)."""
    events = []
    for tile in tiles:
        p = viewer.appeal(tile)
        liked = rng.random() < p
        events.append((tile.id, "dwell", float(rng.lognormal(math.log(9 if liked else 2), .5))))
        if liked:
            if rng.random() < 0.5:
                events.append((tile.id, "click", 1.0))
            if rng.random() < viewer.feedback_rate:
                events.append((tile.id, "thumbs_up", 1.0))
            if rng.random() < 0.05:
                events.append((tile.id, "task_done", 1.0))
        elif rng.random() < viewer.feedback_rate * 0.7:
            events.append((tile.id, "thumbs_down", 1.0))
        if rng.random() >= DECAY * (1.0 if liked else PATIENCE):
            break
    return events


def population(seed: int, users: int, sessions: int, wrong_skill: float,
               feedback_rate: float) -> list[Viewer]:
    rng = np.random.default_rng([seed, 7])
    viewers = []
    for i in range(users):
        skill = str(rng.choice(SKILLS))
        stated = str(rng.choice(SKILLS)) if rng.random() < wrong_skill else skill
        expected = max(2, sessions // users)
        viewers.append(Viewer(f"viewer{i}", skill, stated, np.random.default_rng([seed, 8, i]),
                              change_at=int(rng.integers(expected // 3 + 1, expected + 2)),
                              feedback_rate=feedback_rate))
    return viewers


# -- policies ----------------------------------------------------------------------------------
class Policy:
    def arrange(self, viewer: Viewer, board: Board, slots: int,
                rng: np.random.Generator) -> list[Any]:
        raise NotImplementedError

    def learn(self, viewer: Viewer, board: Board, shown: list[Any],
              events: list[tuple[str, str, float]]) -> None:
        """Default: nothing."""


class Static(Policy):
    def arrange(self, viewer, board, slots, rng):
        return board.default[:slots]


class Random(Policy):
    def arrange(self, viewer, board, slots, rng):
        ids = {}
        for tile in board.candidates:
            ids.setdefault(tile.id, []).append(tile)
        keys = list(ids)
        order = rng.permutation(len(keys))[:slots]
        return [ids[keys[i]][int(rng.integers(len(ids[keys[i]])))] for i in order]


class Hub(Policy):
    """The product's path: plan for this viewer and data, interact, close the round."""

    def __init__(self, home: Path) -> None:
        from hub_kernel.agents.controller import MetaController

        self.home = home
        self.controller = MetaController()
        self.stated: set[str] = set()
        self._session: Any = None

    def arrange(self, viewer, board, slots, rng):
        assert self.controller.events is not None
        if viewer.name not in self.stated:
            self.controller.events.set_skill(viewer.name, viewer.stated)
            self.stated.add(viewer.name)
        plan = self.controller.plan(board.profile, user=viewer.name, dashboard=board.dashboard)
        self._session = self.controller.open(plan.layout, user=viewer.name,
                                             dashboard=board.dashboard, profile=board.profile)
        return list(plan.layout.tiles)[:slots]

    def learn(self, viewer, board, shown, events):
        for tile, kind, value in events:
            self._session.interact(tile, kind, value)
        self._session.relayout()  # the round ends: reward recorded, layout kept for next time


class VowpalWabbit(Policy):
    """One contextual-bandit decision per slot over the remaining candidates."""

    def __init__(self, seed: int, args: str = VW_ARGS) -> None:
        import vowpalwabbit

        self.vw = vowpalwabbit.Workspace(f"{args} --quiet --random_seed {seed}")
        self.logged: list[tuple[str, list[str], int, float, str]] = []

    @staticmethod
    def _action(tile: Any, board: Board) -> str:
        from hub_kernel.agents.common.learner import tile_attributes

        kinds = {c.name: c.kind for c in board.profile.columns}
        attributes = tile_attributes(tile, column_kinds=kinds)
        names = " ".join(f"{k.replace(' ', '_').replace(':', '_').replace('|', '_')}:{v:.4g}"
                         for k, v in attributes.items() if "&profile" not in k)
        return f"|A {names}"

    @staticmethod
    def _shared(viewer: Viewer, board: Board, slot: int) -> str:
        from hub_kernel.data.profile import profile_features

        profile = " ".join(f"p{i}:{v:.3f}" for i, v in enumerate(profile_features(board.profile)))
        return (f"shared |U user={viewer.name} skill={viewer.stated} |S skill={viewer.stated} "
                f"{profile} |P slot={slot}")

    def arrange(self, viewer, board, slots, rng):
        remaining, shown, self.logged = list(board.candidates), [], []
        for slot in range(slots):
            if not remaining:
                break
            shared = self._shared(viewer, board, slot)
            actions = [self._action(t, board) for t in remaining]
            pmf = np.asarray(self.vw.predict([shared, *actions]), dtype=float)
            pmf = pmf / pmf.sum()
            choice = int(rng.choice(len(remaining), p=pmf))
            tile = remaining[choice]
            self.logged.append((shared, actions, choice, float(pmf[choice]), tile.id))
            shown.append(tile)
            remaining = [t for t in remaining if t.id != tile.id]  # one chart type per tile
        return shown

    def learn(self, viewer, board, shown, events):
        from hub_kernel.agents.common.events import InteractionEvent
        from hub_kernel.agents.session import tile_rewards

        # the same evidence hub's learner is taught from these events (explicit feedback,
        # clicks, dwell), as one reward per tile; a tile the viewer never reached teaches
        # hub nothing, and VW gets ``UNSEEN_REWARD`` for it (its best on the tuning seeds)
        rewards = tile_rewards(InteractionEvent(viewer.name, "s", board.dashboard, tile, kind,
                                                value) for tile, kind, value in events)
        for shared, actions, choice, prob, tile in self.logged:
            reward = rewards.get(tile, UNSEEN_REWARD)
            if reward is None:
                continue
            labelled = list(actions)
            labelled[choice] = f"0:{-reward}:{prob} {actions[choice]}"
            self.vw.learn([shared, *labelled])


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Trace:
    shown: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def regret(self, upto: int | None = None) -> float:
        return float(np.sum(np.subtract(self.best[:upto], self.shown[:upto])))

    def share(self, start: int, stop: int) -> float:
        return float(np.sum(self.shown[start:stop]) / np.sum(self.best[start:stop]))


def simulate(name: str, seed: int, args: argparse.Namespace, home: Path,
             vw_args: str = VW_ARGS) -> Trace:
    all_boards = boards(seed)
    viewers = population(seed, args.users, args.sessions, args.wrong_skill, args.feedback_rate)
    if name == "hub":
        # the agents act (autonomous, on layout and analyses) as the other policies do; in
        # the default assisted mode they would only propose after a viewer's first visit
        os.environ.update(HUB_HOME=str(home), HUB_AUTONOMOUS_DOMAINS='["layout", "analysis"]')
        from hub_kernel.core.config import reload_settings
        from hub_kernel.safety.modes import Controls

        reload_settings()
        Controls().set_mode("autonomous")
        policy: Policy = Hub(home)
    elif name == "vw":
        policy = VowpalWabbit(seed, vw_args)
    elif name == "random":
        policy = Random()
    else:
        policy = Static()
    order = np.random.default_rng([seed, 1])
    trace = Trace()
    started = time.perf_counter()
    for i in range(args.sessions):
        viewer = viewers[int(order.integers(len(viewers)))]
        board = all_boards[int(order.integers(len(all_boards)))]
        rng = np.random.default_rng([seed, 2, i])
        shown = policy.arrange(viewer, board, args.slots, rng)
        trace.shown.append(engagement(viewer, shown))
        trace.best.append(engagement(viewer, oracle(viewer, board, args.slots)))
        policy.learn(viewer, board, shown, react(viewer, shown, rng))
        viewer.end_session()
    trace.seconds = time.perf_counter() - started
    return trace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3, help="report seeds 0..N-1")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="run seeds OFFSET..OFFSET+N-1 (100: the tuning seeds)")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--wrong-skill", type=float, default=0.35)
    parser.add_argument("--feedback-rate", type=float, default=0.08)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--tune", action="store_true",
                        help="choose VW's settings on tuning seeds 100-102 and print them")
    parser.add_argument("--quick", action="store_true", help="1 seed, 120 sessions")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sessions = 1, 120
    policies = [p for p in args.policies.split(",") if p]
    window = (max(0, args.sessions - 100), args.sessions)
    with tempfile.TemporaryDirectory(prefix="hub-joint-") as tmp:
        if args.tune:
            for vw_args in VW_CANDIDATES:
                regrets = [simulate("vw", s, args, Path(tmp), vw_args).regret()
                           for s in (100, 101, 102)]
                print(f"tuning {vw_args}: median regret {statistics.median(regrets):.1f}",
                      flush=True)
            return 0
        results: list[dict[str, Trace]] = []
        for seed in range(args.seed_offset, args.seed_offset + args.seeds):
            traces = {p: simulate(p, seed, args, Path(tmp) / f"{p}-{seed}") for p in policies}
            results.append(traces)
            print(f"seed {seed}: " + ", ".join(
                f"{p} regret {t.regret():.1f} ({100 * t.share(*window):.1f}% oracle, "
                f"{t.seconds:.0f} s)" for p, t in traces.items()), flush=True)
    seeds = f"seeds {args.seed_offset}-{args.seed_offset + args.seeds - 1}"
    print(f"\n{args.sessions} sessions, {args.users} viewers, 4 datasets, medians over "
          f"{args.seeds} seeds ({seeds}; regret in expected liked tiles)\n")
    column = f"% oracle {window[0] + 1}-{window[1]}"
    print(f"{'policy':32} {'regret':>9} {column:>16}")
    figures: dict[str, Any] = {}
    for p in policies:
        regret = statistics.median(r[p].regret() for r in results)
        share = statistics.median(r[p].share(*window) for r in results)
        figures[p] = {"regret": regret, "oracle_share": share,
                      "per_seed": [{"regret": r[p].regret(), "oracle_share": r[p].share(*window),
                                    "oracle": float(np.sum(r[p].best))} for r in results]}
        print(f"{LABELS[p]:32} {regret:9.1f} {100 * share:15.1f}%")
    if "hub" in figures and "vw" in figures:
        ratio = figures["hub"]["regret"] / figures["vw"]["regret"]
        share = figures["hub"]["oracle_share"]
        print(f"\nhub regret / VW's: {ratio:.2f} (goal <= {GOAL_VW}: "
              f"{'met' if ratio <= GOAL_VW else 'NOT met'}); hub % of oracle over sessions "
              f"{window[0] + 1}-{window[1]}: {100 * share:.1f}% (goal >= {100 * GOAL_ORACLE:.0f}%: "
              f"{'met' if share >= GOAL_ORACLE else 'NOT met'})")
        figures["hub_over_vw"] = ratio
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
