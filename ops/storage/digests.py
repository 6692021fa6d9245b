"""Digests: one Telegram message standing for many outbox rows of one chat — a storm (`STORM`, many
alerts queued at once) or the morning digest of quiet hours (`OVERNIGHT`, what they held).

The rows keep pointing at their digest (`ops_outbox.digest_id`), so the digest's buttons (Ack all,
Details) and later edits know exactly which incidents it lists, in the order they were queued.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.model import Incident
from ops.notify.types import Notification, parse
from ops.storage.incident_rows import incident_from_row
from ops.storage.tables import alerts_history, digests, outbox

STORM, OVERNIGHT = "storm", "overnight"  # many alerts at once; what quiet hours held (`ops.notify.quiet`)


@dataclass(frozen=True)
class Digest:
    id: int
    chat_id: int
    created_at: datetime
    message_id: int | None
    page: int
    kind: str = STORM


@dataclass(frozen=True)
class DigestEntry:
    """One incident in a digest and why it is there (the notification of its first row)."""

    incident: Incident
    notification: Notification


class DigestStore:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def create(self, chat_id: int, now: datetime) -> int:
        async with self.db.begin() as conn:
            res = await conn.execute(insert(digests).values(created_at=now, chat_id=chat_id, page=0))
            return int(res.inserted_primary_key[0])

    async def discard(self, digest_id: int) -> None:
        """A digest that lists nothing: another replica took the rows first."""
        async with self.db.begin() as conn:
            await conn.execute(delete(digests).where(digests.c.id == digest_id))

    async def get(self, digest_id: int) -> Digest | None:
        async with self.db.connect() as conn:
            r = (await conn.execute(select(digests).where(digests.c.id == digest_id))).first()
        return Digest(r.id, r.chat_id, r.created_at, r.message_id, r.page, r.kind) if r else None

    async def set_message(self, digest_id: int, message_id: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(update(digests).where(digests.c.id == digest_id).values(message_id=message_id))

    async def set_page(self, digest_id: int, page: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(update(digests).where(digests.c.id == digest_id).values(page=page))

    async def entries(self, digest_id: int) -> list[DigestEntry]:
        """Each incident once, in queue order, with the kind of its first row in the digest."""
        async with self.db.connect() as conn:
            first = (
                select(outbox.c.incident_id, func.min(outbox.c.id).label("first_id"))
                .where(outbox.c.digest_id == digest_id, outbox.c.incident_id.is_not(None))
                .group_by(outbox.c.incident_id)
                .subquery()
            )
            rows = await conn.execute(
                select(alerts_history, outbox.c.kind.label("row_kind"), outbox.c.payload_json.label("row_payload"))
                .join(first, first.c.incident_id == alerts_history.c.id)
                .join(outbox, outbox.c.id == first.c.first_id)
                .order_by(first.c.first_id)
            )
            return [
                DigestEntry(incident_from_row(r), parse(r.row_kind, json.loads(r.row_payload or "{}"))) for r in rows
            ]

    async def containing(self, incident_id: int, chat_id: int) -> int | None:
        """The latest digest of this chat that lists the incident, if its alert went in one."""
        async with self.db.connect() as conn:
            return await conn.scalar(
                select(func.max(outbox.c.digest_id)).where(
                    outbox.c.incident_id == incident_id,
                    outbox.c.chat_id == chat_id,
                    outbox.c.status == "sent",
                    outbox.c.digest_id.is_not(None),
                )
            )
