"""Silences.

Revision ID: 0005_silences
Revises: 0004_slo_daily
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_silences"
down_revision = "0004_slo_daily"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_by_id", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=True),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("expired_at", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ops_silences")
