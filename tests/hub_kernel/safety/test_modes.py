"""Autonomy modes per domain: what each agent may apply, and what it only proposes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hub_kernel.exceptions import ModeError
from hub_kernel.safety.modes import DOMAINS, Controls, governed


@pytest.fixture
def domains(monkeypatch):
    """Set HUB_AUTONOMOUS_DOMAINS for one test."""
    from hub_kernel.core import config

    def set_domains(*names: str) -> None:
        monkeypatch.setenv("HUB_AUTONOMOUS_DOMAINS", json.dumps(list(names)))
        config.reload_settings()

    yield set_domains
    monkeypatch.undo()
    config.reload_settings()


def test_each_domain_follows_the_mode(hub_home, domains):
    domains("layout", "report")
    for domain in DOMAINS:
        assert not Controls.applies_directly("assisted", domain)
        assert Controls.applies_directly("supervised", domain)
    applied = {d for d in DOMAINS if Controls.applies_directly("autonomous", d)}
    assert applied == {"layout", "report"}


def test_unknown_domains_and_modes_are_refused_with_the_known_ones(hub_home):
    with pytest.raises(ModeError, match="unknown agent domain 'charts'; domains: layout, "
                                        "analysis, report, model"):
        Controls.applies_directly("supervised", "charts")
    with pytest.raises(ModeError, match="unknown autonomy mode 'wild'"):
        Controls.applies_directly("wild", "layout")


def test_applies_reads_the_mode_set_for_that_user_and_dashboard(hub_home):
    controls = Controls()
    controls.set_mode("supervised", user="ann", dashboard="dash-1")
    assert controls.applies("analysis", user="ann", dashboard="dash-1")
    assert not controls.applies("analysis", user="bob", dashboard="dash-1")  # the default
    assert not controls.applies("analysis", user="ann", dashboard="dash-2")


def test_governed_choice_applies_or_keeps_what_is_shown_and_proposes_the_rest(hub_home,
                                                                            domains):
    current, wanted = ["summary", "trend", "outliers"], ["summary", "segments", "trend"]
    applied = governed("supervised", "analysis", current, wanted)
    assert applied.applied and applied.shown == ("summary", "segments", "trend")
    assert not applied.proposed

    kept = governed("assisted", "analysis", current, wanted, pinned=["clustering"])
    assert not kept.applied
    assert kept.shown == ("clustering", "summary", "trend", "outliers")
    assert kept.add == ("segments",) and kept.drop == ("outliers",)
    assert kept.proposed

    domains("layout")
    assert not governed("autonomous", "analysis", current, wanted).applied
    domains("layout", "analysis")
    assert governed("autonomous", "analysis", current, wanted).applied
    # nothing shown before: the agent's choice starts the dashboard whatever the mode
    first = governed("assisted", "analysis", None, wanted, pinned=["outliers"])
    assert first.applied and first.shown == ("outliers", "summary", "segments", "trend")


# -- the model gate ----------------------------------------------------------------------------
def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n),
                         "label": np.where(x + 0.2 * rng.normal(size=n) > 0, "yes", "no")})


@pytest.fixture
def challenged(models_home):
    """A model whose champion guesses the majority and whose challenger learned the rule."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    from hub_kernel.models import ModelTrainer

    trainer = ModelTrainer(cv=3, n_jobs=1)
    first = trainer.train_model_sync("rule", _rows(200, 0), "label",
                                     estimator=DummyClassifier())
    second = trainer.train_model_sync("rule", _rows(200, 1), "label",
                                      estimator=LogisticRegression())
    assert first.alias == "champion" and second.alias == "challenger"
    return trainer.registry, first.version, second.version


