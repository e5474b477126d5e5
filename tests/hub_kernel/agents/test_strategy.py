"""The Analysis Strategy Agent: its environment, the budgeted pipeline search (anytime model,
MLflow child runs, audit entries), warm starts, and learning which analyses to show."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from hub_kernel.agents.strategy.agent import (
    FAMILIES,
    AnalysisBandit,
    Config,
    MetaStore,
    PipelineSearch,
    StrategyAgent,
    build_pipeline,
    remember_search,
    search_features,
)
from hub_kernel.agents.strategy.env import (
    OBSERVATION_SIZE,
    STOP,
    StrategyEnv,
    live_observation,
    synthetic_traces,
    traces_from_store,
)
from hub_kernel.data.profile import profile_dataset
from hub_kernel.exceptions import AgentError, ModelError
from hub_kernel.safety.audit import AuditLog

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def radial(seed: int, n: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """Inside or outside a circle in two of six features: linear models fail, trees do well."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 6))
    y = np.where(X[:, 0] ** 2 + X[:, 1] ** 2 + 0.1 * rng.normal(size=n) < 0.5, "in", "out")
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), pd.Series(y, name="label")


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / "audit.db")


# -- the environment -------------------------------------------------------------------------
def test_check_env_passes():
    env = StrategyEnv()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*render.*")
        check_env(env)
    assert env.observation_space.shape == (OBSERVATION_SIZE,)


def test_episode_rewards_improvement_and_ends_on_budget_or_stop():
    env = StrategyEnv(synthetic_traces(3, seed=1))
    obs, info = env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, reward, terminated, truncated, _ = env.step(steps % STOP)
        assert obs in env.observation_space
        total, steps, done = total + reward, steps + 1, terminated or truncated
    assert 0 < total <= 1.0 and env.elapsed == pytest.approx(env.budget)
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step(STOP)
    assert terminated and reward == 0.0 and info["stopped"]
    with pytest.raises(AgentError):
        env.step(STOP + 1)


