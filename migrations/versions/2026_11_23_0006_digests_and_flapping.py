"""Storm digests (one message for many notifications) and flap detection.

Revision ID: 0006_digests_and_flapping
Revises: 0005_silences
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_digests_and_flapping"
down_revision = "0005_silences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_digests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.BigInteger, nullable=True),
        sa.Column("page", sa.Integer, nullable=False, server_default="0"),
    )
    with op.batch_alter_table("ops_outbox") as batch:
        batch.add_column(sa.Column("digest_id", sa.Integer, nullable=True))
        batch.create_index("ix_ops_outbox_digest", ["digest_id"])
    with op.batch_alter_table("ops_alert_state") as batch:
        batch.add_column(sa.Column("state_changes", sa.Text, nullable=True))
        batch.add_column(sa.Column("flapping_since", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_alert_state") as batch:
        batch.drop_column("flapping_since")
        batch.drop_column("state_changes")
    with op.batch_alter_table("ops_outbox") as batch:
        batch.drop_index("ix_ops_outbox_digest")
        batch.drop_column("digest_id")
    op.drop_table("ops_digests")
