"""The agents' reward parity per user group: a starved group is flagged and audited."""

from __future__ import annotations

import numpy as np
import pytest

from hub_kernel.exceptions import FairnessError
from hub_kernel.safety import RewardParity


def test_a_starved_user_group_is_flagged_and_audited(hub_home):
    from hub_kernel.safety.audit import AuditLog

    rng = np.random.default_rng(0)
    parity = RewardParity(threshold=0.1, min_count=30)
    for _ in range(100):
        parity.record("expert", rng.normal(0.6, 0.15), explored=rng.random() < 0.1)
        parity.record("novice", rng.normal(0.35, 0.15), explored=rng.random() < 0.6)
        parity.record("regular", rng.normal(0.57, 0.15), explored=rng.random() < 0.1)
    report = parity.check(mode="supervised")
    assert report.starved == ("novice",) and report.best == "expert" and not report.passed
    frame = report.to_frame().set_index("group")
    assert frame.loc["novice", "count"] == 100
    assert frame.loc["novice", "explored_share"] > frame.loc["expert", "explored_share"]
    assert not frame.loc["regular", "starved"]  # a small gap is not starvation
    assert "'novice' is starved" in report.explanation
    entry = AuditLog().entries(agent="reward_parity")[-1]
    assert entry.action == "flag reward parity: novice starved" and entry.mode == "supervised"


def test_an_even_split_and_too_few_rewards_are_not_flagged(hub_home):
    from hub_kernel.safety.audit import AuditLog

    rng = np.random.default_rng(1)
    even = RewardParity(threshold=0.1, min_count=30)
    even.extend([(g, rng.normal(0.5, 0.2)) for _ in range(200) for g in ("a", "b", "c")])
    assert even.check().passed
    few = RewardParity(threshold=0.1, min_count=30)
    few.extend({"a": [0.9] * 40, "b": [0.1] * 5})  # a big gap, but only 5 rewards for b
    report = few.check()
    assert report.passed and "too few rewards to judge b" in report.explanation
    assert AuditLog().entries(agent="reward_parity") == []


def test_rewards_must_be_finite_numbers():
    parity = RewardParity()
    with pytest.raises(FairnessError, match="not finite"):
        parity.record("a", float("nan"))
    with pytest.raises(FairnessError, match="not a number"):
        parity.record("a", "high")
