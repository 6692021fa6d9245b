"""Heartbeat pings and detector memory (previous scrapes).

Revision ID: 0002_pings_and_memory
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_pings_and_memory"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_pings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=True),
    )
    op.create_index("ix_ops_pings_detector_ts", "ops_pings", ["detector", "ts"])
    op.create_table(
        "ops_detector_memory",
        sa.Column("detector", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("state_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ops_detector_memory")
    op.drop_index("ix_ops_pings_detector_ts", "ops_pings")
    op.drop_table("ops_pings")
