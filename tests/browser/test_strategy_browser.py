"""The agents run the dashboard, as a viewer sees it under Voila: analysis tiles chosen from the
data's profile and filled in the background (a failing one shows its error alone), feedback
that changes the next session's analyses, task completion in the stored reward, and a model
trained from the page that the registry lists."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "hub_kernel" / "data" / "samples" / "seattle-weather.csv"
TIMEOUT = 90_000  # ms; the first page load starts a kernel and imports pandas and bokeh
FILLED = 120_000  # ms until every analysis tile is filled (or failed)
ANALYSIS = "[class*='hub-tile--analysis-']"


def open_as(page, server, user):
    server.open_as(page, user, timeout=TIMEOUT)  # logged in as user: no ?user= in the URL
    page.locator(".hub-tile").first.wait_for(timeout=TIMEOUT)
    page.locator(".hub-chart canvas").first.wait_for(timeout=TIMEOUT)


def wait_filled(page):
    """Until the analysis tiles are on the page and none is pending any more."""
    page.locator(ANALYSIS).first.wait_for(timeout=TIMEOUT)
    page.wait_for_function("!document.querySelector('.hub-tile--pending')", timeout=FILLED)


def tile_order(page) -> list[str]:
    """Tile ids in the order a person reads the grid (top to bottom, left to right)."""
    found = []
    for tile in page.eval_on_selector_all(
            ".hub-grid > .hub-tile",
            "els => els.map(e => [...e.classList].find(c => c.startsWith('hub-tile-id--')))"):
        box = page.locator(f".{tile}").bounding_box()
        found.append(((round(box["y"]), round(box["x"])), tile.removeprefix("hub-tile-id--")))
    return [t for _, t in sorted(found)]


def analysis_kinds(page) -> set[str]:
    return set(page.eval_on_selector_all(
        ANALYSIS, "els => els.map(e => [...e.classList].find(c => "
                  "c.startsWith('hub-tile--analysis-')).slice('hub-tile--analysis-'.length))"))


def failing_plugin(directory: Path) -> Path:
    """A package installed the way pip would (a module plus its ``dist-info``) declaring an
    analysis in the ``hub.analyses`` entry-point group whose ``_run`` raises."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hub_failing_plugin.py").write_text(textwrap.dedent('''
        from hub_kernel.analyses import Analysis


        class Exploding(Analysis):
            name = "exploding"
            title = "An analysis that <b>always</b> fails"

            def _run(self, frame, profile, *, target=None):
                raise RuntimeError("the <b>exploding</b> analysis broke on purpose")
    '''))
    info = directory / "hub_failing_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-failing-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.analyses]\n"
                                           "exploding = hub_failing_plugin:Exploding\n")
    (info / "top_level.txt").write_text("hub_failing_plugin\n")
    return directory


def upload_file(page, path):
    """As a person does: click the upload button, pick the file in the chooser."""
    with page.expect_file_chooser() as chooser:
        page.locator(".hub-upload").click()
    chooser.value.set_files(str(path))


def shops_csv(path: Path) -> Path:
    """A table unlike the sample: no dates, some missing values, a category and numbers."""
    rows = ["city,sales,staff,visits"]
    for i in range(200):
        city = ["Oslo", "Rome", "Lima", "Pune"][i * 7 % 4]
        sales = "" if i % 5 == 0 else f"{10 + (i * 37 % 23) / 3:.2f}"
        rows.append(f"{city},{sales},{1 + i * 11 % 8},{80 + i * 53 % 41}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_uploaded_data_gets_analyses_of_its_own_and_a_failing_one_fails_alone(
        page, start_server, tmp_path, screenshot, monkeypatch):
    # greedy decisions: the plug-in (no prior, 0.5) clears the threshold unless a draw says no
    monkeypatch.setenv("HUB_EXPLORATION",
                       '{"assisted": 0.0, "supervised": 0.0, "autonomous": 0.0}')
    plugin = failing_plugin(tmp_path / "plugin")
    server = start_server(pythonpath=(plugin,), auth="users")  # open_as logs in as a user
    screenshot.watch(page)
    open_as(page, server, "gil")
    wait_filled(page)
    sample_kinds = analysis_kinds(page)
    assert "trend" in sample_kinds  # the sample has dates
    assert "missingness" not in sample_kinds  # and no missing value

    failed = page.locator(".hub-tile--analysis-exploding")
    assert failed.count() == 1, f"the plug-in's analysis was not planned: {sample_kinds}"
    assert "hub-tile--failed" in failed.get_attribute("class")
    error = failed.locator(".hub-error")
    assert "the <b>exploding</b> analysis broke on purpose" in error.inner_text()
    assert failed.locator("b").count() == 0  # the message is text, never markup
    others = page.locator(f"{ANALYSIS}:not(.hub-tile--failed)")
    assert others.count() >= 3
    for i in range(others.count()):  # the others filled in: text, and no error
        assert others.nth(i).locator(".hub-error").count() == 0
        assert len(others.nth(i).inner_text().strip()) > 40
    failed.scroll_into_view_if_needed()
    screenshot(page, "sample")

    upload_file(page, shops_csv(tmp_path / "shops.csv"))
    page.locator(".hub-upload-status").get_by_text("Stored shops.csv (200 rows").wait_for(
        timeout=TIMEOUT)
    page.locator(".hub-tile--overview").get_by_text("200 rows").wait_for(timeout=TIMEOUT)
    wait_filled(page)
    shop_kinds = analysis_kinds(page)
    assert "trend" not in shop_kinds  # no date column: the agent did not plan it
    assert shop_kinds & {"missingness", "segments"}, shop_kinds  # what this table has
    assert shop_kinds != sample_kinds
    assert page.locator(".hub-tile--analysis-exploding.hub-tile--failed").count() <= 1
    screenshot(page, "uploaded")
    assert page.errors == []


