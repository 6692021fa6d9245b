"""Initial schema: check results, alert state, alerts history, events, remediation, outbox, views.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# The only dialect difference: "now minus an interval" in the health view.
_AGO = {
    "sqlite": "datetime('now', '-{n} hours')",
    "postgresql": "((now() AT TIME ZONE 'utc') - interval '{n} hours')",
}


def _ago(hours: int) -> str:
    return _AGO[op.get_bind().dialect.name].format(n=hours)


def upgrade() -> None:
    op.create_table(
        "ops_check_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_check_results_detector_ts", "ops_check_results", ["detector", "key", "ts"])
    op.create_index("ix_ops_check_results_ts", "ops_check_results", ["ts"])

    op.create_table(
        "ops_alert_state",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, server_default=""),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_check_at", sa.DateTime, nullable=True),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("last_incident_id", sa.Integer, nullable=True),
        sa.Column("last_resolved_at", sa.DateTime, nullable=True),
    )

    op.create_table(
        "ops_alerts_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, server_default=""),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("extras_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_notified_at", sa.DateTime, nullable=True),
        sa.Column("acknowledged_at", sa.DateTime, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", sa.DateTime, nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        sa.Column("notification_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_ops_alerts_created", "ops_alerts_history", ["created_at"])
    op.create_index("ix_ops_alerts_fingerprint", "ops_alerts_history", ["fingerprint"])
    op.create_index("ix_ops_alerts_status", "ops_alerts_history", ["status"])

    op.create_table(
        "ops_alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ops_alerts_history.id"), nullable=True),
        sa.Column("fingerprint", sa.String(32), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.BigInteger, nullable=True),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("chat_id", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_alert_events_incident", "ops_alert_events", ["incident_id"])
    op.create_index("ix_ops_alert_events_ts", "ops_alert_events", ["ts"])

    op.create_table(
        "ops_remediation_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("triggered_at", sa.DateTime, nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("ops_alerts_history.id"), nullable=True),
        sa.Column("action_name", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("output", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_remed_triggered", "ops_remediation_history", ["triggered_at"])

    op.create_table(
        "ops_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ops_alerts_history.id"), nullable=True),
        sa.Column("payload_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("message_ids", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_outbox_pending", "ops_outbox", ["status", "chat_id", "id"])
    op.create_index("ix_ops_outbox_incident", "ops_outbox", ["incident_id", "chat_id"])

    # The views of the marketplace plan opsbot grew from (docs/choices.md). Violations count incidents opened per
    # day by that plan's detector names.
    op.execute(
        """
        CREATE VIEW vw_slo_daily AS
        SELECT
            DATE(created_at) AS d,
            COUNT(*) FILTER (WHERE severity = 'error') AS errors_total,
            COUNT(*) FILTER (WHERE severity = 'critical') AS critical_total,
            COUNT(*) FILTER (WHERE source LIKE 'api_latency%') AS api_latency_violations,
            COUNT(*) FILTER (WHERE source LIKE 'ingest_success%') AS ingest_violations,
            COUNT(*) FILTER (WHERE source LIKE 'scheduler_on_time%') AS scheduler_violations
        FROM ops_alerts_history
        GROUP BY DATE(created_at)
        """
    )
    op.execute(
        f"""
        CREATE VIEW vw_ops_health AS
        SELECT
            (SELECT COUNT(*) FROM ops_alerts_history
              WHERE created_at >= {_ago(1)}) AS alerts_last_hour,
            (SELECT COUNT(*) FROM ops_alerts_history
              WHERE severity = 'critical' AND created_at >= {_ago(24)}) AS critical_last_24h,
            (SELECT COUNT(*) FROM ops_remediation_history
              WHERE triggered_at >= {_ago(1)}) AS remediations_last_hour,
            (SELECT COUNT(*) FROM ops_remediation_history
              WHERE status = 'failed' AND triggered_at >= {_ago(24)}) AS remediation_failures_24h
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS vw_ops_health")
    op.execute("DROP VIEW IF EXISTS vw_slo_daily")
    op.drop_table("ops_outbox")
    op.drop_table("ops_remediation_history")
    op.drop_table("ops_alert_events")
    op.drop_table("ops_alerts_history")
    op.drop_table("ops_alert_state")
    op.drop_index("ix_ops_check_results_ts", "ops_check_results")
    op.drop_index("ix_ops_check_results_detector_ts", "ops_check_results")
    op.drop_table("ops_check_results")
