"""Who is on call, from the config's rotations and the database's overrides; taking a shift, offering a
swap and answering it; who can be paged (started the bot in private)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import OnCallSchedule
from ops.oncall.rotation import Handoff, Shift, shift_at
from ops.storage.tables import oncall_overrides, people
from ops.timeutil import Clock, utcnow


@dataclass(frozen=True)
class Override:
    id: int
    schedule: str
    user_id: int
    starts_at: datetime
    ends_at: datetime
    kind: str  # take | swap
    status: str  # active | pending | declined | cancelled
    created_by: int | None


@dataclass(frozen=True)
class Reach:
    """Whether a person can be paged in private: `known` (started the bot there), not `blocked`."""

    user_id: int
    name: str  # @username, the name, or the id for someone the bot never met
    known: bool
    blocked: bool

    @property
    def pageable(self) -> bool:
        return self.known and not self.blocked


@dataclass(frozen=True)
class Person:
    """Someone who started the bot in private: `name` is their @username, else their name."""

    user_id: int
    name: str
    blocked: bool


@dataclass(frozen=True)
class OnCallNow:
    schedule: str
    member: int  # on call now: the override's person while one is active, else the shift's
    until: datetime  # when that changes (the override's end, or the shift's)
    shift: Shift  # the rotation's shift now
    next_shift: Shift
    override: Override | None


def _override(r: object) -> Override:
    return Override(
        r.id,  # type: ignore[attr-defined]
        r.schedule,  # type: ignore[attr-defined]
        r.user_id,  # type: ignore[attr-defined]
        r.starts_at,  # type: ignore[attr-defined]
        r.ends_at,  # type: ignore[attr-defined]
        r.kind,  # type: ignore[attr-defined]
        r.status,  # type: ignore[attr-defined]
        r.created_by,  # type: ignore[attr-defined]
    )


def _name(r: Any) -> str:
    return f"@{r.username}" if r.username else (r.name or str(r.user_id))


def shift_of(schedule: OnCallSchedule, now: datetime, offset: int = 0) -> Shift:
    return shift_at(schedule.members, schedule.rotation, Handoff.parse(schedule.handoff), schedule.tz, now, offset)


class OnCall:
    def __init__(self, db: AsyncEngine, current: CurrentConfig, clock: Clock = utcnow) -> None:
        self.db = db
        self.current = current
        self.clock = clock

    @property
    def schedules(self) -> list[OnCallSchedule]:
        return list(self.current.config.oncall)

    async def now(self, at: datetime | None = None) -> list[OnCallNow]:
        """Each schedule's person on call at `at` (now by default)."""
        at = at or self.clock()
        active = await self._active(at)
        found = []
        for schedule in self.schedules:
            shift, after = shift_of(schedule, at), shift_of(schedule, at, 1)
            override = active.get(schedule.name)
            if override is not None:
                found.append(OnCallNow(schedule.name, override.user_id, override.ends_at, shift, after, override))
            else:
                found.append(OnCallNow(schedule.name, shift.member, shift.end, shift, after, None))
        return found

    async def who(self, schedule: str, at: datetime | None = None) -> int | None:
        """The person on call for `schedule` (None: no such schedule)."""
        return next((n.member for n in await self.now(at) if n.schedule == schedule), None)

    async def _active(self, at: datetime) -> dict[str, Override]:
        """The newest active override of each schedule at `at`."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(oncall_overrides)
                .where(
                    oncall_overrides.c.status == "active",
                    oncall_overrides.c.starts_at <= at,
                    oncall_overrides.c.ends_at > at,
                )
                .order_by(oncall_overrides.c.id)
            )
            return {r.schedule: _override(r) for r in rows}

    async def overrides(self, at: datetime | None = None) -> list[Override]:
        """Active and pending overrides not yet over."""
        at = at or self.clock()
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(oncall_overrides)
                .where(oncall_overrides.c.status.in_(("active", "pending")), oncall_overrides.c.ends_at > at)
                .order_by(oncall_overrides.c.starts_at, oncall_overrides.c.id)
            )
            return [_override(r) for r in rows]

    async def take(self, schedule: str, user_id: int, duration: float | None) -> Override:
        """`user_id` is on call for `schedule` from now for `duration` (default: to the shift's end)."""
        return await self._add(schedule, user_id, duration, "take", "active", user_id)

    async def offer_swap(self, schedule: str, to_user: int, duration: float | None, by: int) -> Override:
        """Offer `to_user` the shift from now; pending until they accept."""
        return await self._add(schedule, to_user, duration, "swap", "pending", by)

    async def answer(self, override_id: int, user_id: int, accept: bool) -> Override | None:
        """The offered person accepts or declines a pending swap (None: not theirs, or no longer pending)."""
        async with self.db.begin() as conn:
            row = (await conn.execute(select(oncall_overrides).where(oncall_overrides.c.id == override_id))).first()
            if row is None or row.user_id != user_id or row.status != "pending" or row.ends_at <= self.clock():
                return None
            # Accepted: on call from now (not from when it was offered), until the end it was offered for.
            values = {"status": "active", "starts_at": self.clock()} if accept else {"status": "declined"}
            await conn.execute(update(oncall_overrides).where(oncall_overrides.c.id == override_id).values(**values))
            row = (await conn.execute(select(oncall_overrides).where(oncall_overrides.c.id == override_id))).first()
        return _override(row)

    async def _add(
        self, schedule: str, user_id: int, duration: float | None, kind: str, status: str, by: int
    ) -> Override:
        config = self.current.config.schedule(schedule)
        if config is None:
            raise KeyError(schedule)
        now = self.clock()
        ends = now + timedelta(seconds=duration) if duration else shift_of(config, now).end
        async with self.db.begin() as conn:
            result = await conn.execute(
                insert(oncall_overrides).values(
                    schedule=schedule,
                    user_id=user_id,
                    starts_at=now,
                    ends_at=ends,
                    kind=kind,
                    status=status,
                    created_at=now,
                    created_by=by,
                )
            )
            override_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Override(override_id, schedule, user_id, now, ends, kind, status, by)

    # -- who can be paged ---------------------------------------------------------------------
    async def met(self, user_id: int, username: str | None, name: str) -> None:
        """`user_id` started the bot in private: they can be paged there from now on."""
        values = {"username": username, "name": name[:128], "started_at": self.clock(), "blocked_at": None}
        async with self.db.begin() as conn:
            make = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
            stmt = make(people).values(user_id=user_id, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=[people.c.user_id], set_=values))

    async def blocked(self, user_id: int) -> None:
        """Telegram refused a private message: the person blocked the bot (or never started it)."""
        async with self.db.begin() as conn:
            await conn.execute(update(people).where(people.c.user_id == user_id).values(blocked_at=self.clock()))

    async def pageable(self, user_ids: list[int]) -> set[int]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(people.c.user_id).where(people.c.user_id.in_(user_ids), people.c.blocked_at.is_(None))
            )
            return {int(r.user_id) for r in rows}

    async def by_username(self, username: str) -> int | None:
        name = username.lstrip("@").lower()
        async with self.db.connect() as conn:
            rows = await conn.execute(select(people.c.user_id, people.c.username))
            return next((int(r.user_id) for r in rows if (r.username or "").lower() == name), None)

    async def people(self, user_ids: list[int]) -> dict[int, Person]:
        """Those of `user_ids` who ever started the bot (blocked or not)."""
        async with self.db.connect() as conn:
            rows = await conn.execute(select(people).where(people.c.user_id.in_(user_ids)))
            return {
                int(r.user_id): Person(
                    int(r.user_id),
                    f"@{r.username}" if r.username else (r.name or str(r.user_id)),
                    r.blocked_at is not None,
                )
                for r in rows
            }

    async def names(self, user_ids: list[int]) -> dict[int, str]:
        """`@username` (or the name) of the people known, by id."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(people.c.user_id, people.c.username, people.c.name).where(people.c.user_id.in_(user_ids))
            )
            return {int(r.user_id): _name(r) for r in rows}

    # -- read on a caller's connection ----------------------------------------------------------
    # The escalation decides inside the engine's transaction: on SQLite a connection of our own would
    # wait for that transaction's write lock, so these read on the caller's.
    async def members_in(self, conn: AsyncConnection, at: datetime) -> dict[str, int]:
        """Each schedule's person on call at `at` (the newest active override wins), as `now` tells."""
        rows = await conn.execute(
            select(oncall_overrides.c.schedule, oncall_overrides.c.user_id)
            .where(
                oncall_overrides.c.status == "active",
                oncall_overrides.c.starts_at <= at,
                oncall_overrides.c.ends_at > at,
            )
            .order_by(oncall_overrides.c.id)
        )
        active = {r.schedule: int(r.user_id) for r in rows}
        return {s.name: active.get(s.name, shift_of(s, at).member) for s in self.schedules}

    async def reach_in(self, conn: AsyncConnection, user_id: int) -> Reach:
        row = (
            await conn.execute(
                select(people.c.username, people.c.name, people.c.blocked_at).where(people.c.user_id == user_id)
            )
        ).first()
        if row is None:
            return Reach(user_id, str(user_id), known=False, blocked=False)
        name = f"@{row.username}" if row.username else (row.name or str(user_id))
        return Reach(user_id, name, known=True, blocked=row.blocked_at is not None)
