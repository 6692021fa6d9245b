"""An incident's timeline: every step, with its time and actor, read from what each step wrote in its own
transaction — the alerts' events (fired, reminded, escalated, acknowledged, remediation, resolved, …), the
incident's own (joined, notes, people's messages) and the cards Telegram accepted (notified). Nothing is
kept twice, so a crash between a step and its entry cannot lose the entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.incidents.read import IncidentGroup
from ops.storage.outbox import ALERT
from ops.storage.tables import alert_events, outbox

# Events that are not steps of the incident: refused presses, button presses (the step they lead to is
# its own event), housekeeping.
_NOT_STEPS = ("refused", "caught_up")
_RENAMED = {"deduplicated": "reopened", "remediation_success": "remediation_succeeded"}
PEOPLE = ("note", "message")  # entries people wrote


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # joined, fired, notified, reminded, escalated, acknowledged, silenced, remediation_…, note, …
    actor: str | None  # a person's name, or None for the system
    detector: str | None  # the alert's detector, when the entry is about one alert
    alert_id: int | None
    chat_id: int | None
    detail: str

    @property
    def by_person(self) -> bool:
        return self.kind in PEOPLE

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor": self.actor,
            "detector": self.detector,
            "alert_id": self.alert_id,
            "chat_id": self.chat_id,
            "detail": self.detail,
        }


async def timeline(conn: AsyncConnection, group: IncidentGroup) -> list[Entry]:
    """Every entry of `group`, oldest first."""
    alert_ids = [a.id for a in group.alerts]
    sources = {a.id: a.source for a in group.alerts}
    entries: list[Entry] = []
    where = alert_events.c.group_id == group.id
    if alert_ids:
        where = or_(where, alert_events.c.incident_id.in_(alert_ids))
    rows = await conn.execute(select(alert_events).where(where).order_by(alert_events.c.ts, alert_events.c.id))
    for r in rows:
        if r.event in _NOT_STEPS or r.event.startswith("pressed:"):
            continue
        entries.append(
            Entry(
                at=r.ts,
                kind=_RENAMED.get(r.event, r.event),
                actor=r.actor,
                detector=sources.get(r.incident_id),
                alert_id=r.incident_id,
                chat_id=r.chat_id,
                detail=r.detail or "",
            )
        )
    if alert_ids:
        cards = await conn.execute(
            select(outbox.c.incident_id, outbox.c.chat_id, outbox.c.sent_at).where(
                outbox.c.incident_id.in_(alert_ids), outbox.c.kind == ALERT, outbox.c.status == "sent"
            )
        )
        for c in cards:
            entries.append(Entry(c.sent_at, "notified", None, sources.get(c.incident_id), c.incident_id, c.chat_id, ""))
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "joined" else 1))
    return entries
