"""The browser console: one-time login links and sessions, stored by the SHA-256 of their secret.

Revision ID: 0015_console
Revises: 0014_quiet_hours
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_console"
down_revision = "0014_quiet_hours"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_console_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_ops_console_tokens_expires", "ops_console_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ops_console_tokens_expires", table_name="ops_console_tokens")
    op.drop_table("ops_console_tokens")
