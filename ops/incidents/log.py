"""What the bot and the API ask of incidents: list and read them with their timelines, add people's notes
and the messages they write in an incident's topic or as a reply to its card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.incidents.read import IncidentGroup, load_group, load_groups, open_group_ids
from ops.incidents.stats import ResponseTimes, response_times
from ops.incidents.timeline import Entry, timeline
from ops.model import Actor
from ops.storage.clean import actor_name
from ops.storage.tables import alert_events, alerts_history, incident_topics, incidents, outbox
from ops.timeutil import Clock, utcnow

NOTE_LIMIT = 3000  # characters of a note or message kept (a timeline entry, not an archive)


@dataclass(frozen=True)
class IncidentRecord:
    incident: IncidentGroup
    timeline: list[Entry]


class IncidentLog:
    def __init__(self, db: AsyncEngine, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def open(self) -> list[IncidentGroup]:
        """Open incidents, oldest first."""
        async with self.db.connect() as conn:
            ids = await open_group_ids(conn)
            groups = await load_groups(conn, ids)
        return [groups[i] for i in ids if i in groups]

    async def recent(self, *, status: str = "all", limit: int = 50, before: int | None = None) -> list[IncidentGroup]:
        """Incidents newest first: `open`, `resolved` or `all`; `before` an id pages back."""
        async with self.db.connect() as conn:
            if status == "open":
                ids = sorted(await open_group_ids(conn), reverse=True)
                ids = [i for i in ids if before is None or i < before][:limit]
                groups = await load_groups(conn, ids)
                return [groups[i] for i in ids if i in groups]
            found: list[IncidentGroup] = []
            cursor = before
            while len(found) < limit:
                query = select(incidents.c.id).order_by(incidents.c.id.desc()).limit(max(limit, 50))
                if cursor is not None:
                    query = query.where(incidents.c.id < cursor)
                ids = [int(r.id) for r in await conn.execute(query)]
                if not ids:
                    break
                groups = await load_groups(conn, ids)
                for i in ids:
                    group = groups.get(i)
                    if group is not None and (status == "all" or not group.is_open):
                        found.append(group)
                cursor = ids[-1]
            return found[:limit]

    async def get(self, incident_id: int) -> IncidentRecord | None:
        async with self.db.connect() as conn:
            group = await load_group(conn, incident_id)
            if group is None:
                return None
            return IncidentRecord(group, await timeline(conn, group))

    async def note(self, incident_id: int, actor: Actor, text: str, chat_id: int | None = None) -> bool:
        """A person's note on the timeline (`/note`); False when there is no such incident."""
        return await self._entry("note", incident_id, actor, text, chat_id)

    async def said(
        self, chat_id: int, thread_id: int | None, reply_to: int | None, actor: Actor, text: str
    ) -> int | None:
        """A message a person wrote in an incident's topic, or as a reply to one of its cards, joins its
        timeline; returns the incident's id (None: the message is about no incident)."""
        async with self.db.begin() as conn:
            incident_id = await self._incident_of_message(conn, chat_id, thread_id, reply_to)
            if incident_id is None:
                return None
            await _write(conn, "message", incident_id, actor, text, chat_id, self.clock())
        return incident_id

    async def response_times(self, since: datetime, until: datetime) -> ResponseTimes:
        """MTTA and MTTR per detector and overall, of what started between `since` and `until`."""
        async with self.db.connect() as conn:
            return await response_times(conn, since, until)

    async def topic_incident(self, chat_id: int, thread_id: int) -> int | None:
        async with self.db.connect() as conn:
            return await _topic_incident(conn, chat_id, thread_id)

    async def _entry(self, kind: str, incident_id: int, actor: Actor, text: str, chat_id: int | None) -> bool:
        async with self.db.begin() as conn:
            if await conn.scalar(select(incidents.c.id).where(incidents.c.id == incident_id)) is None:
                return False
            await _write(conn, kind, incident_id, actor, text, chat_id, self.clock())
        return True

    async def _incident_of_message(
        self, conn: AsyncConnection, chat_id: int, thread_id: int | None, reply_to: int | None
    ) -> int | None:
        if thread_id is not None and (found := await _topic_incident(conn, chat_id, thread_id)) is not None:
            return found
        if reply_to is None:
            return None
        # A reply to a card (or to any message the bot sent about an alert): its row names the alert. The
        # patterns match the id as a whole element of the JSON list the outbox writes, so newer cards whose
        # ids merely contain its digits are not candidates; the JSON check below is the exact one.
        rows = await conn.execute(
            select(outbox.c.incident_id, outbox.c.message_ids)
            .where(
                outbox.c.chat_id == chat_id,
                outbox.c.status == "sent",
                outbox.c.incident_id.is_not(None),
                or_(*(outbox.c.message_ids.like(p) for p in _element_patterns(int(reply_to)))),
            )
            .order_by(outbox.c.id.desc())
        )
        for row in rows:
            if int(reply_to) in json.loads(row.message_ids or "[]"):
                group = await conn.scalar(
                    select(alerts_history.c.group_id).where(alerts_history.c.id == row.incident_id)
                )
                return int(group) if group is not None else None
        return None


def _element_patterns(message_id: int) -> tuple[str, ...]:
    """LIKE patterns for `message_id` as one element of a list serialized by `json.dumps` ("[1, 2]", see
    `ops.storage.outbox`): alone, first, in the middle, last. None of `[`, `,`, digits is a LIKE wildcard."""
    n = str(message_id)
    return (f"[{n}]", f"[{n},%", f"%, {n},%", f"%, {n}]")


async def _topic_incident(conn: AsyncConnection, chat_id: int, thread_id: int) -> int | None:
    value = await conn.scalar(
        select(incident_topics.c.group_id).where(
            incident_topics.c.chat_id == chat_id, incident_topics.c.thread_id == thread_id
        )
    )
    return int(value) if value is not None else None


async def _write(
    conn: AsyncConnection, kind: str, incident_id: int, actor: Actor, text: str, chat_id: int | None, now: datetime
) -> None:
    await conn.execute(
        insert(alert_events).values(
            ts=now,
            incident_id=None,
            fingerprint=None,
            event=kind,
            actor_id=actor.id,
            actor=actor_name(actor.name),
            chat_id=chat_id,
            detail=text.strip()[:NOTE_LIMIT],
            group_id=incident_id,
        )
    )
