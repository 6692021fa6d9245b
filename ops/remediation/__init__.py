"""Remediation: real actions (sql, shell, http, notify_admin, python), run with retries, one at a time
per action, every attempt audited in ops_remediation_history."""

from ops.remediation.confirmations import Confirmations, Redeemed, Verdict
from ops.remediation.runner import RemediationRunner, RunView, StartOutcome

__all__ = ["Confirmations", "Redeemed", "RemediationRunner", "RunView", "StartOutcome", "Verdict"]
