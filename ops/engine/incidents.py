"""Incident rows and their events: create, resolve, reopen, acknowledge, read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.model import Actor, Incident, IncidentStatus
from ops.notify.types import CardRefresh, Notification, Resolved
from ops.storage.clean import actor_name
from ops.storage.incident_rows import incident_from_row
from ops.storage.mutex import MUTEX_ENGINE, serialize
from ops.storage.outbox import chats_with_alert, enqueue
from ops.storage.tables import alert_events, alert_state, alerts_history
from ops.timeutil import Clock, utcnow


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
    conn: AsyncConnection, incident_id: int, notification: Notification, now: datetime
) -> int:
    """Queue `notification` for every chat that has the alert's card (a reply to it, or an edit)."""
    return await enqueue(conn, await chats_with_alert(conn, incident_id), notification, now, incident_id)


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
            await enqueue_for_alert_chats(conn, incident_id, CardRefresh(), now)
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
            await enqueue_for_alert_chats(conn, incident_id, CardRefresh(), now)
            incident = await load_incident(conn, incident_id)
        self._notify()
        return AckResult(AckOutcome.done, incident)

    async def resolve_retired(self, sources: list[str], message: str) -> list[int]:
        """Resolve the open incidents of detectors (or SLOs, `slo:<name>`) that left the config: the chats
        that have a card get the resolved notification with `message`, as when a check passes."""
        if not sources:
            return []
        now = self.clock()
        resolved: list[int] = []
        async with self.db.begin() as conn:
            await serialize(conn, MUTEX_ENGINE)  # not while the engine writes these incidents
            rows = await conn.execute(
                select(alerts_history.c.id, alerts_history.c.fingerprint).where(
                    alerts_history.c.source.in_(sources), alerts_history.c.status != "resolved"
                )
            )
            for row in rows.all():
                await conn.execute(
                    update(alerts_history)
                    .where(alerts_history.c.id == row.id)
                    .values(status="resolved", resolved_at=now, resolved_by="config", last_seen_at=now)
                )
                await conn.execute(
                    update(alert_state)
                    .where(alert_state.c.incident_id == row.id)
                    .values(incident_id=None, last_incident_id=row.id, last_resolved_at=now, consecutive_failures=0)
                )
                await enqueue_for_alert_chats(conn, row.id, Resolved(message=message), now)
                await record_event(
                    conn, "resolved", now, incident_id=row.id, fingerprint=row.fingerprint, detail=message
                )
                resolved.append(row.id)
        if resolved:
            self._notify()
        return resolved

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
