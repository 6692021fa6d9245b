"""Incident rows and their events: create, resolve, reopen, acknowledge, read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.model import Actor, Incident, IncidentStatus, Severity
from ops.storage.clean import actor_name
from ops.storage.outbox import chats_with_alert, enqueue
from ops.storage.tables import alert_events, alerts_history
from ops.timeutil import Clock, utcnow


def incident_from_row(r: Any) -> Incident:
    return Incident(
        id=r.id,
        fingerprint=r.fingerprint,
        source=r.source,
        key=r.key,
        severity=Severity(r.severity),
        message=r.message,
        status=IncidentStatus(r.status),
        opened_at=r.created_at,
        last_notified_at=r.last_notified_at,
        acknowledged_at=r.acknowledged_at,
        acknowledged_by=r.acknowledged_by,
        resolved_at=r.resolved_at,
        resolved_by=r.resolved_by,
        notification_count=r.notification_count,
        extras=json.loads(r.extras_json or "{}"),
    )


async def record_event(
    conn: AsyncConnection,
    event: str,
    now: datetime,
    *,
    incident_id: int | None = None,
    fingerprint: str | None = None,
    actor: Actor | None = None,
    chat_id: int | None = None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        insert(alert_events).values(
            ts=now,
            incident_id=incident_id,
            fingerprint=fingerprint,
            event=event,
            actor_id=actor.id if actor else None,
            actor=actor_name(actor.name) if actor else None,
            chat_id=chat_id,
            detail=detail,
        )
    )


async def load_incident(conn: AsyncConnection, incident_id: int) -> Incident | None:
    row = (await conn.execute(select(alerts_history).where(alerts_history.c.id == incident_id))).first()
    return incident_from_row(row) if row else None


async def enqueue_for_alert_chats(
    conn: AsyncConnection,
    incident_id: int,
    kind: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> int:
    chats = await chats_with_alert(conn, incident_id)
    for chat_id in chats:
        await enqueue(conn, chat_id=chat_id, kind=kind, now=now, incident_id=incident_id, payload=payload)
    return len(chats)


class AckOutcome(str, Enum):
    done = "done"
    not_found = "not_found"
    already = "already"
    resolved = "resolved"
    not_acknowledged = "not_acknowledged"


@dataclass(frozen=True)
class AckResult:
    outcome: AckOutcome
    incident: Incident | None


class IncidentService:
    """What people do to incidents (through the bot or the CLI): acknowledge and unacknowledge."""

    def __init__(self, db: AsyncEngine, clock: Clock = utcnow, on_enqueue: Any = None) -> None:
        self.db = db
        self.clock = clock
        self.on_enqueue = on_enqueue

    async def get(self, incident_id: int) -> Incident | None:
        async with self.db.connect() as conn:
            return await load_incident(conn, incident_id)

    async def find_by_fingerprint(self, prefix: str) -> Incident | None:
        """The newest incident whose fingerprint starts with `prefix` (the `#a1b2c3d4` users see)."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(alerts_history)
                    .where(alerts_history.c.fingerprint.like(f"{prefix}%"))
                    .order_by(alerts_history.c.id.desc())
                    .limit(1)
                )
            ).first()
        return incident_from_row(row) if row else None

    async def acknowledge(self, incident_id: int, actor: Actor, chat_id: int | None = None) -> AckResult:
        now = self.clock()
        async with self.db.begin() as conn:
            incident = await load_incident(conn, incident_id)
            if incident is None:
                return AckResult(AckOutcome.not_found, None)
            if incident.status is IncidentStatus.resolved:
                return AckResult(AckOutcome.resolved, incident)
            if incident.status is IncidentStatus.acknowledged:
                return AckResult(AckOutcome.already, incident)
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == incident_id)
                .values(status="acknowledged", acknowledged_at=now, acknowledged_by=actor_name(actor.name))
            )
            await record_event(
                conn,
                "acknowledged",
                now,
                incident_id=incident_id,
                fingerprint=incident.fingerprint,
                actor=actor,
                chat_id=chat_id,
            )
            await enqueue_for_alert_chats(conn, incident_id, "refresh", now)
            incident = await load_incident(conn, incident_id)
        self._notify()
        return AckResult(AckOutcome.done, incident)

    async def unacknowledge(self, incident_id: int, actor: Actor, chat_id: int | None = None) -> AckResult:
        now = self.clock()
        async with self.db.begin() as conn:
            incident = await load_incident(conn, incident_id)
            if incident is None:
                return AckResult(AckOutcome.not_found, None)
            if incident.status is IncidentStatus.resolved:
                return AckResult(AckOutcome.resolved, incident)
            if incident.status is not IncidentStatus.acknowledged:
                return AckResult(AckOutcome.not_acknowledged, incident)
            # Reminders start counting again from now.
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == incident_id)
                .values(
                    status="firing",
                    acknowledged_at=None,
                    acknowledged_by=None,
                    last_notified_at=now,
                )
            )
            await record_event(
                conn,
                "unacknowledged",
                now,
                incident_id=incident_id,
                fingerprint=incident.fingerprint,
                actor=actor,
                chat_id=chat_id,
            )
            await enqueue_for_alert_chats(conn, incident_id, "refresh", now)
            incident = await load_incident(conn, incident_id)
        self._notify()
        return AckResult(AckOutcome.done, incident)

    async def record(
        self,
        event: str,
        actor: Actor,
        *,
        incident_id: int | None = None,
        chat_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        async with self.db.begin() as conn:
            await record_event(
                conn,
                event,
                self.clock(),
                incident_id=incident_id,
                actor=actor,
                chat_id=chat_id,
                detail=detail,
            )

    def _notify(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()
