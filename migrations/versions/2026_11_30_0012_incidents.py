"""Incidents: alerts grouped by their route's `group_by` (or their `depends_on` parent), a timeline entry
per step (the alert events, with the incident's own: joined, notes, messages), forum topics and boards.

Revision ID: 0012_incidents
Revises: 0011_config_reloads
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_incidents"
down_revision = "0011_config_reloads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("group_key", sa.String(400), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
    )
    op.create_index("ix_ops_incidents_key", "ops_incidents", ["group_key", "opened_at"])
    op.create_table(
        "ops_incident_topics",
        sa.Column("group_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("thread_id", sa.BigInteger, nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.Integer, nullable=True),
    )
    op.create_index("ix_ops_incident_topics_thread", "ops_incident_topics", ["chat_id", "thread_id"])
    op.create_table(
        "ops_boards",
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.BigInteger, nullable=True),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("edited_at", sa.DateTime, nullable=True),
    )
    # Plain ADD COLUMN (not a batch copy of the table): the view vw_ops_health reads ops_alerts_history.
    for table, index in (
        ("ops_alerts_history", "ix_ops_alerts_group"),
        ("ops_alert_events", "ix_ops_alert_events_group"),
    ):
        op.add_column(table, sa.Column("group_id", sa.Integer, nullable=True))
        op.create_index(index, table, ["group_id"])


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), for the same reason.
    for table, index in (
        ("ops_alert_events", "ix_ops_alert_events_group"),
        ("ops_alerts_history", "ix_ops_alerts_group"),
    ):
        op.drop_index(index, table)
        op.execute(f"ALTER TABLE {table} DROP COLUMN group_id")
    op.drop_table("ops_boards")
    op.drop_index("ix_ops_incident_topics_thread", "ops_incident_topics")
    op.drop_table("ops_incident_topics")
    op.drop_index("ix_ops_incidents_key", "ops_incidents")
    op.drop_table("ops_incidents")
