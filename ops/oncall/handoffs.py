"""Handoffs announced: when the person on call for a schedule changes (its rotation hands off, or an
override starts or ends), the alert chats get one line and the new person a private summary of what is
open. Each on-call period is recorded in `oncall_handoffs` in the transaction that queues its notices, so
a restart neither repeats one nor skips one (a handoff during downtime is announced after the start).

Members who cannot be paged in private (they never started the bot, or blocked it) are reported to the
admin chats when the leader starts and at each handoff of their schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.config.models import OnCallSchedule
from ops.incidents.log import IncidentLog
from ops.incidents.read import IncidentGroup
from ops.notify.types import OnCallHandoff, OnCallSummary, Unpageable
from ops.oncall.service import OnCall, OnCallNow, Person
from ops.settings import Settings
from ops.storage.outbox import enqueue
from ops.storage.tables import oncall_handoffs, oncall_overrides
from ops.timeutil import Clock


class RoutedChats(Protocol):
    """The chats the routes name (`ops.engine.routing.Router`; the engine sits above on-call)."""

    def all_chats(self) -> set[int]: ...


log = logging.getLogger(__name__)

SUMMARY_INCIDENTS = 20  # the oldest open incidents listed in a private summary; the rest are counted


class Handoffs:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        oncall: OnCall,
        router: RoutedChats,
        incident_log: IncidentLog,
        clock: Clock,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.oncall = oncall
        self.router = router
        self.incident_log = incident_log
        self.clock = clock
        self.on_enqueue = on_enqueue
        self._started = False  # the first tick of this process reports every unpageable member once

    def alert_chats(self) -> list[int]:
        """ALERT_CHAT_IDS and every route's chats, each once."""
        return list(dict.fromkeys([*self.settings.alert_chat_ids, *sorted(self.router.all_chats())]))

    async def tick(self, *, startup: bool = True) -> int:
        """Announce each schedule whose person on call changed since the last announced period; on the
        first tick of the process (the leader's housekeeping), report unpageable members — `startup=False`
        (a command's tick, maybe on another replica) leaves that report to housekeeping. Returns how many
        handoffs were announced."""
        schedules = self.oncall.schedules
        if not schedules:
            self._started = self._started or startup
            return 0
        now = self.clock()
        members = sorted({m for s in schedules for m in s.members})
        known = await self.oncall.people(members)
        unpageable = [m for m in members if m not in known or known[m].blocked]
        reported: set[int] = set()
        announced = 0
        for state in await self.oncall.now(now):
            schedule = self.oncall.current.config.schedule(state.schedule)
            if schedule is None:
                continue
            tell = [m for m in unpageable if m in schedule.members]
            done = await self._handoff(schedule, state, now, known, tell)
            if done:
                announced += 1
                reported.update(tell)
        if startup and not self._started:
            self._started = True
            rest = [m for m in unpageable if m not in reported]
            if rest:
                async with self.db.begin() as conn:
                    await self._report(conn, rest, known, now)
                self._notify()
        return announced

    async def _handoff(
        self, schedule: OnCallSchedule, state: OnCallNow, now: datetime, known: dict[int, Person], tell: list[int]
    ) -> bool:
        """Record the current period of `schedule`; announce it when it changed who is on call."""
        start = await self._period_start(schedule, state, now)
        async with self.db.connect() as conn:
            last = (
                await conn.execute(
                    select(oncall_handoffs.c.shift_start, oncall_handoffs.c.user_id)
                    .where(oncall_handoffs.c.schedule == schedule.name)
                    .order_by(oncall_handoffs.c.shift_start.desc())
                    .limit(1)
                )
            ).first()
        if last is not None and last.shift_start >= start:
            return False  # recorded already (or a later period was: another replica's clock ran ahead)
        announce = last is not None and int(last.user_id) != state.member
        groups = await self.incident_log.open() if announce else []
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(oncall_handoffs).values(
                        schedule=schedule.name, shift_start=start, user_id=state.member, announced_at=now
                    )
                )
                if announce:
                    await self._announce(conn, schedule, state, now, known, groups)
                    if tell:
                        await self._report(conn, tell, known, now)
        except IntegrityError:  # another tick (a command's, or another replica's) recorded it first
            return False
        if not announce:
            log.info("on call for %s: user %s (recorded, not announced)", schedule.name, state.member)
            return False
        log.info("on call for %s now: user %s until %s UTC", schedule.name, state.member, state.until)
        self._notify()
        return True

    async def _announce(
        self,
        conn: AsyncConnection,
        schedule: OnCallSchedule,
        state: OnCallNow,
        now: datetime,
        known: dict[int, Person],
        groups: list[IncidentGroup],
    ) -> None:
        person = known.get(state.member)
        until = state.until.isoformat()
        line = OnCallHandoff(
            schedule=schedule.name,
            user_id=state.member,
            name=person.name if person else "",
            until=until,
            tz=schedule.tz,
            override=state.override is not None,
            open_incidents=len(groups),
        )
        await enqueue(conn, self.alert_chats(), line, now)
        if person is not None and not person.blocked:
            listed = [
                {
                    "id": g.id,
                    "title": g.title,
                    "severity": g.severity.value,
                    "status": g.status.value,
                    "opened_at": g.opened_at.isoformat(),
                }
                for g in groups[:SUMMARY_INCIDENTS]
            ]
            summary = OnCallSummary(
                schedule=schedule.name, until=until, tz=schedule.tz, incidents=listed, total=len(groups)
            )
            await enqueue(conn, [state.member], summary, now)

    async def _report(
        self, conn: AsyncConnection, user_ids: list[int], known: dict[int, Person], now: datetime
    ) -> None:
        config = self.oncall.current.config
        members = [
            {
                "user_id": m,
                "name": known[m].name if m in known else "",
                "blocked": m in known,
                "schedules": [s.name for s in config.oncall if m in s.members],
            }
            for m in user_ids
        ]
        log.warning("on call: %d member(s) cannot be paged in private: %s", len(members), user_ids)
        await enqueue(conn, list(dict.fromkeys(self.settings.admin_chat_ids)), Unpageable(members=members), now)

    async def _period_start(self, schedule: OnCallSchedule, state: OnCallNow, now: datetime) -> datetime:
        """When the current period began: the rotation's shift start, or the latest start or end of an
        active override since then — every instant at which who is on call may have changed."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(oncall_overrides.c.starts_at, oncall_overrides.c.ends_at).where(
                    oncall_overrides.c.schedule == schedule.name,
                    oncall_overrides.c.status == "active",
                    oncall_overrides.c.starts_at <= now,
                    oncall_overrides.c.ends_at > state.shift.start,
                )
            )
            points = [state.shift.start]
            for r in rows:
                points += [t for t in (r.starts_at, r.ends_at) if state.shift.start < t <= now]
        return max(points)

    def _notify(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()
