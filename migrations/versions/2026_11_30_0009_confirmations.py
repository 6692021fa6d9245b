"""Single-use remediation confirmations, and the chat a silence was made in (what a chat sees).

Revision ID: 0009_confirmations
Revises: 0008_replicas
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_confirmations"
down_revision = "0008_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_remediation_confirmations",
        sa.Column("token", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("asked_by_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=True),
        sa.Column("answer", sa.String(16), nullable=True),
    )
    op.create_index("ix_ops_remediation_confirmations_expires", "ops_remediation_confirmations", ["expires_at"])
    with op.batch_alter_table("ops_silences") as batch:
        batch.add_column(sa.Column("chat_id", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_silences") as batch:
        batch.drop_column("chat_id")
    op.drop_index("ix_ops_remediation_confirmations_expires", "ops_remediation_confirmations")
    op.drop_table("ops_remediation_confirmations")
