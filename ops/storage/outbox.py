"""The outbox: notifications waiting for delivery, claimed one row at a time by whichever replica is free.

Rows are delivered per chat in id order: a chat's next row is due only when no earlier row of it is
pending or `sending`, so several replicas draining one outbox still keep each chat's order. A row is
`sending` only while one call is in flight; when its replica dies the leader queues it again
(`Coordinator.reap`), so at most that one message can be sent twice.

Quiet hours (`ops.notify.quiet`) may set a row aside as `held` until the quiet period ends
(`next_attempt_at`); it is out of its chat's order meanwhile. Then the chat's held rows become one
`overnight` digest together (`overnight`), delivered like a storm digest: pending with their
`digest_id`, marked sent with it, so a restart neither loses nor repeats them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.model import Severity
from ops.notify.types import AlertCard, CardRefresh, Notification, UnknownNotification, parse
from ops.storage.db import reading
from ops.storage.digests import OVERNIGHT
from ops.storage.replica_id import ReplicaId
from ops.storage.tables import alerts_history, digests, outbox

ALERT = AlertCard.kind  # the rows that carry an alert's card (the message later notifications reply to)
HELD = "held"  # kept by a chat's quiet hours until `next_attempt_at`, then sent as one morning digest
_CHUNK = 500  # ids per IN (…) list


@dataclass(frozen=True)
class OutboxRow:
    id: int
    created_at: datetime
    chat_id: int
    kind: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int
    message_ids: list[int]
    digest_id: int | None = None
    queued: int = 0  # for a chat's head (`heads`): how many rows the chat has waiting, this one included

    @property
    def notification(self) -> Notification:
        """What this row tells (`UnknownNotification` for a row this version cannot read)."""
        return parse(self.kind, self.payload)

    @property
    def digestible(self) -> bool:
        """A notification about one incident that a digest line can stand for (and not half sent)."""
        try:
            notification = self.notification
        except UnknownNotification:
            return False
        return notification.digestible and self.incident_id is not None and not self.message_ids


def _row(r: Any, queued: int = 0) -> OutboxRow:
    return OutboxRow(
        id=r.id,
        created_at=r.created_at,
        chat_id=r.chat_id,
        kind=r.kind,
        incident_id=r.incident_id,
        payload=json.loads(r.payload_json or "{}"),
        attempts=r.attempts,
        message_ids=json.loads(r.message_ids) if r.message_ids else [],
        digest_id=r.digest_id,
        queued=queued,
    )


def outbox_row(chat_id: int, notification: Notification, now: datetime, incident_id: Any) -> dict[str, Any]:
    """The values of a queued row; `incident_id` may be a `NewIncident`, its id filled in before inserting."""
    return {
        "created_at": now,
        "chat_id": chat_id,
        "kind": notification.kind,
        "incident_id": incident_id,
        "payload_json": json.dumps(notification.payload()),
        "status": "pending",
        "next_attempt_at": now,
    }


async def enqueue(
    conn: AsyncConnection, chats: list[int], notification: Notification, now: datetime, incident_id: int | None = None
) -> int:
    """Queue `notification` for each of `chats`; returns how many rows were queued."""
    if chats:
        await conn.execute(insert(outbox), [outbox_row(c, notification, now, incident_id) for c in chats])
    return len(chats)


async def chats_with_alert(conn: AsyncConnection, incident_id: int) -> list[int]:
    """Chats that were sent (or are about to be sent) this incident's alert card."""
    rows = await conn.execute(
        select(outbox.c.chat_id)
        .where(
            outbox.c.incident_id == incident_id,
            outbox.c.kind == ALERT,
            outbox.c.status != "failed",
        )
        .group_by(outbox.c.chat_id)
        .order_by(func.min(outbox.c.id))
    )
    return [r.chat_id for r in rows]


def _ids(row_id: int | list[int]) -> list[int]:
    return [row_id] if isinstance(row_id, int) else row_id