def test_environment_replays_remembered_searches(tmp_path):
    X, y = radial(0, n=120)
    store = MetaStore(tmp_path / "meta.json")
    result = PipelineSearch(budget=20, max_evaluations=3, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    remember_search(store, "radial", result)
    traces = traces_from_store(store)
    assert [t.name for t in traces] == ["radial"]
    assert set(traces[0].evaluations) == {"linear", "knn", "svm"}
    assert traces_from_store(store, exclude=["radial"]) == []
    env = StrategyEnv(traces)
    env.reset(seed=0)
    assert env.step(3)[0] in env.observation_space  # linear, recorded


# -- the search --------------------------------------------------------------------------------
def test_budget_is_respected_and_a_model_is_there_at_any_time():
    X, y = radial(1, n=200)
    seen: list[bool] = []

    def check(evaluation, search):
        model = search.best_model_
        seen.append(model is not None and model.predict(X.head(5)).shape == (5,))

    result = PipelineSearch(budget=2.5, warm_start=False, callback=check).fit(X, y)
    # no evaluation starts after the budget is spent (whatever the machine's load); what runs
    # on is one step cut short and the final refit, never a hang
    assert all(e.finished_at - e.seconds <= 2.5 for e in result.evaluations)
    assert seen and all(seen)
    assert result.best.score == max(e.score for e in result.evaluations)
    assert result.best.score > result.baseline_score
    assert result.predict(X.head(3)).shape == (3,)
    board = result.leaderboard()
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    assert board["score"].is_monotonic_decreasing


def test_search_in_the_background_can_be_stopped():
    X, y = radial(2, n=200)
    search = PipelineSearch(budget=60, warm_start=False)
    future = search.fit_in_background(X, y)
    deadline = time.monotonic() + 20
    while search.best_model_ is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert search.best_model_ is not None  # usable while the search runs
    search.stop()
    result = future.result(timeout=30)
    assert result.stop_reason == "stopped on request"


def test_every_choice_is_explained_and_audited(audit):
    X, y = radial(3, n=150)
    result = PipelineSearch(budget=30, max_evaluations=8, audit=audit, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    assert len(result.evaluations) == 8
    entries = audit.entries(agent="strategy")
    evaluated = [e for e in entries if e.action.startswith("evaluate:")]
    assert len(evaluated) == 8
    assert all(e.explanation and e.propensity is not None and 0 < e.propensity <= 1
               for e in evaluated)
    bandit = [e for e in result.evaluations if e.source == "bandit"]
    assert bandit and all("chosen with probability" in e.explanation for e in bandit)
    assert any(e.expected is not None for e in bandit)
    assert entries[-1].action == "stop" and "8 evaluations done" in entries[-1].explanation
    assert audit.verify().ok


def test_evaluations_are_mlflow_child_runs(models_home):
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    X, y = radial(4, n=120)
    result = PipelineSearch(budget=30, max_evaluations=4, track=True, warm_start=False,
                            name="radial", families=["linear", "knn"]).fit(X, y)
    client = MlflowClient(tracking_uri=get_settings().tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_score"] == pytest.approx(result.best.score)
    assert parent.data.tags["hub.best_configuration"] == result.best.config.label()
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert len(children) == 4
    assert {c.info.run_id for c in children} == {e.run_id for e in result.evaluations}
    for child in children:
        assert child.data.tags["hub.explanation"]
        assert "cv_score" in child.data.metrics and "family" in child.data.params


def test_bad_input_is_a_model_error():
    X, y = radial(5, n=60)
    with pytest.raises(ModelError, match="budget must be a positive"):
        PipelineSearch(budget=0).fit(X, y)
    with pytest.raises(ModelError, match="unknown estimator families"):
        PipelineSearch(budget=5, families=["nope"], warm_start=False).fit(X, y)
    with pytest.raises(ModelError, match="unknown metric"):
        PipelineSearch(budget=5, metric="nope", warm_start=False).fit(X, y)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_builds_and_fits_for_both_tasks(family):
    from hub_kernel.models.features import plan_features

    X, y = radial(6, n=80)
    X["colour"] = np.where(X["f2"] > 0, "red", "blue")
    plan = plan_features(X)
    for task, target in (("classification", y), ("regression", X["f0"] * 2.0)):
        config = Config(family, FAMILIES[family].defaults(task, 8))
        model = build_pipeline(config, plan, task, n_rows=len(X), n_features=8)
        model.fit(X, target)
        assert model.predict(X.head(2)).shape == (2,)


# -- experience --------------------------------------------------------------------------------
def _evaluations_to_reach(target: float, **kwargs) -> int:
    X, y = radial(21)

    def enough(evaluation, search):
        if evaluation.score >= target:
            search.stop()

    result = PipelineSearch(budget=60, max_evaluations=8, metric="accuracy", callback=enough,
                            **kwargs).fit(X, y)
    reached = [e.index for e in result.evaluations if e.score >= target]
    return reached[0] if reached else 99


def test_warm_start_reaches_a_score_in_fewer_evaluations(tmp_path):
    """After one search on a dataset, a similar new one starts from what worked there."""
    X, y = radial(20)
    store = MetaStore(tmp_path / "meta.json")
    earlier = PipelineSearch(budget=60, max_evaluations=8, metric="accuracy",
                             warm_start=False).fit(X, y)
    remember_search(store, "circles-1", earlier)
    similar = store.similar(np.asarray(earlier.meta_features), "classification")
    assert similar[0][0].name == "circles-1" and similar[0][1] > 0.99

    cold = _evaluations_to_reach(0.9, warm_start=False)
    warm = _evaluations_to_reach(0.9, warm_start=store)
    assert warm < cold, (warm, cold)
    assert warm == 1


def test_meta_features_and_similarity(tmp_path):
    X, y = radial(7, n=100)
    features = search_features(X, y.to_numpy(), "classification")
    assert features.shape == (14,) and ((features >= 0) & (features <= 1)).all()
    store = MetaStore(tmp_path / "meta.json")
    assert store.similar(features, "classification") == []  # nothing remembered yet


def test_analysis_choice_shifts_toward_what_a_user_rewards(tmp_path, audit):
    """A simulated user who likes clusters and outliers and dislikes the summary table."""
    profile = profile_dataset(_frame())
    agent = StrategyAgent(tmp_path / "strategy", audit=audit, seed=0)
    likes = {"clustering": "thumbs_up", "outliers": "expand", "summary": "thumbs_down"}
    before = {n: agent.bandit.probability_shown(n, _context(profile)) for n in likes}
    for _ in range(25):
        for choice in agent.choose_analyses(profile):
            if choice.show and choice.name in likes:
                agent.feedback(profile, choice.name, likes[choice.name], save=False)
        for name in ("clustering", "summary"):  # shown or not, the tile was seen elsewhere
            agent.feedback(profile, name, likes[name], save=False)
    after = {n: agent.bandit.probability_shown(n, _context(profile)) for n in likes}
    assert before["clustering"] < 0.5 < 0.9 < after["clustering"]
    assert before["summary"] > 0.5 > 0.1 > after["summary"]
    assert after["outliers"] > before["outliers"]
    choices = {c.name: c for c in agent.choose_analyses(profile, explore=False)}
    assert choices["clustering"].show and not choices["summary"].show
    shown = [e for e in audit.entries(agent="strategy") if e.action.startswith("show:")]
    assert shown and all(e.propensity is not None for e in shown)

    agent.save()
    again = StrategyAgent(tmp_path / "strategy", audit=False)
    assert again.bandit.probability_shown("clustering", _context(profile)) == pytest.approx(
        after["clustering"])


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60),
                         "kind": rng.choice(["x", "y"], size=60)})


def _context(profile):
    from hub_kernel.agents.strategy.agent import analysis_context

    return analysis_context(profile)


