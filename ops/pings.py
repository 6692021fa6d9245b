"""Heartbeat pings: stored as they arrive, read by the heartbeat detector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import StreamReader
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.clean import clean_text
from ops.storage.tables import pings
from ops.timeutil import Clock, utcnow

KINDS = ("success", "start", "fail")
MAX_BODY = 1000  # characters of a ping's body kept (a fail's body is shown in its alert)


MAX_BODY_BYTES = MAX_BODY * 4  # no charset needs more than 4 bytes a character


async def read_head(content: StreamReader) -> bytes:
    """The first MAX_BODY_BYTES of a body, however long it is (a job may post its whole log)."""
    head = b""
    while len(head) < MAX_BODY_BYTES:
        chunk = await content.read(MAX_BODY_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def decode_body(raw: bytes, charset: str | None) -> str:
    """A ping's body as text, whatever was sent: in its declared charset when Python knows it as a text
    encoding, else UTF-8, with bytes that do not decode replaced by U+FFFD (a fail counts regardless)."""
    raw = raw[:MAX_BODY_BYTES]
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset, or a codec that is not a text encoding (base64, rot13)
        return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Ping:
    id: int
    ts: datetime
    kind: str
    body: str | None
    source: str | None
    duration_ms: float | None


class PingStore:
    def __init__(self, db: AsyncEngine, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def record(self, detector: str, kind: str, body: str | None, source: str | None) -> Ping:
        """Store one ping; a success or fail right after a start gets the run's duration."""
        now = self.clock()
        body = clean_text(body or "").strip()[:MAX_BODY] or None
        source = clean_text(source)[:64] if source else None
        async with self.db.begin() as conn:
            last = (
                await conn.execute(
                    select(pings.c.kind, pings.c.ts)
                    .where(pings.c.detector == detector)
                    .order_by(pings.c.ts.desc(), pings.c.id.desc())
                    .limit(1)
                )
            ).first()
            duration = (
                (now - last.ts).total_seconds() * 1000 if last and last.kind == "start" and kind != "start" else None
            )
            res = await conn.execute(
                insert(pings).values(
                    ts=now, detector=detector, kind=kind, body=body, source=source, duration_ms=duration
                )
            )
        return Ping(int(res.inserted_primary_key[0]), now, kind, body, source, duration)

    async def latest(self, detector: str) -> tuple[Ping | None, Ping | None]:
        """(the newest finished ping — success or fail —, the newest start)."""
        async with self.db.connect() as conn:
            done = (
                await conn.execute(
                    select(pings)
                    .where(pings.c.detector == detector, pings.c.kind.in_(("success", "fail")))
                    .order_by(pings.c.ts.desc(), pings.c.id.desc())
                    .limit(1)
                )
            ).first()
            start = (
                await conn.execute(
                    select(pings)
                    .where(pings.c.detector == detector, pings.c.kind == "start")
                    .order_by(pings.c.ts.desc(), pings.c.id.desc())
                    .limit(1)
                )
            ).first()

        def to_ping(r: object) -> Ping | None:
            if r is None:
                return None
            return Ping(r.id, r.ts, r.kind, r.body, r.source, r.duration_ms)  # type: ignore[attr-defined]

        return to_ping(done), to_ping(start)
