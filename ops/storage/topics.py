"""Incidents' forum topics (`ops_incident_topics`) and the pinned boards of open incidents (`ops_boards`).

A topic row is claimed before the topic is created: the insert fails on the (incident, chat) key when
another replica claimed it first, so two replicas sending about one incident at once never open two
topics. The claim's `thread_id` stays NULL until Telegram has created the topic; a claim left NULL for
long belongs to a replica that died mid-way and may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.storage.tables import boards, incident_topics, outbox


@dataclass(frozen=True)
class TopicRow:
    group_id: int
    chat_id: int
    thread_id: int | None  # None while a replica is creating it
    name: str
    closed: bool
    created_at: datetime
    claimed_by: int | None


@dataclass(frozen=True)
class BoardRow:
    chat_id: int
    message_id: int | None
    text: str
    edited_at: datetime | None
    pinned: bool


class TopicStore:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def get(self, group_id: int, chat_id: int) -> TopicRow | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(incident_topics).where(
                        incident_topics.c.group_id == group_id, incident_topics.c.chat_id == chat_id
                    )
                )
            ).first()
        return TopicRow(**row._mapping) if row is not None else None

    async def claim(self, group_id: int, chat_id: int, name: str, now: datetime, replica: int) -> bool:
        """Take the right to create this incident's topic in this chat; False when another has it."""
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(incident_topics).values(
                        group_id=group_id,
                        chat_id=chat_id,
                        thread_id=None,
                        name=name,
                        closed=False,
                        created_at=now,
                        claimed_by=replica,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def take_over(self, group_id: int, chat_id: int, older_than: datetime) -> bool:
        """Drop a claim whose creator never finished (it died mid-way); True when there was one."""
        async with self.db.begin() as conn:
            res = await conn.execute(
                delete(incident_topics).where(
                    incident_topics.c.group_id == group_id,
                    incident_topics.c.chat_id == chat_id,
                    incident_topics.c.thread_id.is_(None),
                    incident_topics.c.created_at < older_than,
                )
            )
        return bool(res.rowcount)

    async def opened(self, group_id: int, chat_id: int, thread_id: int, name: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(incident_topics)
                .where(incident_topics.c.group_id == group_id, incident_topics.c.chat_id == chat_id)
                .values(thread_id=thread_id, name=name, closed=False)
            )

    async def release(self, group_id: int, chat_id: int) -> None:
        """Creating the topic failed: the claim goes, so the next attempt (any replica's) claims again."""
        async with self.db.begin() as conn:
            await conn.execute(
                delete(incident_topics).where(
                    incident_topics.c.group_id == group_id,
                    incident_topics.c.chat_id == chat_id,
                    incident_topics.c.thread_id.is_(None),
                )
            )

    async def drop(self, group_id: int, chat_id: int, thread_id: int) -> None:
        """The topic is gone (deleted in Telegram): the incident gets a new one."""
        async with self.db.begin() as conn:
            await conn.execute(
                delete(incident_topics).where(
                    incident_topics.c.group_id == group_id,
                    incident_topics.c.chat_id == chat_id,
                    incident_topics.c.thread_id == thread_id,
                )
            )

    async def set_state(
        self, group_id: int, chat_id: int, *, name: str | None = None, closed: bool | None = None
    ) -> None:
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if closed is not None:
            values["closed"] = closed
        if not values:
            return
        async with self.db.begin() as conn:
            await conn.execute(
                update(incident_topics)
                .where(incident_topics.c.group_id == group_id, incident_topics.c.chat_id == chat_id)
                .values(**values)
            )

    async def threads(self, chat_id: int, group_ids: list[int]) -> dict[int, int]:
        """incident id → its topic's thread id in this chat (those that have one)."""
        found: dict[int, int] = {}
        async with self.db.connect() as conn:
            for start in range(0, len(group_ids), 500):
                rows = await conn.execute(
                    select(incident_topics.c.group_id, incident_topics.c.thread_id).where(
                        incident_topics.c.chat_id == chat_id,
                        incident_topics.c.group_id.in_(group_ids[start : start + 500]),
                        incident_topics.c.thread_id.is_not(None),
                    )
                )
                found.update({int(r.group_id): int(r.thread_id) for r in rows})
        return found


class BoardStore:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def get(self, chat_id: int) -> BoardRow | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(boards).where(boards.c.chat_id == chat_id))).first()
        return BoardRow(**row._mapping) if row is not None else None

    async def save(
        self, chat_id: int, message_id: int, text: str, edited_at: datetime, *, pinned: bool | None = None
    ) -> None:
        """`pinned` None: as it is (an edit does not change whether the board is pinned)."""
        values: dict[str, object] = {"message_id": message_id, "text": text, "edited_at": edited_at}
        if pinned is not None:
            values["pinned"] = pinned
        async with self.db.begin() as conn:
            res = await conn.execute(update(boards).where(boards.c.chat_id == chat_id).values(**values))
            if not res.rowcount:
                await conn.execute(insert(boards).values(chat_id=chat_id, **values))

    async def pinned(self, chat_id: int, message_id: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(boards).where(boards.c.chat_id == chat_id, boards.c.message_id == message_id).values(pinned=True)
            )


async def alerts_in_chat(conn: AsyncConnection, chat_id: int, alert_ids: list[int]) -> set[int]:
    """Those of these alerts that were sent (or are queued) to this chat: the incidents its board lists."""
    found: set[int] = set()
    for start in range(0, len(alert_ids), 500):
        rows = await conn.execute(
            select(outbox.c.incident_id)
            .where(
                outbox.c.chat_id == chat_id,
                outbox.c.incident_id.in_(alert_ids[start : start + 500]),
                outbox.c.status != "failed",
            )
            .distinct()
        )
        found.update(int(r.incident_id) for r in rows)
    return found
