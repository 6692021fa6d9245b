"""Escalation: a firing, unacknowledged alert climbs to ADMIN_CHAT_IDS after `after`, then again
every `repeat`. The admins get the same card (so an Ack anywhere edits every copy) and a reply
`⏫ Unacknowledged for 10m`. When it escalated last is read from the alert's events."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import EscalationPolicy
from ops.engine.incidents import record_event
from ops.model import Severity
from ops.settings import Settings
from ops.storage.outbox import chats_with_alert, enqueue
from ops.storage.tables import alert_events, alerts_history
from ops.timeutil import Clock, format_duration


class Escalator:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        config: CurrentConfig,
        clock: Clock,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.clock = clock
        self.on_enqueue = on_enqueue

    @property
    def policies(self) -> dict[Severity, EscalationPolicy]:
        return dict(self.current.config.escalation)

    async def run(self) -> list[int]:
        if not self.policies or not self.settings.admin_chat_ids:
            return []
        now = self.clock()
        escalated: list[int] = []
        async with self.db.begin() as conn:
            rows = (await conn.execute(select(alerts_history).where(alerts_history.c.status == "firing"))).all()
            for row in rows:
                policy = self.policies.get(Severity(row.severity))
                extras = json.loads(row.extras_json or "{}")
                if policy is None or extras.get("inhibited_by") or extras.get("silenced_by"):
                    continue
                age = (now - row.created_at).total_seconds()
                if age < policy.after:
                    continue
                last = await conn.scalar(
                    select(func.max(alert_events.c.ts)).where(
                        alert_events.c.incident_id == row.id, alert_events.c.event == "escalated"
                    )
                )
                if last is not None and (policy.repeat is None or (now - last).total_seconds() < policy.repeat):
                    continue
                have = set(await chats_with_alert(conn, row.id))
                for chat_id in dict.fromkeys(self.settings.admin_chat_ids):
                    if chat_id not in have:
                        await enqueue(
                            conn,
                            chat_id=chat_id,
                            kind="alert",
                            now=now,
                            incident_id=row.id,
                            payload={"escalated": True},
                        )
                    await enqueue(
                        conn,
                        chat_id=chat_id,
                        kind="note",
                        now=now,
                        incident_id=row.id,
                        payload={"text": f"⏫ Unacknowledged for {format_duration(age)}"},
                    )
                await record_event(
                    conn,
                    "escalated",
                    now,
                    incident_id=row.id,
                    fingerprint=row.fingerprint,
                    detail=f"to {len(self.settings.admin_chat_ids)} admin chat(s) after {format_duration(age)}",
                )
                escalated.append(row.id)
        if escalated and self.on_enqueue is not None:
            self.on_enqueue()
        return escalated
