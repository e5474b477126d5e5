"""``hub plan`` and ``hub feedback``: the agents' dashboard from outside, as a script sees it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hub_kernel.cli import app

runner = CliRunner()

TILE_FIELDS = {"slot", "id", "kind", "analysis", "columns", "chart_type", "width", "height",
               "agent", "decision_id", "propensity", "why"}


@pytest.fixture
def home(hub_home, monkeypatch):
    """A fresh HUB_HOME where decisions are greedy (no exploration) and applied (supervised),
    so that a plan changes only when what was learned changes."""
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_EXPLORATION",
                       json.dumps({"assisted": 0.0, "supervised": 0.0, "autonomous": 0.0}))
    monkeypatch.setenv("HUB_AUTONOMY_MODE", "supervised")
    config.reload_settings()
    return hub_home


@pytest.fixture
def sample() -> str:
    from hub_kernel.data import sample_path

    return str(sample_path())


@pytest.fixture
def shops(tmp_path) -> str:
    """A table without dates: a category that moves a numeric column, and two more numbers."""
    rng = np.random.default_rng(3)
    n = 400
    region = rng.choice(["north", "south", "east", "west"], n)
    effect = pd.Series(region).map({"north": 0.0, "south": 5.0, "east": -3.0, "west": 1.0})
    visitors = rng.poisson(200, n).astype(float)
    sales = 0.5 * visitors + 10 * effect.to_numpy() + rng.normal(0, 5, n)
    path = tmp_path / "shops.csv"
    pd.DataFrame({"region": region, "visitors": visitors, "sales": sales.round(2),
                  "staff": rng.integers(2, 12, n)}).to_csv(path, index=False)
    return str(path)


def hub(*args: str):
    return runner.invoke(app, list(args), terminal_width=200)


def plan_json(*args: str) -> dict:
    result = hub("plan", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def analyses(plan: dict) -> list[str]:
    return [t["analysis"] for t in plan["tiles"] if t["analysis"]]


def test_plans_of_two_datasets_show_different_analyses(home, sample, shops):
    weather = analyses(plan_json(sample))
    other = analyses(plan_json(shops))
    assert weather and other
    assert set(weather) != set(other)
    assert "trend" in weather  # the sample has dates
    assert "trend" not in other  # the shops table has none


def test_plan_table_names_every_tile_and_why(home, sample, monkeypatch):
    from hub_kernel.cli import common

    monkeypatch.setattr(common.console, "width", 240)
    result = hub("plan", sample, "--user", "ann")
    assert result.exit_code == 0, result.output
    plan = plan_json(sample, "--user", "ann")
    for tile in plan["tiles"]:
        assert tile["id"] in result.stdout
    assert "user ann" in result.stdout
    assert "strategy" in result.stdout


def test_plan_json_has_every_field_of_every_tile(home, sample):
    plan = plan_json(sample, "--user", "ann", "--target", "weather")
    assert plan["user"] == "ann" and plan["target"] == "weather"
    assert plan["dashboard"].startswith("dash-")
    assert [t["slot"] for t in plan["tiles"]] == list(range(len(plan["tiles"])))
    for tile in plan["tiles"]:
        assert set(tile) >= TILE_FIELDS, tile
        assert 0 < tile["propensity"] <= 1
        if tile["kind"].startswith("analysis-"):
            assert tile["analysis"] == tile["kind"].removeprefix("analysis-")
            assert tile["agent"] == "strategy"
    kinds = {t["kind"] for t in plan["tiles"]}
    assert {"overview", "model"} <= kinds
    charts = [t for t in plan["tiles"] if t["kind"] == "chart"]
    assert charts and all(t["chart_type"] for t in charts)


def test_the_target_changes_the_dashboard_id(home, sample):
    assert plan_json(sample)["dashboard"] != plan_json(sample, "--target", "weather")["dashboard"]


def test_plan_of_a_missing_file_is_one_line_naming_it(home, tmp_path):
    result = hub("plan", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1
    assert "nope.csv" in result.output and "no such file" in result.output
    assert "Traceback" not in result.output


def test_plan_with_an_unknown_target_names_the_column(home, sample):
    result = hub("plan", sample, "--target", "rainfall")
    assert result.exit_code == 1
    assert "'rainfall'" in result.output and "temp_max" in result.output


def test_feedback_is_stored_as_the_page_stores_it(home, sample):
    from hub_kernel.agents.common.events import EventStore

    plan = plan_json(sample, "--user", "ann")
    tile = next(t["id"] for t in plan["tiles"] if t["analysis"])
    result = hub("feedback", sample, "--user", "ann", "--tile", tile, "--kind", "thumbs_up")
    assert result.exit_code == 0, result.output
    assert f"thumbs_up (1) on {tile}" in result.stdout
    result = hub("feedback", sample, "--user", "ann", "--tile", "dashboard", "--kind", "rating",
                 "--value", "4")
    assert result.exit_code == 0, result.output
    events = EventStore().events(user="ann", dashboard=plan["dashboard"])
    assert [(e.tile, e.kind, e.value) for e in events] == [(tile, "thumbs_up", 1.0),
                                                            ("dashboard", "rating", 4.0)]
    assert EventStore().events(user="bob") == []


@pytest.mark.parametrize(("tile", "kind", "value", "says"), [
    ("overview", "love", "1", "unknown feedback kind 'love'; kinds: thumbs_up, thumbs_down"),
    ("an-nothing", "thumbs_down", "1", "no tile 'an-nothing'; tiles: "),
    ("dashboard", "thumbs_down", "1", "'thumbs_down' is feedback on a tile"),
    ("dashboard", "rating", "9", "a rating is 1 to 5"),
])
def test_feedback_refuses_what_the_page_cannot_send(home, sample, tile, kind, value, says):
    from hub_kernel.agents.common.events import EventStore

    result = hub("feedback", sample, "--user", "ann", "--tile", tile, "--kind", kind,
                 "--value", value)
    assert result.exit_code == 1
    assert says in " ".join(result.output.split())
    assert EventStore().events(user="ann") == []


def test_thumbs_down_twice_lowers_that_analysis_for_that_user_only(home, sample):
    """ann's dislike takes the analysis off her page (or lower); bob keeps it. What one
    person teaches transfers a little (the learner is shared), so bob's order among near-equal
    analyses may move, but his page keeps the same analyses."""
    before = plan_json(sample, "--user", "ann")
    others_before = plan_json(sample, "--user", "bob")
    shown = [t for t in before["tiles"] if t["analysis"]]
    assert len(shown) >= 2
    disliked = shown[0]
    for _ in range(2):
        result = hub("feedback", sample, "--user", "ann", "--tile", disliked["id"], "--kind",
                     "thumbs_down")
        assert result.exit_code == 0, result.output

    after = plan_json(sample, "--user", "ann")
    slots = {t["id"]: t["slot"] for t in after["tiles"]}
    if disliked["id"] in slots:  # still shown: lower on the page than before
        assert slots[disliked["id"]] > disliked["slot"], after
    others_after = plan_json(sample, "--user", "bob")
    assert set(analyses(others_after)) == set(analyses(others_before)), (
        analyses(others_before), analyses(others_after))
    assert disliked["analysis"] in analyses(others_after)


def test_hub_help_lists_plan_and_feedback(home):
    result = hub("--help")
    assert result.exit_code == 0
    assert "plan" in result.stdout and "feedback" in result.stdout
    help_text = " ".join(hub("feedback", "--help").stdout.split())
    assert "--tile" in help_text and "--kind" in help_text and "--value" in help_text
