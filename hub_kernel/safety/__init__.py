"""Safety: the audit trail of autonomous decisions (autonomy modes, overrides and fairness
grow here)."""

from __future__ import annotations

from hub_kernel.safety.audit import AuditEntry, AuditLog, Verification, log_decision

__all__ = ["AuditEntry", "AuditLog", "Verification", "log_decision"]
