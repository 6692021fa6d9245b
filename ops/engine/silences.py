"""Silences people make and end. Whether one mutes an alert is the `Silences` mute stage's answer
(`ops.engine.stages`); making or ending one asks the pipeline to look again at once, so the cards show
it without waiting for the next housekeeping tick."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.models import OpsConfig
from ops.engine.pipeline import OpenAlert, Pipeline
from ops.engine.stages import Silence, active_silences, silence_from_row
from ops.model import Actor, MuteKind
from ops.storage.clean import actor_name
from ops.storage.tables import alerts_history, silences
from ops.timeutil import Clock

_LABEL = re.compile(r"^([a-zA-Z_][a-zA-Z0-9_]{0,63})=(.{1,200})$")
_FP = re.compile(r"^#([0-9a-f]{4,16})$")


@dataclass(frozen=True)
class Matcher:
    """What a silence matches: a detector (or `slo:<name>`), a fingerprint prefix, or a label's value."""

    kind: str  # detector | fingerprint | label
    value: str
    label: str | None = None


def parse_matcher(target: str, config: OpsConfig) -> Matcher | None:
    """`cash_balance`, `slo:api`, `#a1b2c3d4` or `team=finance` as people type them; None: none of these
    (an unknown detector included)."""
    if fp := _FP.match(target.lower()):
        return Matcher("fingerprint", fp.group(1))
    if lab := _LABEL.match(target):
        return Matcher("label", lab.group(2), lab.group(1))
    if config.detector(target) is not None or (target.startswith("slo:") and config.slo(target[4:]) is not None):
        return Matcher("detector", target)
    return None


@dataclass(frozen=True)
class Previewed:
    """An open alert a new silence would match: `mutes` when the silence would be what mutes it (it is
    not muted now, or only as flapping, which silences come before); else `mute` says what keeps it."""

    alert: OpenAlert
    mutes: bool


class SilenceService:
    def __init__(self, db: AsyncEngine, clock: Clock, pipeline: Pipeline) -> None:
        self.db = db
        self.clock = clock
        self.pipeline = pipeline

    async def active(self) -> list[Silence]:
        async with self.db.connect() as conn:
            return await active_silences(conn, self.clock())

    async def preview(self, matcher: Matcher) -> list[Previewed]:
        """The open alerts a silence with this matcher would match if made now, decided by the same
        `Silence.matches` and mute stages that will mute them: what it shows is what it does."""
        now = self.clock()
        candidate = Silence(0, matcher.kind, matcher.label, matcher.value, None, None, None, None, now)
        found = []
        for alert in await self.pipeline.open_alerts_muted():
            view = alert.view
            if candidate.matches(view.detector, view.fingerprint, dict(view.labels)):
                found.append(Previewed(alert, alert.mute is None or alert.mute.kind is MuteKind.flapping))
        return found

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