def _gate(registry, mode=None):
    from hub_kernel.models.lifecycle.gate import run_gate

    holdout = _rows(300, 2)
    return run_gate(registry, "rule", holdout.drop(columns="label"), holdout["label"],
                    mode=mode)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "autonomous_domains", "action"), [
    ("assisted", ("layout", "model"), "proposed"),
    ("autonomous", ("layout",), "proposed"),
    ("autonomous", ("layout", "model"), "promoted"),
    ("supervised", (), "promoted"),
])
def test_the_gate_promotes_only_where_the_model_domain_applies(challenged, domains, mode,
                                                               autonomous_domains, action):
    from hub_kernel.safety.audit import AuditLog

    registry, champion, challenger = challenged
    domains(*autonomous_domains)
    outcome = _gate(registry, mode)
    assert outcome.ab.decision == "promote"
    assert outcome.action == action, outcome.explanation
    expected = challenger if action == "promoted" else champion
    assert registry.get_model_info("rule").champion == expected
    decided = [e for e in AuditLog().entries(agent="ab_gate")
               if e.action == f"{action} rule v{challenger}"]
    assert len(decided) == 1 and decided[0].mode == mode
    if action == "proposed":
        assert f"hub models promote rule {challenger}" in outcome.explanation
    if mode == "autonomous" and action == "proposed":
        assert "not in HUB_AUTONOMOUS_DOMAINS" in outcome.explanation


@pytest.mark.slow
def test_the_gate_follows_the_mode_set_for_everyone(challenged):
    registry, _, challenger = challenged
    Controls().set_mode("supervised")  # `hub mode set supervised`; the setting says assisted
    outcome = _gate(registry)
    assert outcome.mode == "supervised" and outcome.action == "promoted"
    assert registry.get_model_info("rule").champion == challenger


def test_a_viewer_lowers_their_mode_but_never_raises_it_above_the_operators(hub_home):
    from hub_kernel.exceptions import AuthorityError
    from hub_kernel.safety.audit import AuditLog

    controls = Controls()
    controls.set_mode("supervised", dashboard="dash-1")  # `hub mode set --dashboard dash-1`
    controls.choose_mode("assisted", user="bob", dashboard="dash-1")  # lower: fine
    assert controls.mode(user="bob", dashboard="dash-1") == "assisted"
    with pytest.raises(AuthorityError, match="bob may not raise the agents' mode to "
                                             "autonomous here: an operator set supervised"):
        controls.choose_mode("autonomous", user="bob", dashboard="dash-1")
    refused = AuditLog().entries(action="refused set mode")[-1]
    assert refused.approved_by == "bob" and "an operator set supervised" in refused.explanation
    assert controls.mode(user="bob", dashboard="dash-1") == "assisted"
    controls.choose_mode("supervised", user="bob", dashboard="dash-1")  # back up to the cap
    assert controls.mode(user="bob", dashboard="dash-1") == "supervised"
    # the operator lowers the dashboard: the viewer's choice no longer counts above it
    controls.set_mode("assisted", dashboard="dash-1")
    assert controls.mode(user="bob", dashboard="dash-1") == "assisted"
    # where no operator set anything, a viewer's choice stands
    controls.choose_mode("autonomous", user="bob", dashboard="dash-2")
    assert controls.mode(user="bob", dashboard="dash-2") == "autonomous"


def test_modes_a_page_set_before_become_the_viewers_own_capped_choice(hub_home):
    """Before, a page's user+dashboard mode was stored with the operators' and beat them; it
    is migrated to that viewer's own choice, which an operator's mode caps."""
    import sqlite3

    from hub_kernel.safety.store import default_path

    controls = Controls()
    controls.set_mode("supervised", dashboard="d")
    with sqlite3.connect(default_path()) as db:  # what the old page wrote
        db.execute("INSERT INTO modes VALUES ('bob', 'd', 'autonomous', 'bob', 't')")
        db.execute("DELETE FROM mode_migrations")
    assert Controls().mode(user="bob", dashboard="d") == "supervised"
    assert [(c.user, c.mode) for c in Controls().choices()] == [("bob", "autonomous")]
    assert [(m.user, m.dashboard) for m in Controls().modes()] == [("*", "d")]
