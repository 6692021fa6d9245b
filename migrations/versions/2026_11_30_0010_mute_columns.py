"""What mutes an alert becomes two typed columns (it was three keys of the incident's extras), and queued
outbox rows of the old free-text kinds become the typed notifications that replace them.

Revision ID: 0010_mute_columns
Revises: 0009_confirmations
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010_mute_columns"
down_revision = "0009_confirmations"
branch_labels = None
depends_on = None

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    return float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", text)))


def _mute(extras: dict[str, Any], flapping: bool) -> tuple[str | None, str | None]:
    """`flapping`: its alert state still says so (the old `flapping` key was never cleared when it settled)."""
    if extras.get("inhibited_by"):
        return "inhibited", str(extras["inhibited_by"])[:200]
    silenced = str(extras.get("silenced_by") or "")
    if silenced.startswith("silence "):
        return "silenced", silenced.removeprefix("silence ")[:200]
    if silenced.startswith("maintenance window ("):
        return "maintenance", silenced.removeprefix("maintenance window (").split(",")[0][:200]
    if extras.get("flapping") and flapping:
        return "flapping", ""
    return None, None


def _notification(kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """An old queued row as its typed notification; None when it cannot be read."""
    if kind == "raised":
        return kind, {"previous": payload.get("from") or "info"}
    if kind == "flapping" and payload.get("settled"):
        return "settled", {"firing": False}
    if kind != "note":
        return kind, payload
    text = str(payload.get("text") or "")
    if m := re.match(r"⏫ Unacknowledged for (.+)$", text):
        return "escalated", {"after": _seconds(m.group(1))}
    if text.startswith("🔔 The silence has ended"):
        return "unmuted", {"mute": "silenced"}
    if m := re.match(r"🔁 .+ after (\S+): (passes now ✅|still failing) — (.*)$", text, re.S):
        return "rechecked", {"action": m.group(1), "passes": m.group(2) != "still failing", "message": m.group(3)}
    if m := re.match(r"⏸ auto-remediation paused: (\d+) runs in the last hour \((\S+)\)", text):
        return "paused", {"action": m.group(2), "runs": int(m.group(1))}
    return None


def upgrade() -> None:
    # Plain ADD COLUMN (not a batch copy of the table): the view vw_ops_health reads this table.
    op.add_column("ops_alerts_history", sa.Column("muted", sa.String(16), nullable=True))
    op.add_column("ops_alerts_history", sa.Column("muted_by", sa.String(200), nullable=True))
    conn = op.get_bind()
    history = sa.table(
        "ops_alerts_history",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("fingerprint", sa.String),
        sa.column("extras_json", sa.Text),
        sa.column("muted", sa.String),
        sa.column("muted_by", sa.String),
    )
    state = sa.table("ops_alert_state", sa.column("fingerprint", sa.String), sa.column("flapping_since", sa.DateTime))
    flapping = set(conn.execute(sa.select(state.c.fingerprint).where(state.c.flapping_since.is_not(None))).scalars())
    opened = sa.select(history.c.id, history.c.fingerprint, history.c.extras_json).where(history.c.status != "resolved")
    for row in conn.execute(opened).all():
        extras = json.loads(row.extras_json or "{}")
        muted, by = _mute(extras, row.fingerprint in flapping)
        for key in ("inhibited_by", "silenced_by", "flapping"):
            extras.pop(key, None)
        conn.execute(
            sa.update(history)
            .where(history.c.id == row.id)
            .values(muted=muted, muted_by=by, extras_json=json.dumps(extras))
        )
    outbox = sa.table(
        "ops_outbox",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("payload_json", sa.Text),
        sa.column("status", sa.String),
        sa.column("last_error", sa.Text),
    )
    queued = conn.execute(
        sa.select(outbox.c.id, outbox.c.kind, outbox.c.payload_json).where(outbox.c.status.in_(("pending", "sending")))
    )
    for row in queued.all():
        typed = _notification(row.kind, json.loads(row.payload_json or "{}"))
        if typed is None:
            values: dict[str, Any] = {"status": "failed", "last_error": "queued by an older version: unreadable"}
        else:
            values = {"kind": typed[0], "payload_json": json.dumps(typed[1])}
        conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), for the same reason.
    op.execute("ALTER TABLE ops_alerts_history DROP COLUMN muted_by")
    op.execute("ALTER TABLE ops_alerts_history DROP COLUMN muted")
