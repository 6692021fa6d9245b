"""Hourly rollup of check results (fast SLO windows over a long history), backfilled; a partial
index on open incidents.

Revision ID: 0007_check_hourly
Revises: 0006_digests_and_flapping
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_check_hourly"
down_revision = "0006_digests_and_flapping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_check_hourly",
        sa.Column("detector", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime, primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("good", sa.Integer, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        hour = "strftime('%Y-%m-%d %H:00:00.000000', ts)"
        good = "SUM(CASE WHEN ok THEN 1 ELSE 0 END)"
    else:
        hour = "date_trunc('hour', ts)"
        good = "SUM(CASE WHEN ok THEN 1 ELSE 0 END)"
    op.execute(
        f"INSERT INTO ops_check_hourly (detector, hour, total, good) "
        f"SELECT detector, {hour}, COUNT(*), {good} FROM ops_check_results GROUP BY detector, {hour}"
    )

    op.create_index(
        "ix_ops_alerts_open",
        "ops_alerts_history",
        ["id"],
        sqlite_where=sa.text("status != 'resolved'"),
        postgresql_where=sa.text("status != 'resolved'"),
    )


def downgrade() -> None:
    op.drop_index("ix_ops_alerts_open", "ops_alerts_history")
    op.drop_table("ops_check_hourly")
