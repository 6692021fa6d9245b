"""Confirmations of remediations with `confirm: true`: the ✅ Yes button carries a random single-use token.

A token is bound to what was asked — the incident, the action, the chat — and is good once, for
`CONFIRM_TTL` (5 minutes), and only while that alert still fires: a forged payload, an old ✅ Yes
pressed after its alert resolved, or a second press, run nothing. Rows live in
`ops_remediation_confirmations`; those expired a day ago are pruned as new ones are asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.storage.tables import alert_events, alerts_history, remediation_confirmations
from ops.timeutil import Clock

CONFIRM_TTL = 300.0  # seconds a question's ✅ Yes stays good
TOKEN_BYTES = 16  # 22 URL-safe characters: `c1:yes:<token>` is 29 bytes of Telegram's 64


class Verdict(str, Enum):
    ok = "ok"
    unknown = "unknown"  # no such token (forged, or pruned long ago)
    elsewhere = "elsewhere"  # asked in another chat
    used = "used"  # answered already (Yes or Cancel)
    expired = "expired"
    resolved = "resolved"  # the alert resolved after the question was asked


@dataclass(frozen=True)
class Redeemed:
    verdict: Verdict
    incident_id: int | None = None
    action: str | None = None


class Confirmations:
    def __init__(self, db: AsyncEngine, clock: Clock, ttl: float = CONFIRM_TTL) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl

    async def ask(self, incident_id: int, action: str, chat_id: int, asked_by: int | None) -> str:
        """A new question: its token, to put in the Yes / Cancel buttons."""
        now = self.clock()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.db.begin() as conn:
            await conn.execute(
                delete(remediation_confirmations).where(
                    remediation_confirmations.c.expires_at < now - timedelta(days=1)
                )
            )
            await conn.execute(
                insert(remediation_confirmations).values(
                    token=token,
                    incident_id=incident_id,
                    action=action,
                    chat_id=chat_id,
                    asked_by_id=asked_by,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.ttl),
                )
            )
        return token

    async def redeem(self, token: str, chat_id: int, answer: str) -> Redeemed:
        """Use a token up (`answer` is `yes` or `no`). Only `Verdict.ok` means: do what it asked."""
        now = self.clock()
        async with self.db.begin() as conn:
            row = (
                await conn.execute(select(remediation_confirmations).where(remediation_confirmations.c.token == token))
            ).first()
            if row is None:
                return Redeemed(Verdict.unknown)
            asked = Redeemed(Verdict.ok, row.incident_id, row.action)
            if row.chat_id != chat_id:
                return Redeemed(Verdict.elsewhere, row.incident_id, row.action)
            if row.used_at is not None:
                return Redeemed(Verdict.used, row.incident_id, row.action)
            if now >= row.expires_at:
                return Redeemed(Verdict.expired, row.incident_id, row.action)
            claimed = await conn.execute(
                update(remediation_confirmations)
                .where(remediation_confirmations.c.token == token, remediation_confirmations.c.used_at.is_(None))
                .values(used_at=now, answer=answer)
            )
            if claimed.rowcount != 1:  # another press (or replica) answered it a moment ago
                return Redeemed(Verdict.used, row.incident_id, row.action)
            if answer == "yes" and await self._resolved_since(conn, row.incident_id, row.created_at):
                return Redeemed(Verdict.resolved, row.incident_id, row.action)
        return asked

    @staticmethod
    async def _resolved_since(conn: AsyncConnection, incident_id: int, asked_at: datetime) -> bool:
        """Resolved now, or resolved (and perhaps reopened) since the question was asked."""
        status = await conn.scalar(select(alerts_history.c.status).where(alerts_history.c.id == incident_id))
        if status is None or status == "resolved":
            return True
        resolved = await conn.scalar(
            select(alert_events.c.id)
            .where(
                alert_events.c.incident_id == incident_id,
                alert_events.c.event == "resolved",
                alert_events.c.ts >= asked_at,
            )
            .limit(1)
        )
        return resolved is not None
