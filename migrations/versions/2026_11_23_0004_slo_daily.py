"""SLO daily history; vw_slo_daily gains per-SLO good/total; an index for SLI aggregates.

Revision ID: 0004_slo_daily
Revises: 0003_remediation_runs
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_slo_daily"
down_revision = "0003_remediation_runs"
branch_labels = None
depends_on = None

_ALERTS_BY_DAY = """
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


def upgrade() -> None:
    op.create_table(
        "ops_slo_daily",
        sa.Column("d", sa.Date, primary_key=True),
        sa.Column("slo", sa.String(64), primary_key=True),
        sa.Column("good", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_ops_check_results_sli", "ops_check_results", ["detector", "ts", "ok"])
    op.execute("DROP VIEW IF EXISTS vw_slo_daily")
    # One row per day and SLO (slo NULL on days with alerts but no SLO data); the first columns repeat.
    op.execute(
        f"""
        CREATE VIEW vw_slo_daily AS
        WITH a AS ({_ALERTS_BY_DAY})
        SELECT a.d, a.errors_total, a.critical_total, a.api_latency_violations, a.ingest_violations,
               a.scheduler_violations, s.slo, s.good AS slo_good, s.total AS slo_total
        FROM a LEFT JOIN ops_slo_daily s ON s.d = a.d
        UNION ALL
        SELECT s.d, 0, 0, 0, 0, 0, s.slo, s.good, s.total
        FROM ops_slo_daily s WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.d = s.d)
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS vw_slo_daily")
    op.execute(f"CREATE VIEW vw_slo_daily AS {_ALERTS_BY_DAY}")
    op.drop_index("ix_ops_check_results_sli", "ops_check_results")
    op.drop_table("ops_slo_daily")
