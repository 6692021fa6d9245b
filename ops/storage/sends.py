"""Telegram's rate budget shared by every replica: a log of recent sends in PostgreSQL.

A replica about to post asks `reserve`: under a transaction advisory lock (so two replicas never both
take the last slot) it reads the chat's last send, the group's sends in the last minute, everyone's
sends in the last second and any 429 block, and either records its send or says how long to wait.
Times are the database server's clock, so replicas on machines whose clocks disagree still agree here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.mutex import MUTEX_BUDGET, serialize
from ops.storage.replica_id import ReplicaId
from ops.storage.tables import chat_blocks, sends

DB_NOW = text("clock_timestamp() AT TIME ZONE 'UTC'")


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits, as the limiter applies them (tests loosen them)."""

    per_chat_interval: float = 1.0
    group_per_minute: int = 20
    global_per_second: int = 30
    group_margin: float = 0.5  # Telegram counts at arrival, we at sending: a little slack
    global_margin: float = 0.1


TELEGRAM = Limits()  # what Telegram's FAQ gives: 1 message/s per chat, 20/min per group, 30/s overall


class SendLog:
    def __init__(self, db: AsyncEngine, replica: ReplicaId) -> None:
        self.db = db
        self.replica = replica
        self._seen = 0

    async def reserve(self, chat_id: int, lim: Limits) -> float:
        """0 when this replica may post to `chat_id` now (the send is recorded); else seconds to wait."""
        async with self.db.begin() as conn:
            await serialize(conn, MUTEX_BUDGET)
            now: datetime = await conn.scalar(select(DB_NOW))
            waits = [0.0]
            until = await conn.scalar(select(chat_blocks.c.until).where(chat_blocks.c.chat_id == chat_id))
            if until is not None:
                waits.append((until - now).total_seconds())
            last = await conn.scalar(select(func.max(sends.c.at)).where(sends.c.chat_id == chat_id))
            if last is not None:
                waits.append((last - now).total_seconds() + lim.per_chat_interval)
            if chat_id < 0:
                window = 60.0 + lim.group_margin
                nth = await conn.scalar(
                    select(sends.c.at)
                    .where(sends.c.chat_id == chat_id, sends.c.at > now - timedelta(seconds=window))
                    .order_by(sends.c.at.desc())
                    .offset(lim.group_per_minute - 1)
                    .limit(1)
                )
                if nth is not None:
                    waits.append((nth - now).total_seconds() + window)
            window = 1.0 + lim.global_margin
            nth = await conn.scalar(
                select(sends.c.at)
                .where(sends.c.at > now - timedelta(seconds=window))
                .order_by(sends.c.at.desc())
                .offset(lim.global_per_second - 1)
                .limit(1)
            )
            if nth is not None:
                waits.append((nth - now).total_seconds() + window)
            wait = max(waits)
            if wait <= 0:
                await conn.execute(insert(sends).values(at=now, chat_id=chat_id, replica=self.replica.value))
            return max(0.0, wait)

    async def block(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: no replica posts to it for `seconds`."""
        async with self.db.begin() as conn:
            now: datetime = await conn.scalar(select(DB_NOW))
            until = now + timedelta(seconds=seconds)
            stmt = pg_insert(chat_blocks).values(chat_id=chat_id, until=until)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[chat_blocks.c.chat_id],
                    set_={"until": func.greatest(chat_blocks.c.until, stmt.excluded.until)},
                )
            )

    async def news(self) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """What a replica's local limiter should learn: (chat_id, seconds ago) of sends by other replicas
        since the last call, and the chats under a 429 block with the seconds left."""
        async with self.db.connect() as conn:
            now: datetime = await conn.scalar(select(DB_NOW))
            rows = (
                await conn.execute(
                    select(sends.c.id, sends.c.chat_id, sends.c.at, sends.c.replica)
                    .where(sends.c.id > self._seen, sends.c.at > now - timedelta(seconds=61))
                    .order_by(sends.c.id)
                )
            ).all()
            blocks = (await conn.execute(select(chat_blocks).where(chat_blocks.c.until > now))).all()
        # Ids are taken under the budget lock, so they commit in order: none can appear below `_seen` later.
        if rows:
            self._seen = rows[-1].id
        others = [(r.chat_id, (now - r.at).total_seconds()) for r in rows if r.replica != self.replica.value]
        return others, {r.chat_id: (r.until - now).total_seconds() for r in blocks}
