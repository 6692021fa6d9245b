"""Who may see and act on what, for a chat: which chats are configured, which see everything, and which
incidents a chat may see (those whose card was sent there).

Commands are answered in ALERT_CHAT_IDS (and chats named by routes) and ADMIN_CHAT_IDS, in private chats
with users in ADMIN_USER_IDS, and in the private chats of people an escalation policy paged (they got an
alert card there); admin chats and admins' private chats see every incident.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.engine.incidents import IncidentService
from ops.model import Actor, Incident
from ops.settings import Settings
from ops.storage.db import reading
from ops.storage.tables import outbox


class Scoping:
    def __init__(self, db: AsyncEngine, settings: Settings, config: CurrentConfig, incidents: IncidentService) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.incidents = incidents

    def is_alert_chat(self, chat_id: int) -> bool:
        """A chat alerts go to: ALERT_CHAT_IDS, or a chat named by a route."""
        routes = self.current.config.routes
        return chat_id in self.settings.alert_chat_ids or any(chat_id in r.chats for r in routes)

    def is_admin_chat(self, chat_id: int) -> bool:
        return chat_id in self.settings.admin_chat_ids

    def is_admin_user(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_user_ids

    async def was_paged(self, chat_id: int) -> bool:
        """A private chat that was sent an alert card: an on-call person paged there, whose buttons work."""
        async with reading(self.db) as conn:
            found = await conn.scalar(
                select(outbox.c.id).where(outbox.c.chat_id == chat_id, outbox.c.kind == "alert").limit(1)
            )
        return found is not None

    def sees_everything(self, chat_id: int, user_id: int | None, private: bool) -> bool:
        return self.is_admin_chat(chat_id) or (private and self.is_admin_user(user_id))

    async def incident_visible(self, incident_id: int, chat_id: int, sees_all: bool) -> bool:
        if sees_all:
            return True
        async with self.db.connect() as conn:
            n = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.incident_id == incident_id, outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            )
        return bool(n)

    async def visible_alerts(self, alert_ids: list[int], chat_id: int, sees_all: bool) -> set[int]:
        """Which of these alerts this chat may see. An incident (a group of alerts) is visible where any
        of its alerts is."""
        if sees_all:
            return set(alert_ids)
        seen: set[int] = set()
        async with self.db.connect() as conn:
            for start in range(0, len(alert_ids), 500):
                chunk = alert_ids[start : start + 500]
                rows = await conn.execute(
                    select(outbox.c.incident_id)
                    .where(outbox.c.incident_id.in_(chunk), outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
                    .distinct()
                )
                seen.update(int(r.incident_id) for r in rows)
        return seen

    def sent_to(self, chat_id: int) -> Select[Any]:
        """Ids of the incidents whose alert card went to this chat: all that chat may see."""
        return select(outbox.c.incident_id).where(outbox.c.chat_id == chat_id, outbox.c.kind == "alert")

    def sent_to_any(self, chat_ids: list[int]) -> Select[Any]:
        """Ids of the incidents whose alert card went to any of these chats."""
        return select(outbox.c.incident_id).where(outbox.c.chat_id.in_(chat_ids), outbox.c.kind == "alert")

    async def may_act_on(
        self, incident: Incident | None, *, chat_id: int, sees_all: bool, actor: Actor, what: str
    ) -> bool:
        """Whether this chat may act on `incident` (it was sent there, or the chat sees all). If not, the
        refusal is recorded as a button press on it is: event `refused`, with who, where and what."""
        if incident is not None and await self.incident_visible(incident.id, chat_id, sees_all):
            return True
        await self.incidents.record(
            "refused",
            actor,
            incident_id=incident.id if incident is not None else None,
            chat_id=chat_id,
            detail=f"{what}: not sent to this chat" if incident is not None else f"{what}: unknown incident",
        )
        return False
