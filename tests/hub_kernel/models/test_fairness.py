"""Fairness of models: candidate sensitive columns, fairlearn metrics, and the promotion gate on
a real MLflow store (the agents' reward parity is tests/hub_kernel/safety/test_parity.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from hub_kernel.exceptions import FairnessError, RegistryStateError
from hub_kernel.models.fairness import (
    fairness_report,
    fairness_report_from_predictions,
    sensitive_candidates,
)


def people(n: int, seed: int, *, unfair: bool) -> pd.DataFrame:
    """Loan applications: ``approved`` depends on ``x``, and on ``sex`` when ``unfair``."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    x = rng.normal(size=n)
    bias = np.where(sex == "M", 1.25, -1.25) if unfair else 0.0
    score = x + bias + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "sex": sex, "age": rng.integers(18, 80, size=n),
                         "approved": np.where(score > 0, "yes", "no")})


def fitted(frame: pd.DataFrame, target: str = "approved"):
    """A logistic regression on x and sex (one-hot), fitted on ``frame``."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    columns = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["sex"]),
                                      ("passthrough", ["x"]))
    return make_pipeline(columns, LogisticRegression()).fit(frame, frame[target])


# -- candidates -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sex", "Gender_code", "applicant_age", "AGE", "race",
                                  "Ethnicity", "religion", "nationality", "MaritalStatus",
                                  "disability_flag", "date_of_birth", "is_female", "ages"])
def test_names_that_look_sensitive_are_candidates(name):
    assert sensitive_candidates([name]) == [name]


@pytest.mark.parametrize("name", ["page", "usage", "stage", "average", "message", "x",
                                  "colour", "language", "agent", "storage", "garage"])
def test_ordinary_names_are_not_candidates(name):
    assert sensitive_candidates([name]) == []


def test_candidates_come_from_a_frame_in_column_order():
    frame = people(20, 0, unfair=False)
    assert sensitive_candidates(frame) == ["sex", "age"]


# -- reports (no store) -----------------------------------------------------------------------


def test_an_unfair_classifier_fails_and_names_the_worst_group():
    train, rows = people(400, 0, unfair=True), people(400, 1, unfair=True)
    report = fairness_report(fitted(train), rows.drop(columns="approved"), rows["approved"],
                             ["sex"])
    assert report.task == "classification" and not report.passed
    assert report.decision == "fail" and report.threshold == 0.2
    assert report.metrics["demographic_parity_difference"] > 0.5
    assert report.worst_group in ("sex=F", "sex=M")
    assert "unfair across sex" in report.explanation and report.worst_group in report.explanation
    assert "demographic parity difference" in report.explanation
    groups = report.to_frame().set_index("group")
    assert set(groups.index) == {"F", "M"} and groups["judged"].all()
    assert groups.loc["M", "selection_rate"] - groups.loc["F", "selection_rate"] > 0.5
    assert groups["count"].sum() == 400
    payload = json.loads(json.dumps(report.to_dict()))  # JSON-able
    assert payload["decision"] == "fail" and payload["sensitive"] == ["sex"]


def test_a_fair_classifier_passes():
    train, rows = people(400, 0, unfair=False), people(400, 1, unfair=False)
    report = fairness_report(fitted(train), rows.drop(columns="approved"), rows["approved"],
                             ["sex"])
    assert report.passed, report.explanation
    assert report.metrics["demographic_parity_difference"] < 0.2
    assert report.metrics["equalized_odds_difference"] < 0.2
    assert report.explanation.startswith("fair across sex")


def test_a_numeric_attribute_is_binned_at_its_quartiles():
    train, rows = people(400, 0, unfair=False), people(400, 1, unfair=False)
    report = fairness_report(fitted(train), rows, rows["approved"], ["age", "sex"])
    assert list(report.by_attribute) == ["age", "sex"]
    assert len(report.bins["age"]) == 4 and report.bins["age"][0].startswith("18 to ")
    ages = report.groups[report.groups["attribute"] == "age"]
    assert len(ages) == 4 and ages["count"].sum() == 400
    assert any("quartiles" in note for note in report.notes)


def test_multiclass_is_judged_one_vs_rest_and_names_the_class():
    rng = np.random.default_rng(0)
    sex = pd.Series(rng.choice(["F", "M"], size=300))
    y_true = pd.Series(rng.choice(["a", "b", "c"], size=300))
    # M is never predicted "a": those rows go to "b" and "c" in turn
    other = pd.Series(np.where(np.arange(300) % 2, "b", "c"))
    y_pred = y_true.where(~((sex == "M") & (y_true == "a")), other)
    report = fairness_report_from_predictions(y_true, y_pred, sex.rename("sex"))
    assert not report.passed
    assert set(report.groups["class"]) == {"a"}
    assert "true-positive rate for 'a' is 0% for sex=M" in report.explanation
    assert report.by_attribute["sex"]["demographic_parity_difference"] > 0.2


def test_regression_gaps_are_standardized_by_the_target_spread():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "male": rng.integers(0, 2, size=n)})
    fair = 3 * frame["x"] + rng.normal(size=n)
    biased = fair + 4 * frame["male"]
    for y, passes in ((fair, True), (biased, False)):
        model = LinearRegression().fit(frame, y)
        report = fairness_report(model, frame, y, ["male"])
        assert report.task == "regression" and report.passed is passes, report.explanation
        assert set(report.metrics) == {"mean_prediction_difference",
                                       "mean_absolute_error_difference"}
    assert report.metrics["mean_prediction_difference"] > 0.5
    assert "mean prediction" in report.explanation


def test_small_groups_are_listed_but_not_judged():
    rows = people(200, 1, unfair=False)
    rows.loc[:4, "sex"] = "X"  # 5 rows only
    report = fairness_report(fitted(people(400, 0, unfair=False)), rows, rows["approved"],
                             ["sex"])
    judged = report.groups.set_index("group")["judged"]
    assert not judged["X"] and judged["F"] and judged["M"]
    assert any("X" in note and "not judged" in note for note in report.notes)


def test_one_group_cannot_be_judged_so_the_check_fails():
    rows = people(100, 1, unfair=False).assign(sex="F")
    report = fairness_report(fitted(people(400, 0, unfair=False)), rows, rows["approved"],
                             ["sex"])
    assert not report.passed and "cannot judge fairness across sex" in report.explanation
    assert math.isnan(report.metrics["demographic_parity_difference"])


def test_a_missing_sensitive_column_says_what_could_be_meant():
    rows = people(50, 1, unfair=False)
    with pytest.raises(FairnessError, match=r"'gender' not in the data.*possible sensitive "
                                            "columns: sex, age"):
        fairness_report(fitted(rows), rows, rows["approved"], ["gender"])
    with pytest.raises(FairnessError, match=r"pass \['sex'\]"):
        fairness_report(fitted(rows), rows, rows["approved"], "sex")


def test_the_threshold_comes_from_the_settings(hub_home, monkeypatch):
    from hub_kernel.core import config

    rows = people(400, 1, unfair=True)
    model = fitted(people(400, 0, unfair=True))
    monkeypatch.setenv("HUB_FAIRNESS_THRESHOLD", "0.95")
    config.reload_settings()
    report = fairness_report(model, rows, rows["approved"], ["sex"])
    assert report.threshold == 0.95 and report.passed
    assert not fairness_report(model, rows, rows["approved"], ["sex"], threshold=0.2).passed


# -- the promotion gate (real MLflow store) -------------------------------------------------


@pytest.fixture
def trainer(models_home):
    from hub_kernel.models import ModelTrainer

    return ModelTrainer(cv=3, n_jobs=1)


def _train(trainer, frame, estimator, **kwargs):
    return trainer.train_model_sync("loans", frame.drop(columns="age"), "approved",
                                    estimator=estimator, **kwargs)


def test_a_model_failing_the_fairness_gate_is_not_promoted(trainer):
    from hub_kernel.models.lifecycle.gate import run_gate
    from hub_kernel.safety.audit import AuditLog

    first = _train(trainer, people(300, 0, unfair=False), DummyClassifier(),
                   sensitive=["sex"])
    assert first.alias == "champion" and first.fairness_decision == "pass"
    # the world changed: approvals now depend on sex, and a new model learns it
    unfair = _train(trainer, people(300, 1, unfair=True), LogisticRegression())
    assert unfair.sensitive == ("sex",)  # inherited from the model's declaration
    assert unfair.fairness_decision == "fail" and unfair.alias == "challenger"
    assert any("cannot be promoted" in note for note in unfair.notes)

    registry = trainer.registry
    tags = registry.get_model_info("loans").version(unfair.version).tags
    assert tags["hub.fairness_decision"] == "fail" and json.loads(tags["hub.sensitive"]) == [
        "sex"]
    run = registry.client.get_run(tags["hub.fairness_run"])
    assert run.data.metrics["fairness.demographic_parity_difference"] > 0.5
    assert run.data.metrics["fairness.passed"] == 0.0

    holdout = people(300, 2, unfair=True)
    outcome = run_gate(registry, "loans", holdout.drop(columns="approved"),
                       holdout["approved"], mode="supervised")
    assert outcome.ab.decision == "promote"  # more accurate on the new world...
    assert outcome.action == "held"  # ...but unfair: not promoted, no crash
    assert "fairness" in outcome.explanation and "unfair across sex" in outcome.explanation
    assert registry.get_model_info("loans").champion == first.version
    entry = AuditLog().entries(agent="ab_gate")[-1]
    assert entry.action == f"held loans v{unfair.version}" and "fairness" in entry.explanation

    with pytest.raises(RegistryStateError, match="failed its fairness check") as refused:
        registry.promote("loans", unfair.version)
    assert "hub models fairness loans DATASET" in str(refused.value)
    assert "--override --reason" in str(refused.value)

    # a person may still decide otherwise; the audit entry says what was overridden
    registry.promote("loans", unfair.version, override=True, reason="legal reviewed",
                     approved_by="ana")
    assert registry.get_model_info("loans").champion == unfair.version
    promoted = AuditLog().entries(action="promote loans")[-1]
    assert "fairness: fail (sex), overridden" in promoted.explanation


def test_a_fair_challenger_passes_the_gate_and_is_promoted(trainer):
    from hub_kernel.models.lifecycle.gate import run_gate
    from hub_kernel.safety.audit import AuditLog

    _train(trainer, people(300, 0, unfair=False), DummyClassifier(), sensitive=["sex"])
    fair = _train(trainer, people(300, 1, unfair=False), LogisticRegression())
    assert fair.fairness_decision == "pass", fair.fairness.explanation
    holdout = people(300, 2, unfair=False)
    outcome = run_gate(trainer.registry, "loans", holdout.drop(columns="approved"),
                       holdout["approved"], mode="supervised")
    assert outcome.action == "promoted", outcome.explanation
    assert trainer.registry.get_model_info("loans").champion == fair.version
    promoted = AuditLog().entries(action="promote loans")[-1]
    assert "fairness: pass (sex)" in promoted.explanation


def test_a_first_version_failing_fairness_does_not_become_champion(trainer):
    unfair = _train(trainer, people(300, 1, unfair=True), LogisticRegression(),
                    sensitive=["sex"])
    info = trainer.registry.get_model_info("loans")
    assert unfair.alias == "challenger" and info.champion is None
    assert info.challenger == unfair.version
    # the next, fair version is the first that may lead
    fair = _train(trainer, people(300, 0, unfair=False), LogisticRegression())
    assert fair.alias == "champion"


def test_a_version_without_declared_attributes_is_not_gated(trainer):
    plain = _train(trainer, people(300, 1, unfair=True), LogisticRegression())
    assert plain.sensitive == () and plain.fairness is None and plain.alias == "champion"
    assert any("possible sensitive columns: sex" in note for note in plain.notes)
    assert trainer.registry.fairness_block("loans", plain.version) is None


def test_declared_columns_must_exist(trainer):
    with pytest.raises(FairnessError, match=r"'gender' not in X.*possible sensitive columns: "
                                            "sex"):
        _train(trainer, people(60, 1, unfair=False), LogisticRegression(),
               sensitive=["gender"])
    with pytest.raises(FairnessError, match="target 'approved' cannot be a sensitive"):
        _train(trainer, people(60, 1, unfair=False), LogisticRegression(),
               sensitive=["approved"])


def test_a_fairness_check_on_new_rows_is_logged_tagged_and_audited(trainer):
    from hub_kernel.models.fairness_log import log_fairness
    from hub_kernel.safety.audit import AuditLog

    result = _train(trainer, people(300, 0, unfair=False), LogisticRegression())
    registry = trainer.registry
    rows = people(300, 3, unfair=False)
    model = registry.load_model("loans", version=result.version)
    report = fairness_report(model, rows, rows["approved"], ["sex", "age"])
    run_id = log_fairness(report, name="loans", version=result.version, registry=registry)

    run = registry.client.get_run(run_id)
    assert run.data.tags["hub.kind"] == "fairness" and run.info.status == "FINISHED"
    assert "fairness.sex.demographic_parity_difference" in run.data.metrics
    assert "fairness.age.equalized_odds_difference" in run.data.metrics
    info = registry.get_model_info("loans")
    tags = info.version(result.version).tags
    assert tags["hub.fairness_decision"] == report.decision
    assert tags["hub.fairness_run"] == run_id
    assert json.loads(info.tags["hub.sensitive"]) == ["sex", "age"]  # declared on the model
    entry = AuditLog().entries(agent="fairness_check")[-1]
    assert entry.action == f"fairness {report.decision} loans v{result.version}"
    # the next version inherits both declarations
    later = _train(trainer, people(300, 4, unfair=False).assign(age=rows["age"]),
                   LogisticRegression())
    assert later.sensitive == ("sex", "age")


def test_a_declared_attribute_missing_from_the_data_blocks_promotion(trainer):
    _train(trainer, people(300, 0, unfair=False), LogisticRegression(), sensitive=["sex"])
    frame = people(300, 1, unfair=False).drop(columns="sex")
    result = _train(trainer, frame, LogisticRegression())
    assert result.fairness_decision == "not checked"
    block = trainer.registry.fairness_block("loans", result.version)
    assert block and "not run" in block and "sex" in block
