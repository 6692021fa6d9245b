"""Several replicas on one database, coordinated by PostgreSQL itself (no coordinator of our own).

Each replica registers a row in `ops_replicas` and holds a session advisory lock on its id for as long as
it lives, on a connection of its own: PostgreSQL drops the lock the moment that connection goes (a crash,
a SIGKILL, a network cut found by TCP keepalives), so "alive" is "holds its lock", read from `pg_locks`.
The leader is whoever holds the leader lock on the same connection; standbys try for it every
`LEADER_POLL` seconds, so a dead leader is replaced within a few seconds. The leader polls Telegram and runs
the scheduler; every replica serves HTTP and drains the outbox.

A replica that reloads its config records the new generation (`ops_config_reloads`); on the same heartbeat
every other replica notices a generation newer than the one it runs and reloads its own file.

On SQLite there is one process (a second one refuses to start, see `single.py`): it leads from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ops.storage.config_reloads import ConfigReloads, Generation
from ops.storage.mutex import MUTEX, MUTEX_BUDGET, MUTEX_ENGINE, MUTEX_MIGRATE, serialize
from ops.storage.replica_id import ReplicaId
from ops.storage.tables import outbox, remediation_locks, remediation_runs, replicas, sends
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

# Advisory lock keys (two int4 form): (REPLICAS, 0) is the leader, (REPLICAS, id) a replica's life;
# (MUTEX, n) are transaction locks that serialize one kind of write across replicas (`ops.storage.mutex`).
REPLICAS = 0x6F707362  # "opsb"
LEADER = 0
LEADER_POLL = 2.0  # seconds between a standby's tries for the leader lock (and the leader's self-check)
PING_TIMEOUT = 3.0
REAP_EVERY = 5.0  # seconds between the leader's sweeps for work left by dead replicas
# The server notices a silently dead client (a cut cable, not a closed socket) after about 5 + 2 × 2 s.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "2"}

Hook = Callable[[], Awaitable[None]]
ConfigHook = Callable[[Generation], Awaitable[None]]
__all__ = ["MUTEX", "MUTEX_BUDGET", "MUTEX_ENGINE", "MUTEX_MIGRATE", "Coordinator", "Leadership", "serialize"]


def is_postgres(db: AsyncEngine) -> bool:
    return db.dialect.name == "postgresql"


@dataclass(frozen=True)
class Leadership:
    """What `/healthz` tells: this replica, whether it leads, and which replica does."""

    replica: str
    leader: bool
    leader_replica: str | None
    live_replicas: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "replica": self.replica,
            "leader": self.leader,
            "leader_replica": self.leader_replica,
            "replicas": self.live_replicas,
        }


class Coordinator:
    """`on_elected`/`on_deposed` run when this replica starts or stops leading; `on_new_config` when another
    replica reloaded the config (this one should reload its own file)."""

    def __init__(
        self,
        db: AsyncEngine,
        replica: ReplicaId | None = None,
        *,
        clock: Clock = utcnow,
        name: str | None = None,
        poll_interval: float = LEADER_POLL,
        on_elected: Sequence[Hook] = (),
        on_deposed: Sequence[Hook] = (),
        on_new_config: ConfigHook | None = None,
    ) -> None:
        self.db = db
        self.replica = replica or ReplicaId()
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.is_leader = False
        self.on_elected = list(on_elected)
        self.on_deposed = list(on_deposed)
        self.on_new_config = on_new_config
        self.poll_interval = poll_interval
        self.reloads = ConfigReloads(db)
        self.config_generation = 0  # the newest config generation this replica runs (or knows of)
        self._lock_db: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._since_reap = 0.0

    @property
    def id(self) -> int:
        """This replica's id (0 until registered)."""
        return self.replica.value

    @property
    def shared(self) -> bool:
        """True when other replicas may share the database (PostgreSQL)."""
        return is_postgres(self.db)

    async def register(self) -> int:
        """A row in `ops_replicas` and, on PostgreSQL, the lock that says this replica is alive."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                insert(replicas).values(name=self.name[:200], started_at=self.clock()).returning(replicas.c.id)
            )
            self.replica.assign(int(result.scalar_one()))
        latest = await self.reloads.latest()
        self.config_generation = latest.id if latest is not None else 0  # its own file is read already
        if self.shared:
            await self._connect()
        return self.id

    async def config_reloaded(self, digest: str) -> int:
        """This replica took a new config by a reload: record its generation, which the others follow."""
        self.config_generation = await self.reloads.record(digest, self.id, self.clock())
        return self.config_generation

    async def _follow_config(self) -> None:
        """Another replica reloaded: tell `on_new_config` (once per generation)."""
        latest = await self.reloads.latest()
        if latest is None or latest.id <= self.config_generation:
            return
        self.config_generation = latest.id
        if latest.replica != self.id and self.on_new_config is not None:
            await self.on_new_config(latest)

    async def start(self) -> None:
        """Try once for leadership (so a lone replica leads before `start` returns), then keep trying."""
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader:
            await self._depose("stopping")
        await self._disconnect()
        if self._lock_db is not None:
            await self._lock_db.dispose()
            self._lock_db = None

    # -- the lock connection ---------------------------------------------------------------
    async def _connect(self) -> None:
        if self._lock_db is None:
            self._lock_db = create_async_engine(
                self.db.url, poolclass=NullPool, connect_args={"server_settings": KEEPALIVES}
            )
        conn = await self._lock_db.connect()
        try:
            # After a cut, the server may still hold our old session's lock until it notices: wait a bit.
            await asyncio.wait_for(
                conn.execute(text("SELECT pg_advisory_lock(:ns, :id)"), {"ns": REPLICAS, "id": self.id}),
                PING_TIMEOUT,
            )
            await conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._conn = conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), PING_TIMEOUT)

    # -- the election --------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._step()
                if self.shared:
                    await self._follow_config()
                self._since_reap += self.poll_interval
                if self.is_leader and self.shared and self._since_reap >= REAP_EVERY:
                    self._since_reap = 0.0
                    await self.reap()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the loop
                log.exception("leadership: check failed")

    async def _step(self) -> None:
        if not self.shared:
            if not self.is_leader:
                await self._elect()
            return
        if self._conn is None:
            try:
                await self._connect()
            except Exception as exc:
                log.warning("leadership: cannot reach the database (%s); standing by", type(exc).__name__)
                return
        assert self._conn is not None
        try:
            if self.is_leader:
                await asyncio.wait_for(self._conn.execute(text("SELECT 1")), PING_TIMEOUT)
                await self._conn.commit()
                return
            got = await asyncio.wait_for(
                self._conn.scalar(text("SELECT pg_try_advisory_lock(:ns, :k)"), {"ns": REPLICAS, "k": LEADER}),
                PING_TIMEOUT,
            )
            await self._conn.commit()
        except Exception as exc:
            # The lock connection is gone, and with it every lock: whoever leads now, it is not us.
            log.warning("leadership: lost the database connection (%s)", type(exc).__name__)
            await self._disconnect()
            if self.is_leader:
                await self._depose("lost the database connection")
            return
        if got:
            await self._elect()

    async def _elect(self) -> None:
        self.is_leader = True
        async with self.db.begin() as conn:
            await conn.execute(update(replicas).where(replicas.c.id == self.id).values(leader_since=self.clock()))
        log.info("leadership: replica %s (%s) leads", self.id, self.name)
        await self.reap()
        for hook in self.on_elected:
            try:
                await hook()
            except Exception:
                log.exception("leadership: a start-up duty failed")

    async def _depose(self, why: str) -> None:
        self.is_leader = False
        level = logging.INFO if why == "stopping" else logging.WARNING  # a normal stop is not a problem
        log.log(level, "leadership: replica %s stands down: %s", self.id, why)
        for hook in self.on_deposed:
            try:
                await hook()
            except Exception:
                log.exception("leadership: a stand-down duty failed")

    # -- who is alive, who leads -----------------------------------------------------------
    @staticmethod
    async def _held(conn: AsyncConnection) -> list[tuple[int, int]]:
        """(key, backend pid) of every replica lock granted in this database: key 0 is the leader's."""
        rows = await conn.execute(
            text(
                "SELECT objid, pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :ns AND objsubid = 2"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"ns": REPLICAS},
        )
        return [(int(r.objid), int(r.pid)) for r in rows]

    async def live(self) -> set[int]:
        """Ids of the replicas alive now (this one included)."""
        if not self.shared:
            return {self.id}
        async with self.db.connect() as conn:
            return {key for key, _ in await self._held(conn) if key != LEADER} | {self.id}

    async def leadership(self) -> Leadership:
        if not self.shared:
            return Leadership(self.name, self.is_leader, self.name if self.is_leader else None, 1)
        async with self.db.connect() as conn:
            held = await self._held(conn)
            leader_pid = next((pid for key, pid in held if key == LEADER), None)
            leader_id = next((key for key, pid in held if pid == leader_pid and key != LEADER), None)
            name = None
            if leader_id is not None:
                name = await conn.scalar(select(replicas.c.name).where(replicas.c.id == leader_id))
        live = sum(1 for key, _ in held if key != LEADER)
        return Leadership(self.name, self.is_leader, name, live)

    # -- the dead replicas' leftovers --------------------------------------------------------
    async def reap(self) -> dict[str, int]:
        """Work claimed by replicas that are no longer alive goes back: an outbox row it was sending is
        queued again (it may have arrived: at most that one message repeats), a remediation run it was
        running is failed and its action unlocked. Run by the leader on election and every few seconds."""
        live = await self.live()
        now = self.clock()
        async with self.db.begin() as conn:
            orphans = await conn.execute(
                update(outbox)
                .where(
                    outbox.c.status == "sending",
                    (outbox.c.claimed_by.is_(None)) | (outbox.c.claimed_by.not_in(live)),
                )
                .values(status="pending", claimed_by=None)
            )
            runs = await conn.execute(
                update(remediation_runs)
                .where(
                    remediation_runs.c.status == "running",
                    (remediation_runs.c.replica.is_(None)) | (remediation_runs.c.replica.not_in(live)),
                )
                .values(status="failed", finished_at=now, last_error="interrupted: its replica stopped")
            )
            running = select(remediation_runs.c.id).where(remediation_runs.c.status == "running")
            await conn.execute(delete(remediation_locks).where(remediation_locks.c.run_id.not_in(running)))
            # Rows of replicas long gone (every start adds one): kept a day for the record.
            await conn.execute(
                delete(replicas).where(replicas.c.id.not_in(live), replicas.c.started_at < now - timedelta(days=1))
            )
            if self.shared:
                await conn.execute(
                    delete(sends).where(sends.c.at < text("(clock_timestamp() AT TIME ZONE 'UTC') - interval '2 min'"))
                )
        counts = {"outbox": orphans.rowcount, "remediation": runs.rowcount}
        if counts["outbox"]:
            log.info("outbox: %d row(s) were in flight on a stopped replica; delivering again", counts["outbox"])
        if counts["remediation"]:
            log.info("remediation: %d run(s) were cut off by a stopped replica", counts["remediation"])
        return counts
