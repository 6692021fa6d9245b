"""Quiet hours: a digest says what it is (`storm`: many alerts at once; `overnight`: what quiet hours held).

Outbox rows held for the morning digest use the existing `status` column (`held`), with
`next_attempt_at` the end of the quiet period.

Revision ID: 0014_quiet_hours
Revises: 0013_oncall
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_quiet_hours"
down_revision = "0013_oncall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ops_digests") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="storm"))


def downgrade() -> None:
    with op.batch_alter_table("ops_digests") as batch:
        batch.drop_column("kind")
