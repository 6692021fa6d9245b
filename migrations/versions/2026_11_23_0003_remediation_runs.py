"""Remediation runs and the per-action lock that keeps one run at a time.

Revision ID: 0003_remediation_runs
Revises: 0002_pings_and_memory
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_remediation_runs"
down_revision = "0002_pings_and_memory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_remediation_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("output", sa.Text, nullable=True),
    )
    op.create_index("ix_ops_remediation_runs_incident", "ops_remediation_runs", ["incident_id"])
    op.create_index("ix_ops_remediation_runs_action", "ops_remediation_runs", ["action", "started_at"])
    op.create_table(
        "ops_remediation_locks",
        sa.Column("action", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ops_remediation_locks")
    op.drop_index("ix_ops_remediation_runs_action", "ops_remediation_runs")
    op.drop_index("ix_ops_remediation_runs_incident", "ops_remediation_runs")
    op.drop_table("ops_remediation_runs")
