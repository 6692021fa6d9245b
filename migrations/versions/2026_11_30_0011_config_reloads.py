"""Config reloads: each config a replica took by a reload, so the other replicas reload theirs too.

Revision ID: 0011_config_reloads
Revises: 0010_mute_columns
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_config_reloads"
down_revision = "0010_mute_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_config_reloads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("reloaded_at", sa.DateTime, nullable=False),
        sa.Column("replica", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ops_config_reloads")
