"""Silences as a chat sees them: made in it, or muting an alert sent to it (admin chats see all), and
Alertmanager's silences of bridged alerts likewise (with ALERTMANAGER_URL)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.alertmanager_api import AlertmanagerClient, AmSilence
from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.engine.silences import SilenceService
from ops.engine.stages import Silence
from ops.model import Actor
from ops.scoping import Scoping
from ops.storage.tables import alerts_history, silences

AM_SCOPE = 5000  # a chat's newest bridged alerts its Alertmanager silences are matched against


def _labels_of(extras_json: str | None) -> dict[str, str]:
    labels = json.loads(extras_json or "{}").get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


class ChatSilences:
    def __init__(
        self,
        db: AsyncEngine,
        config: CurrentConfig,
        service: SilenceService,
        scoping: Scoping,
        alertmanager: AlertmanagerClient | None = None,
    ) -> None:
        self.db = db
        self.current = config
        self.service = service
        self.scoping = scoping
        self.alertmanager = alertmanager  # Alertmanager's API, for silences of bridged alerts

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def create(self, *, chat_id: int, **kw: Any) -> tuple[Silence, int]:
        """A silence made in a chat (SilenceService.create's arguments); that chat sees it in /silences."""
        silence, muted = await self.service.create(**kw)
        async with self.db.begin() as conn:
            await conn.execute(update(silences).where(silences.c.id == silence.id).values(chat_id=chat_id))
        return silence, muted

    async def expire(self, silence_id: int, actor: Actor) -> int | None:
        """None: no such active silence; else how many alerts it muted are back (each told once)."""
        return await self.service.expire(silence_id, actor)

    async def silences_for(self, chat_id: int, sees_all: bool) -> list[Silence]:
        """Active silences this chat may see: those made in it, and those that mute an alert sent to it."""
        active: list[Silence] = await self.service.active()
        if sees_all or not active:
            return active
        sent = self.scoping.sent_to(chat_id)
        async with self.db.connect() as conn:
            seen = set(
                await conn.scalars(
                    select(silences.c.id).where(
                        silences.c.id.in_([s.id for s in active]),
                        or_(silences.c.chat_id == chat_id, silences.c.incident_id.in_(sent)),
                    )
                )
            )
            for silence in active:
                if silence.id not in seen and await self._mutes_an_alert_sent(conn, silence, sent):
                    seen.add(silence.id)
        return [s for s in active if s.id in seen]

    async def _mutes_an_alert_sent(self, conn: AsyncConnection, silence: Silence, sent: Select[Any]) -> bool:
        """One indexed query per silence (there are few): does it match an incident among `sent`?"""
        here = alerts_history.c.id.in_(sent)
        if silence.kind == "detector":
            match = alerts_history.c.source == silence.value
        elif silence.kind == "fingerprint":
            match = alerts_history.c.fingerprint.startswith(silence.value, autoescape=True)
        else:
            label, value = silence.label or "", silence.value
            sources = [d.name for d in self.config.detectors if d.labels.get(label) == value]
            if sources and await conn.scalar(
                select(alerts_history.c.id).where(here, alerts_history.c.source.in_(sources)).limit(1)
            ):
                return True
            # Alertmanager's alerts carry labels of their own (in extras): narrowed by text, then read.
            rows = await conn.execute(
                select(alerts_history.c.extras_json).where(
                    here,
                    alerts_history.c.source.startswith("am:"),
                    alerts_history.c.extras_json.contains(json.dumps(value), autoescape=True),
                )
            )
            return any(_labels_of(r.extras_json).get(label) == value for r in rows)
        return await conn.scalar(select(alerts_history.c.id).where(here, match).limit(1)) is not None

    async def am_silences_for(self, chat_id: int, sees_all: bool) -> list[AmSilence]:
        """Alertmanager's active silences this chat may see: those muting a bridged alert sent to it
        (its newest AM_SCOPE bridged alerts are looked at). Raises AlertmanagerError."""
        assert self.alertmanager is not None
        theirs = await self.alertmanager.active()
        if sees_all or not theirs:
            return theirs
        async with self.db.connect() as conn:
            sent = self.scoping.sent_to(chat_id)
            rows = await conn.execute(
                select(alerts_history.c.extras_json)
                .where(alerts_history.c.id.in_(sent), alerts_history.c.source.startswith("am:"))
                .order_by(alerts_history.c.id.desc())
                .limit(AM_SCOPE)
            )
            label_sets = [_labels_of(r.extras_json) for r in rows]
        return [s for s in theirs if any(s.matches(labels) for labels in label_sets)]
