"""On call: people who can be paged in private, overrides, handoffs announced, escalation steps taken.

Revision ID: 0013_oncall
Revises: 0012_incidents
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_oncall"
down_revision = "0012_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_people",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("blocked_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "ops_oncall_overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("starts_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_ops_oncall_overrides_schedule", "ops_oncall_overrides", ["schedule", "status", "ends_at"])
    op.create_table(
        "ops_oncall_handoffs",
        sa.Column("schedule", sa.String(64), primary_key=True),
        sa.Column("shift_start", sa.DateTime, primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("announced_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "ops_escalation_steps",
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_at", sa.DateTime, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
        sa.Column("times", sa.Integer, nullable=False, server_default="1"),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ops_escalation_steps")
    op.drop_table("ops_oncall_handoffs")
    op.drop_index("ix_ops_oncall_overrides_schedule", "ops_oncall_overrides")
    op.drop_table("ops_oncall_overrides")
    op.drop_table("ops_people")