def test_the_agent_contract_on_the_analysis_decision(tmp_path):
    agent = StrategyAgent(tmp_path / "s", audit=False)
    obs = _context(profile_dataset(_frame()))
    probabilities = agent.action_probabilities(obs)
    assert probabilities.shape == (len(agent.analysis_names()),)
    assert probabilities.sum() == pytest.approx(1.0)
    action = agent.act(obs)
    agent.update(obs, action, 1.0)
    assert agent.bandit.counts[agent.analysis_names()[action]] == 1
    with pytest.raises(AgentError, match="unknown feedback"):
        agent.feedback(profile_dataset(_frame()), "summary", "meh")


def test_analyses_that_do_not_apply_are_never_shown(tmp_path):
    agent = StrategyAgent(tmp_path / "s", audit=False)
    choices = {c.name: c for c in agent.choose_analyses(profile_dataset(_frame()))}
    assert not choices["trend"].applies and not choices["trend"].show
    assert "needs a date column" in choices["trend"].explanation
    assert not choices["feature_importance"].show  # no target


def test_bandit_round_trips():
    bandit = AnalysisBandit()
    context = np.r_[np.full(8, 0.5), 0.0, 1.0]
    bandit.update("summary", context, 0.0)
    again = AnalysisBandit.from_dict(bandit.to_dict())
    assert again.posterior("summary", context) == pytest.approx(bandit.posterior("summary",
                                                                                 context))


# -- the SB3 policy --------------------------------------------------------------------------
@pytest.mark.slow
def test_sb3_policy_trains_across_datasets_and_guides_the_search(tmp_path):
    from hub_kernel.agents.strategy.env import load_policy, train_policy

    traces = synthetic_traces(6, seed=2)
    folder = train_policy(traces=traces, timesteps=1024, directory=tmp_path, seed=0)
    policy = load_policy(folder)
    assert policy is not None and policy.metadata["trained_on"][0] == "synthetic-0"
    probabilities = policy.action_probabilities(StrategyEnv(traces).reset(seed=0)[0])
    assert probabilities.shape == (STOP + 1,) and probabilities.sum() == pytest.approx(1.0)
    X, y = radial(8, n=120)
    result = PipelineSearch(budget=20, max_evaluations=9, policy=policy, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    assert len(result.evaluations) == 9
    obs = live_observation(np.zeros(14), {}, 0.5, 0.5, 1.0, 10.0)
    assert obs.shape == (OBSERVATION_SIZE,)


def test_ensemble_is_used_only_when_it_beats_the_best_alone():
    from hub_kernel.agents.strategy.agent import WeightedEnsemble

    X, y = radial(9, n=200)
    result = PipelineSearch(budget=30, max_evaluations=10, metric="accuracy",
                            warm_start=False).fit(X, y)
    if result.ensemble:
        assert isinstance(result.model, WeightedEnsemble)
        assert result.final_score > result.best.score
        assert sum(w for _, w in result.ensemble) == pytest.approx(1.0)
        assert len(result.ensemble) >= 2
    else:
        assert result.final_score == result.best.score
    assert set(result.predict(X.head(20))) <= {"in", "out"}
    alone = PipelineSearch(budget=30, max_evaluations=10, metric="accuracy", warm_start=False,
                           ensemble=False).fit(X, y)
    assert not alone.ensemble and alone.final_score == alone.best.score


def test_one_call_from_a_notebook_cell(tmp_path, models_home):
    """Choose analyses, run them and search models for a target, in one call."""
    X, y = radial(10, n=120)
    frame = X.assign(label=y)
    agent = StrategyAgent(tmp_path / "s", audit=False)
    report = agent.analyze(frame, "label", budget=3, n_jobs=1, name="circles")
    assert report.shown and set(report.results) <= set(report.shown)
    if "supervised_model" in report.results:
        assert report.search is not None and report.search.parent_run_id
    assert report.run_id is not None
    assert all(f.text for f in report.facts())
    asked = agent.analyze(frame, names=["summary"], track=False)
    assert list(asked.results) == ["summary"] and asked.run_id is None


def test_a_target_always_gets_the_model_and_its_predictors(tmp_path):
    from hub_kernel.agents.strategy.agent import StrategyAgent
    from hub_kernel.data import profile_dataset

    X, y = radial(4, n=120)
    frame = X.assign(label=y)
    agent = StrategyAgent()
    for _ in range(5):  # whatever the bandit draws
        choices = agent.choose_analyses(profile_dataset(frame), target="label", explore=True)
        shown = {c.name for c in choices if c.show}
        assert {"supervised_model", "feature_importance"} <= shown


def test_a_damaged_warm_start_file_does_not_stop_searches(tmp_path):
    import json

    from hub_kernel.agents.strategy.agent import MetaStore

    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"version": 1, "datasets": {"bad": {"key": "bad"}}}))
    assert MetaStore(path).load() == {}
    path.write_text("[]")
    assert MetaStore(path).load() == {}
