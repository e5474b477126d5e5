"""``hub analyze``'s search output: the final-model line names what the leaderboard shows."""

from __future__ import annotations

import re

from rich.console import Console

from hub_kernel.automl.results import Evaluation, SearchResult
from hub_kernel.automl.space import Config


def _result() -> SearchResult:
    scores = {1: 0.80, 2: 0.91, 3: 0.70, 4: 0.88, 5: 0.86, 6: 0.90}
    evaluations = [Evaluation(index=i, config=Config("hgb", {"learning_rate": i / 10}),
                              score=s, std=0.01, seconds=0.5, fit_seconds=0.1, expected=None,
                              explanation="tried", propensity=0.5, finished_at=float(i),
                              source="bandit")
                   for i, s in scores.items()]
    best = evaluations[1]
    return SearchResult(task="classification", metric="accuracy", best=best, model=None,
                        evaluations=evaluations, baseline_score=0.5, seconds=3.0,
                        stop_reason="budget", refit=True, target="y", features=("x",),
                        ensemble=[(2, 0.6), (6, 0.3), (3, 0.1)], ensemble_score=0.93)


def test_the_ensemble_line_names_evaluations_the_leaderboard_prints(monkeypatch):
    from hub_kernel.cli import analyze

    console = Console(record=True, width=200)
    monkeypatch.setattr(analyze, "console", console)
    analyze._print_search(_result())
    out = console.export_text()
    line = next(x for x in out.splitlines() if x.startswith("final model:"))
    named = re.findall(r"#(\d+) \(rank (\d+)", line)
    assert [n for n, _ in named] == ["2", "6", "3"]
    board = [x for x in out.splitlines() if re.match(r"\s*\d+\s+#\d+\s", x)]
    shown = {tuple(re.match(r"\s*(\d+)\s+#(\d+)", x).groups()[::-1]) for x in board}
    for evaluation, rank in named:
        assert (evaluation, rank) in shown  # the leaderboard prints that number at that rank
    assert ("3", "6") in shown  # the worst configuration is printed because it is a member


def test_members_are_ranked_as_in_the_leaderboard():
    result = _result()
    members = result.ensemble_members()
    assert [(m["evaluation"], m["rank"]) for m in members] == [(2, 1), (6, 2), (3, 6)]
    board = result.leaderboard(2, members=True)
    assert board["evaluation"].tolist() == [2, 6, 3]
    assert "#2 (rank 1)" in result.summary()


def test_when_nothing_beats_the_baseline_the_answer_is_the_baseline(monkeypatch):
    import dataclasses

    from hub_kernel.cli import analyze

    console = Console(record=True, width=200)
    monkeypatch.setattr(analyze, "console", console)
    result = dataclasses.replace(_result(), beats_baseline=False, ensemble=[],
                                 ensemble_score=None, chance_score=0.55)
    analyze._print_search(result)
    out = console.export_text()
    assert ("no model beats the baseline: accuracy 0.5000 for always predicting the most "
            "common class (0.5500 for guessing classes at random in their proportions); the "
            "best configuration, hgb(learning_rate=0.2), scores 0.9100")\
        in " ".join(out.split())
    assert "best model:" not in out and "final model:" not in out
