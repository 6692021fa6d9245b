"""Silences people make and end. Whether one mutes an alert is the `Silences` mute stage's answer
(`ops.engine.stages`); making or ending one asks the pipeline to look again at once, so the cards show
it without waiting for the next housekeeping tick."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.engine.pipeline import Pipeline
from ops.engine.stages import Silence, active_silences, silence_from_row
from ops.model import Actor, MuteKind
from ops.storage.clean import actor_name
from ops.storage.tables import alerts_history, silences
from ops.timeutil import Clock


class SilenceService:
    def __init__(self, db: AsyncEngine, clock: Clock, pipeline: Pipeline) -> None:
        self.db = db
        self.clock = clock
        self.pipeline = pipeline

    async def active(self) -> list[Silence]:
        async with self.db.connect() as conn:
            return await active_silences(conn, self.clock())

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
            silence = silence_from_row(row)
        await self.pipeline.look_again()
        # Counted from the stored answers, not from this call's changes: a housekeeping tick between the two
        # transactions may have done the muting itself.
        return silence, len(await self._muted_by(silence_id))

    async def expire(self, silence_id: int, actor: Actor) -> int | None:
        """End a silence now. None when there is no such active silence; otherwise how many alerts it
        muted that still fire and are back (each notified once)."""
        before = await self._muted_by(silence_id)
        async with self.db.begin() as conn:
            res = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
                .values(expired_at=self.clock(), reason=silences.c.reason + f" (ended by {actor_name(actor.name)})")
            )
        if res.rowcount != 1:
            return None
        await self.pipeline.look_again()
        return len(before - await self._muted_by(silence_id))

    async def _muted_by(self, silence_id: int) -> set[int]:
        """The open alerts whose stored mute is this silence."""
        h = alerts_history.c
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(h.id).where(
                    h.status != "resolved", h.muted == MuteKind.silenced.value, h.muted_by == str(silence_id)
                )
            )
            return {r.id for r in rows}