class OutboxStore:
    def __init__(self, db: AsyncEngine, replica: ReplicaId | None = None) -> None:
        self.db = db
        self.replica = replica or ReplicaId()  # this replica's id, once registered: rows it claims carry it

    async def _claim(self, conn: AsyncConnection, row_ids: list[int], **values: Any) -> bool:
        """All of `row_ids` become `sending` by this replica, or none does. `FOR UPDATE SKIP LOCKED`: a row
        another replica is claiming this instant is not waited for; it is simply not ours."""
        free = (
            await conn.execute(
                select(outbox.c.id)
                .where(outbox.c.id.in_(row_ids), outbox.c.status == "pending")
                .with_for_update(skip_locked=True)
            )
        ).all()
        if len(free) != len(row_ids):
            return False
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(row_ids))
            .values(status="sending", attempts=outbox.c.attempts + 1, claimed_by=self.replica.value, **values)
        )
        return True

    async def heads(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """The oldest pending row of each chat, if it is due. Later rows of a chat wait their turn."""
        first = (
            select(outbox.c.chat_id, func.min(outbox.c.id).label("first_id"), func.count().label("queued"))
            .where(outbox.c.status.in_(("pending", "sending")))
            .group_by(outbox.c.chat_id)
            .subquery()
        )
        query = (
            select(outbox, first.c.queued)
            .join(first, first.c.first_id == outbox.c.id)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            return [_row(r, r.queued) for r in await conn.execute(query)]

    async def pending_for_chat(self, chat_id: int, now: datetime, limit: int) -> list[OutboxRow]:
        """A chat's queue in delivery order (the rows a storm digest may take)."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(outbox)
                .where(
                    outbox.c.chat_id == chat_id,
                    outbox.c.status == "pending",
                    outbox.c.next_attempt_at <= now,
                )
                .order_by(outbox.c.id)
                .limit(limit)
            )
            return [_row(r) for r in rows]

    async def next_due(self) -> datetime | None:
        async with self.db.connect() as conn:
            return await conn.scalar(select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending"))

    async def claim(self, row_id: int) -> bool:
        async with self.db.begin() as conn:
            return await self._claim(conn, [row_id])

    async def claim_many(self, row_ids: list[int], digest_id: int) -> bool:
        """Claim rows for one digest, all or none; they keep `digest_id` so a retry resends the same digest."""
        async with self.db.begin() as conn:
            return await self._claim(conn, row_ids, digest_id=digest_id)

    async def digest_rows(self, digest_id: int, status: str = "sent") -> list[OutboxRow]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(outbox).where(outbox.c.digest_id == digest_id, outbox.c.status == status).order_by(outbox.c.id)
            )
            return [_row(r) for r in rows]

    async def absorb_refreshes(self, chat_id: int, incident_ids: list[int], now: datetime) -> int:
        """Queued card edits made redundant by one redraw of the digest that lists these incidents."""
        async with self.db.begin() as conn:
            res = await conn.execute(
                update(outbox)
                .where(
                    outbox.c.chat_id == chat_id,
                    outbox.c.kind == CardRefresh.kind,
                    outbox.c.status == "pending",
                    outbox.c.incident_id.in_(incident_ids),
                )
                .values(status="sent", sent_at=now, last_error="shown by a digest redraw")
            )
            return res.rowcount

    async def save_progress(self, row_id: int, message_ids: list[int]) -> None:
        """Parts of a split text already accepted by Telegram, so a retry does not resend them."""
        async with self.db.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == row_id).values(message_ids=json.dumps(message_ids)))

    async def mark_sent(self, row_id: int | list[int], now: datetime, message_ids: list[int]) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(_ids(row_id)))
                .values(status="sent", sent_at=now, message_ids=json.dumps(message_ids), last_error=None)
            )

    async def mark_retry(self, row_id: int | list[int], at: datetime, error: str, *, count: bool = True) -> None:
        values: dict[str, Any] = {
            "status": "pending",
            "next_attempt_at": at,
            "last_error": error[:500],
        }
        if not count:  # a 429 is Telegram pacing us, not a failed attempt
            values["attempts"] = outbox.c.attempts - 1
        async with self.db.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id.in_(_ids(row_id))).values(**values))

    async def retry_now(self, now: datetime) -> int:
        """Telegram answers again after an outage: rows waiting out a backoff go now, not minutes later.
        (A chat still under a 429 stays held by the rate limiter, which keeps its `retry_after`.)"""
        async with self.db.begin() as conn:
            res = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "pending", outbox.c.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
        return res.rowcount

    async def mark_failed(self, row_id: int | list[int], now: datetime, reason: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(_ids(row_id)))
                .values(status="failed", sent_at=now, last_error=reason[:500])
            )

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its undelivered rows follow it to the new id."""
        async with self.db.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == old_chat_id, outbox.c.status.in_(("pending", "sending", HELD)))
                .values(chat_id=new_chat_id)
            )

    async def alert_message_ids(self, incident_id: int, chat_id: int) -> list[int]:
        async with self.db.connect() as conn:
            raw = await conn.scalar(
                select(outbox.c.message_ids)
                .where(
                    outbox.c.incident_id == incident_id,
                    outbox.c.chat_id == chat_id,
                    outbox.c.kind == ALERT,
                    outbox.c.status == "sent",
                    outbox.c.digest_id.is_(None),
                )
                .order_by(outbox.c.id)
                .limit(1)
            )
        return json.loads(raw) if raw else []

    async def alert_pending(self, incident_id: int, chat_id: int) -> bool:
        async with self.db.connect() as conn:
            n = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(
                    and_(
                        outbox.c.incident_id == incident_id,
                        outbox.c.chat_id == chat_id,
                        outbox.c.kind == ALERT,
                        outbox.c.status.in_(("pending", "sending")),
                    )
                )
            )
        return bool(n)

    async def depth(self) -> int:
        async with reading(self.db) as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.status.in_(("pending", "sending")))
                )
                or 0
            )

    async def sent_since(self, since: datetime) -> list[tuple[int, datetime]]:
        """(chat_id, sent_at) per message recently sent: the rate limiter starts from them after a restart.

        The rows of one digest share one message, so they count once; a text split in parts counts per part.
        """
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.chat_id, outbox.c.sent_at, outbox.c.message_ids)
                .where(outbox.c.status == "sent", outbox.c.sent_at >= since)
                .distinct()
            )
            return [
                (r.chat_id, r.sent_at)
                for r in rows
                for _ in range(max(1, len(json.loads(r.message_ids)) if r.message_ids else 1))
            ]

    # -- quiet hours ------------------------------------------------------------------------------

    async def severities(self, incident_ids: set[int]) -> dict[int, Severity]:
        """The current severity of each of these alerts."""
        ids, found = sorted(incident_ids), {}
        async with self.db.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                rows = await conn.execute(
                    select(alerts_history.c.id, alerts_history.c.severity).where(
                        alerts_history.c.id.in_(ids[start : start + _CHUNK])
                    )
                )
                found.update({r.id: Severity(r.severity) for r in rows})
        return found

    async def held_incidents(self, chat_id: int) -> set[int]:
        """Alerts with rows held for this chat's morning digest."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.incident_id)
                .where(outbox.c.chat_id == chat_id, outbox.c.status == HELD, outbox.c.incident_id.is_not(None))
                .distinct()
            )
            return {r.incident_id for r in rows}

    async def hold(self, row_ids: list[int], until: datetime) -> int:
        """Set pending rows aside until `until` (the end of the quiet period); returns how many."""
        held = 0
        async with self.db.begin() as conn:
            for start in range(0, len(row_ids), _CHUNK):
                res = await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(row_ids[start : start + _CHUNK]), outbox.c.status == "pending")
                    .values(status=HELD, next_attempt_at=until)
                )
                held += res.rowcount
        return held

    async def release(self, chat_id: int, incident_id: int, now: datetime) -> int:
        """An alert's held rows go now after all (it became loud: its severity rose). They come first in
        the chat's order again, being older than what is queued now."""
        async with self.db.begin() as conn:
            res = await conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == chat_id, outbox.c.incident_id == incident_id, outbox.c.status == HELD)
                .values(status="pending", next_attempt_at=now)
            )
            return res.rowcount

    async def held_due(self, now: datetime) -> list[int]:
        """Chats whose quiet period has ended with rows still held."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.chat_id)
                .where(outbox.c.status == HELD, outbox.c.next_attempt_at <= now)
                .group_by(outbox.c.chat_id)
                .order_by(func.min(outbox.c.id))
            )
            return [r.chat_id for r in rows]

    async def overnight(self, chat_id: int, now: datetime) -> int | None:
        """The chat's held rows that are due become one morning digest, in one transaction: pending again
        with its `digest_id` (delivered, retried and marked sent as that digest). Alerts whose card the chat
        already has get a card edit queued after it, so the card shows what happened overnight. Returns the
        digest's id; None when another replica took the rows first."""
        due = and_(outbox.c.chat_id == chat_id, outbox.c.status == HELD, outbox.c.next_attempt_at <= now)
        async with self.db.begin() as conn:
            mine = (await conn.execute(select(outbox.c.id).where(due).with_for_update(skip_locked=True))).all()
            if not mine:
                return None
            res = await conn.execute(insert(digests).values(created_at=now, chat_id=chat_id, page=0, kind=OVERNIGHT))
            digest_id = int(res.inserted_primary_key[0])
            moved = await conn.execute(
                update(outbox).where(due).values(status="pending", digest_id=digest_id, next_attempt_at=now)
            )
            if not moved.rowcount:
                await conn.execute(delete(digests).where(digests.c.id == digest_id))
                return None
            listed = select(outbox.c.incident_id).where(outbox.c.digest_id == digest_id)
            shown = await conn.execute(
                select(outbox.c.incident_id)
                .where(
                    outbox.c.chat_id == chat_id,
                    outbox.c.kind == ALERT,
                    outbox.c.status == "sent",
                    outbox.c.digest_id.is_(None),
                    outbox.c.incident_id.in_(listed),
                )
                .group_by(outbox.c.incident_id)
                .order_by(outbox.c.incident_id)
            )
            refreshes = [outbox_row(chat_id, CardRefresh(), now, r.incident_id) for r in shown]
            if refreshes:
                await conn.execute(insert(outbox), refreshes)
            return digest_id

    async def held_count(self) -> int:
        async with reading(self.db) as conn:
            return int(await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.status == HELD)) or 0)
