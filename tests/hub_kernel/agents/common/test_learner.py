"""The shared contextual learner: sensible uncertainty, transfer, atomic stored updates."""

from __future__ import annotations

import numpy as np
import pytest

from hub_kernel.agents.common.learner import LearnerStore, TileLearner, Viewer
from hub_kernel.layout import Tile

KINDS = {"price": "numeric", "age": "numeric", "city": "categorical"}


def chart(column: str, chart_type: str = "histogram") -> Tile:
    return Tile(id=f"c-{column}", kind="chart", title=column, columns=(column,),
                chart_type=chart_type)


def viewer(user: str) -> Viewer:
    return Viewer(user=user, column_kinds=KINDS, profile_vector=(0.4, 0.3, 0.6, 0.2))


def predict(learner: TileLearner, tile: Tile, user: str) -> float:
    return float(learner.mean(learner.vector(viewer(user).attributes(tile)))[0])


def teach(learner: TileLearner, tile: Tile, user: str, reward: float, times: int) -> None:
    x = learner.vector(viewer(user).attributes(tile))
    learner.update(np.vstack([x] * times), [reward] * times)


def test_an_unjudged_tile_is_a_coin_flip_with_a_sensible_spread():
    learner = TileLearner()
    for tile in (chart("price"), Tile(id="an-trend", kind="analysis-trend", title="Trend")):
        x = learner.vector(viewer("ann").attributes(tile, slot=3))
        assert learner.mean(x)[0] == pytest.approx(0.5)
        assert 0.2 <= learner.sd(x)[0] <= 0.4


def test_what_a_user_teaches_moves_their_own_predictions_most():
    learner = TileLearner()
    before = {(c, u): predict(learner, chart(c, "box"), u)
              for c in ("price", "age") for u in ("ann", "bob")}
    teach(learner, chart("price", "box"), "ann", 0.0, 3)
    drop = {k: before[k] - predict(learner, chart(k[0], "box"), k[1]) for k in before}
    # her own tile most; a box plot of another column for her nearly as much; the same
    # tile for someone else a little; and everything moves the same way
    assert drop[("price", "ann")] > 0.25
    assert drop[("age", "ann")] > 0.5 * drop[("price", "ann")]
    assert 0.02 < drop[("price", "bob")] < 0.5 * drop[("price", "ann")]
    assert 0 < drop[("age", "bob")] <= drop[("price", "bob")]
    # a chart type she did not judge barely moves for anyone else
    assert abs(predict(learner, chart("age", "violin"), "bob") - 0.5) < drop[("age", "bob")]


def test_an_analysis_one_person_values_rises_for_others_on_other_data():
    learner = TileLearner()
    tile = Tile(id="an-segments", kind="analysis-segments", title="Segments")
    for user in ("u1", "u2", "u3"):
        teach(learner, tile, user, 1.0, 2)
    other = Viewer(user="zoe", column_kinds={}, profile_vector=(0.8, 0.1, 0.2, 0.7))
    assert learner.mean(learner.vector(other.attributes(tile)))[0] > 0.55


def test_two_store_updates_add_up(tmp_path):
    store = LearnerStore(tmp_path / "events.db")
    learner = TileLearner()
    a = learner.vector(viewer("ann").attributes(chart("price")))
    b = learner.vector(viewer("bob").attributes(chart("city", "bar")))
    store.update("tiles", a[None, :], [1.0])
    store.update("tiles", b[None, :], [0.0], [2.0])  # as a second kernel would
    stored = store.load("tiles")
    together = TileLearner()
    together.update(np.vstack([a, b]), [1.0, 0.0], [1.0, 2.0])
    assert stored.n == pytest.approx(3.0)
    np.testing.assert_allclose(stored.precision, together.precision)
    np.testing.assert_allclose(stored.moment, together.moment)
    assert store.load("other").n == 0  # another name starts at the prior
