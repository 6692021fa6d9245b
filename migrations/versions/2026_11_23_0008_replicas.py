"""Several replicas on one PostgreSQL database: who is alive, who claimed what, the shared send budget.

Revision ID: 0008_replicas
Revises: 0007_check_hourly
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_replicas"
down_revision = "0007_check_hourly"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_replicas",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("leader_since", sa.DateTime, nullable=True),
    )
    op.create_table(
        "ops_sends",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("replica", sa.Integer, nullable=False),
    )
    op.create_index("ix_ops_sends_at", "ops_sends", ["at"])
    op.create_index("ix_ops_sends_chat", "ops_sends", ["chat_id", "at"])
    op.create_table(
        "ops_chat_blocks",
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("until", sa.DateTime, nullable=False),
    )
    with op.batch_alter_table("ops_outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Integer, nullable=True))
    with op.batch_alter_table("ops_remediation_runs") as batch:
        batch.add_column(sa.Column("replica", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_remediation_runs") as batch:
        batch.drop_column("replica")
    with op.batch_alter_table("ops_outbox") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("ops_chat_blocks")
    op.drop_index("ix_ops_sends_chat", "ops_sends")
    op.drop_index("ix_ops_sends_at", "ops_sends")
    op.drop_table("ops_sends")
    op.drop_table("ops_replicas")