def test_thumbs_down_twice_moves_an_analysis_away_in_the_next_session(
        page, demo_server, browser, screenshot):
    screenshot.watch(page)
    open_as(page, demo_server, "hana")
    wait_filled(page)
    before = tile_order(page)
    analyses = [t for t in before if t.startswith("an-")]
    assert analyses, before
    # the analysis the viewer reads first: the one whose move is easiest to notice
    target = analyses[0]
    for _ in range(2):
        page.locator(f".hub-tile-id--{target} .hub-down").click()
        page.wait_for_timeout(300)
    page.locator(".hub-rearrange").click()
    page.wait_for_timeout(1500)

    later = browser.new_page(viewport={"width": 1400, "height": 1000})
    screenshot.watch(later)
    try:
        open_as(later, demo_server, "hana")  # the next session: another kernel, same person
        wait_filled(later)
        after = tile_order(later)
        assert target not in after or after.index(target) > before.index(target), (
            before, after)
        later.locator(".hub-why-panel").get_by_text("Why did this change?").click()
        why = later.locator(".hub-why")
        why.wait_for(timeout=30_000)
        text = why.inner_text().lower()
        assert "strategy" in text, text
        analysis = target.removeprefix("an-")
        assert analysis in text or analysis.replace("_", " ") in text, text
        screenshot(later, "next-session")
    finally:
        later.close()


def reward_terms(home: Path, user: str) -> list[dict]:
    path = home / "events.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT terms FROM rewards WHERE user = ? ORDER BY id",
                          (user,)).fetchall()
    except sqlite3.OperationalError:  # no terms column (yet)
        return []
    finally:
        db.close()
    return [json.loads(r[0]) for r in rows if r[0]]


def test_this_answered_my_question_counts_as_task_completion(page, demo_server, screenshot):
    screenshot.watch(page)
    open_as(page, demo_server, "ivo")
    page.locator(".hub-rearrange").click()  # a round starts with a decision
    page.wait_for_timeout(2000)
    before = len(reward_terms(demo_server.home, "ivo"))
    page.locator(".hub-tile-id--overview .hub-answered").click()
    page.wait_for_timeout(500)
    page.locator(".hub-rearrange").click()  # which scores the round that followed it
    deadline = time.monotonic() + 30
    rows: list[dict] = []
    while time.monotonic() < deadline and not rows:
        rows = reward_terms(demo_server.home, "ivo")[before:]
        page.wait_for_timeout(500)
    assert rows, "no reward row with terms was stored for ivo's round"
    assert rows[-1]["task_completion"] > 0, rows
    assert page.errors == []


def test_train_from_the_model_tile_registers_a_version(page, serve_notebook, write_notebook,
                                                       hub, tmp_path, screenshot):
    notebook = write_notebook(
        tmp_path / "model.ipynb",
        "from widgets import Dashboard\n\n"
        f"Dashboard.from_path({str(SAMPLE)!r}, target='weather')")
    server = serve_notebook(notebook)
    screenshot.watch(page)
    server.open(page)
    tile = page.locator(".hub-tile--model")
    tile.wait_for(timeout=TIMEOUT)
    tile.get_by_text("No model of this target yet").wait_for(timeout=TIMEOUT)
    tile.locator(".hub-budget select").select_option(label="5 s")
    tile.locator(".hub-train").click()
    progress = tile.locator(".hub-train-progress")
    progress.get_by_text("searching").wait_for(timeout=30_000)
    tile.scroll_into_view_if_needed()
    screenshot(page, "training")
    progress.get_by_text("done in").wait_for(timeout=180_000)
    tile.locator(".hub-model-version").first.wait_for(timeout=30_000)
    text = tile.inner_text()
    assert "v1 (champion)" in text and "most common class" in text
    assert "Top predictors" in text
    screenshot(page, "trained")

    listed = hub(server.home, "models", "list")
    assert listed.returncode == 0, listed.stderr
    name = page.locator(".hub-tile--model .hub-model-version b").first.inner_text()
    assert name.endswith("-weather")
    # the sample's weather has rare classes (snow, drizzle): judged by balanced accuracy
    assert name in listed.stdout and "balanced_accuracy=" in listed.stdout, listed.stdout
    assert page.errors == []
