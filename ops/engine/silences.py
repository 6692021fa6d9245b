"""Silences and maintenance windows: both answer one question, `mute_reason(alert) -> str | None`.

A muted alert is still recorded (event `silenced`) but sends nothing. When its silence ends while
it still fires, one notification says so: the card if it was never sent, otherwise a reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import MaintenanceWindow, OpsConfig
from ops.detectors.cron import next_run_after, parse_cron
from ops.engine.incidents import enqueue_for_alert_chats, record_event
from ops.engine.routing import Router
from ops.model import Actor, Severity
from ops.storage.clean import actor_name
from ops.storage.outbox import chats_with_alert, enqueue
from ops.storage.tables import alerts_history, silences
from ops.timeutil import Clock, format_duration


@dataclass(frozen=True)
class Silence:
    id: int
    kind: str  # detector | fingerprint | label
    label: str | None
    value: str
    ends_at: datetime | None
    incident_id: int | None
    reason: str | None
    created_by: str | None
    created_at: datetime

    def matches(self, detector: str, fingerprint: str, labels: dict[str, str]) -> bool:
        if self.kind == "detector":
            return detector == self.value
        if self.kind == "fingerprint":
            return fingerprint.startswith(self.value)
        return self.label is not None and labels.get(self.label) == self.value

    @property
    def target(self) -> str:
        if self.kind == "fingerprint":
            return f"#{self.value[:8]}"
        if self.kind == "label":
            return f"{self.label}={self.value}"
        return self.value

    def until(self, now: datetime) -> str:
        if self.ends_at is None:
            return "until resolved"
        return f"for {format_duration((self.ends_at - now).total_seconds())} more"


def _silence(r: Any) -> Silence:
    return Silence(r.id, r.kind, r.label, r.value, r.ends_at, r.incident_id, r.reason, r.created_by, r.created_at)


class SilenceService:
    def __init__(
        self,
        db: AsyncEngine,
        config: CurrentConfig,
        router: Router,
        clock: Clock,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.current = config
        self.router = router
        self.clock = clock
        self.on_enqueue = on_enqueue

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    @property
    def windows(self) -> list[tuple[MaintenanceWindow, Any]]:
        """The maintenance windows of the config loaded now, their crons parsed once per config."""
        return self.current.derived("maintenance", lambda c: [(w, parse_cron(w.cron, w.tz)) for w in c.maintenance])

    async def active(self, conn: AsyncConnection | None = None) -> list[Silence]:
        now = self.clock()
        resolved = select(alerts_history.c.id).where(alerts_history.c.status == "resolved")
        query = (
            select(silences)
            .where(
                silences.c.expired_at.is_(None),
                or_(silences.c.ends_at.is_(None), silences.c.ends_at > now),
                or_(silences.c.incident_id.is_(None), silences.c.incident_id.not_in(resolved)),
            )
            .order_by(silences.c.id)
        )
        if conn is not None:
            return [_silence(r) for r in await conn.execute(query)]
        async with self.db.connect() as c:
            return [_silence(r) for r in await c.execute(query)]

    def maintenance(self, detector: str, now: datetime) -> str | None:
        for window, trigger in self.windows:
            if detector not in window.detectors:
                continue
            start = next_run_after(trigger, now - timedelta(seconds=window.duration))
            if start is not None and start <= now:
                return f"maintenance window ({window.cron}, {format_duration(window.duration)})"
        return None

    async def muter(self, conn: AsyncConnection) -> Callable[[str, str, dict[str, str]], str | None]:
        """`mute_reason` for many alerts at once: the active silences are read once."""
        active = await self.active(conn)
        now = self.clock()

        def reason(detector: str, fingerprint: str, labels: dict[str, str]) -> str | None:
            window = self.maintenance(detector, now)
            if window:
                return window
            for silence in active:
                if silence.matches(detector, fingerprint, labels):
                    return f"silence {silence.id}"
            return None

        return reason

    async def mute_reason(
        self, conn: AsyncConnection, detector: str, fingerprint: str, labels: dict[str, str]
    ) -> str | None:
        window = self.maintenance(detector, self.clock())
        if window:
            return window
        for silence in await self.active(conn):
            if silence.matches(detector, fingerprint, labels):
                return f"silence {silence.id}"
        return None

    async def create(
        self,
        *,
        kind: str,
        value: str,
        label: str | None,
        seconds: float | None,
        incident_id: int | None,
        reason: str,
        actor: Actor,
    ) -> tuple[Silence, int]:
        """A new silence; open alerts it matches go quiet at once. Returns it and how many it muted."""
        now = self.clock()
        muted = 0
        async with self.db.begin() as conn:
            res = await conn.execute(
                insert(silences).values(
                    created_at=now,
                    created_by=actor_name(actor.name),
                    created_by_id=actor.id,
                    kind=kind,
                    label=label,
                    value=value,
                    ends_at=now + timedelta(seconds=seconds) if seconds else None,
                    incident_id=incident_id,
                    reason=reason,
                )
            )
            silence_id = int(res.inserted_primary_key[0])
            row = (await conn.execute(select(silences).where(silences.c.id == silence_id))).one()
            silence = _silence(row)
            for incident in (
                await conn.execute(select(alerts_history).where(alerts_history.c.status != "resolved"))
            ).all():
                labels = self._labels(incident.source)
                if not silence.matches(incident.source, incident.fingerprint, labels):
                    continue
                extras = json.loads(incident.extras_json or "{}")
                if extras.get("silenced_by"):
                    continue
                extras["silenced_by"] = f"silence {silence_id}"
                await conn.execute(
                    update(alerts_history)
                    .where(alerts_history.c.id == incident.id)
                    .values(extras_json=json.dumps(extras))
                )
                await record_event(
                    conn,
                    "silenced",
                    now,
                    incident_id=incident.id,
                    actor=actor,
                    detail=f"silence {silence_id}: {reason}",
                )
                await enqueue_for_alert_chats(conn, incident.id, "refresh", now)
                muted += 1
        self._notify()
        return silence, muted

    async def expire(self, silence_id: int, actor: Actor) -> bool:
        async with self.db.begin() as conn:
            res = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
                .values(expired_at=self.clock(), reason=silences.c.reason + f" (ended by {actor_name(actor.name)})")
            )
        return res.rowcount == 1

    async def release(self) -> list[int]:
        """Muted alerts whose silence or window has ended and that still fire: one notification each."""
        now = self.clock()
        released: list[int] = []
        async with self.db.begin() as conn:
            for row in (await conn.execute(select(alerts_history).where(alerts_history.c.status != "resolved"))).all():
                extras = json.loads(row.extras_json or "{}")
                if not extras.get("silenced_by"):
                    continue
                if await self.mute_reason(conn, row.source, row.fingerprint, self._labels(row.source)):
                    continue
                extras["silenced_by"] = None
                await conn.execute(
                    update(alerts_history)
                    .where(alerts_history.c.id == row.id)
                    .values(
                        extras_json=json.dumps(extras),
                        last_notified_at=now,
                        notification_count=row.notification_count + 1,
                    )
                )
                if await chats_with_alert(conn, row.id):
                    await enqueue_for_alert_chats(conn, row.id, "refresh", now)
                    await enqueue_for_alert_chats(
                        conn, row.id, "note", now, {"text": "🔔 The silence has ended and this alert still fires."}
                    )
                else:
                    detector = self.config.detector(row.source)
                    labels = dict(detector.labels) if detector is not None else {}
                    for chat_id in self.router.chats(row.source, Severity(row.severity), labels, row.key):
                        await enqueue(conn, chat_id=chat_id, kind="alert", now=now, incident_id=row.id)
                await record_event(conn, "unsilenced", now, incident_id=row.id, fingerprint=row.fingerprint)
                released.append(row.id)
        if released:
            self._notify()
        return released

    def _labels(self, source: str) -> dict[str, str]:
        detector = self.config.detector(source)
        return dict(detector.labels) if detector is not None else {}

    def _notify(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()
