"""A board is pinned, or not yet: a leader that stopped between sending the board and pinning it leaves the
pin to the next (which would otherwise see the board's text current and do nothing).

Revision ID: 0016_board_pinned
Revises: 0015_console
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_board_pinned"
down_revision = "0015_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ops_boards") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.text("true")))


def downgrade() -> None:
    with op.batch_alter_table("ops_boards") as batch:
        batch.drop_column("pinned")
