"""Safety: the audit trail of autonomous decisions, and fairness checks of models (a promotion
gate) and of the agents' rewards per user group (autonomy modes and overrides grow here)."""

from __future__ import annotations

from hub_kernel.models.lifecycle.fairness import (
    FairnessError,
    FairnessReport,
    GroupReward,
    RewardParity,
    RewardParityReport,
    fairness_report,
    fairness_report_from_predictions,
    log_fairness,
    sensitive_candidates,
)
from hub_kernel.safety.audit import AuditEntry, AuditLog, Verification, log_decision
from hub_kernel.safety.rollout import (
    Rollout,
    RolloutError,
    RolloutStatus,
    in_force,
)

__all__ = [
    "AuditEntry",
    "AuditLog",
    "FairnessError",
    "FairnessReport",
    "GroupReward",
    "RewardParity",
    "RewardParityReport",
    "Rollout",
    "RolloutError",
    "RolloutStatus",
    "Verification",
    "fairness_report",
    "fairness_report_from_predictions",
    "in_force",
    "log_decision",
    "log_fairness",
    "sensitive_candidates",
]
