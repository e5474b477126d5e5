"""Safety: the audit trail of autonomous decisions, staged rollouts, and whether the agents'
rewards starve a group of users (``parity``). The fairness of models (a promotion gate) is
``hub_kernel.models.fairness``: safety sits below models and never imports them."""

from __future__ import annotations

from hub_kernel.safety.audit import AuditEntry, AuditLog, Verification, log_decision
from hub_kernel.safety.parity import GroupReward, RewardParity, RewardParityReport
from hub_kernel.safety.rollout import (
    Rollout,
    RolloutError,
    RolloutStatus,
    in_force,
)

__all__ = [
    "AuditEntry",
    "AuditLog",
    "GroupReward",
    "RewardParity",
    "RewardParityReport",
    "Rollout",
    "RolloutError",
    "RolloutStatus",
    "Verification",
    "in_force",
    "log_decision",
]
