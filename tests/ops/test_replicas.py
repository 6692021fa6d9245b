"""The pieces replicas coordinate with, on a real PostgreSQL database: the leader lock, what the leader
reaps when a replica dies, SKIP LOCKED claims, and the send budget shared through the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.notify.types import Reminder
from ops.replicas import Coordinator
from ops.storage.db import create_engine, migrate
from ops.storage.outbox import OutboxStore, enqueue
from ops.storage.replica_id import ReplicaId
from ops.storage.sends import TELEGRAM, SendLog
from ops.storage.tables import outbox

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

NOW = datetime(2026, 11, 23, 12, 0, 0)


@pytest.fixture
async def db(pg_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database)
    await migrate(engine)
    yield engine
    await engine.dispose()


async def coordinator(db: AsyncEngine, name: str, **hooks: Any) -> Coordinator:
    c = Coordinator(db, name=name, poll_interval=0.1, **hooks)
    await c.register()
    await c.start()
    return c


async def test_one_leader_and_the_next_takes_over_when_it_goes(db: AsyncEngine) -> None:
    a = await coordinator(db, "a")
    b = await coordinator(db, "b")
    try:
        assert a.is_leader and not b.is_leader
        assert await b.live() == {a.id, b.id}
        seen = await b.leadership()
        assert (seen.leader, seen.leader_replica, seen.live_replicas) == (False, "a", 2)
        await a.stop()  # its lock connection closes, as a killed process's would
        for _ in range(50):
            if b.is_leader:
                break
            await asyncio.sleep(0.05)
        assert b.is_leader
        assert await b.live() == {b.id}
        assert (await b.leadership()).leader_replica == "b"
    finally:
        await a.stop()
        await b.stop()


async def test_a_lost_lock_connection_deposes_the_leader(db: AsyncEngine) -> None:
    deposed: list[bool] = []

    async def note() -> None:
        deposed.append(True)

    a = await coordinator(db, "a", on_deposed=[note])
    try:
        async with db.connect() as conn:  # the server drops the leader's connection (a restart, a cut)
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND classid = 1869640546 AND objid = 0"  # this test's
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        for _ in range(50):
            if deposed:
                break
            await asyncio.sleep(0.05)
        assert deposed and not a.is_leader
        for _ in range(50):  # it reconnects and, nobody else being there, leads again
            if a.is_leader:
                break
            await asyncio.sleep(0.05)
        assert a.is_leader
    finally:
        await a.stop()


async def test_the_leader_requeues_rows_a_dead_replica_was_sending(db: AsyncEngine) -> None:
    a = await coordinator(db, "a")
    b = await coordinator(db, "b")
    try:
        async with db.begin() as conn:
            for chat in (-1, -2):
                await enqueue(conn, [chat], Reminder(), NOW)
        store_a, store_b = OutboxStore(db, a.replica), OutboxStore(db, b.replica)
        heads = await store_a.heads(NOW)
        assert await store_a.claim(heads[0].id)
        assert not await store_b.claim(heads[0].id)  # taken: not claimed twice
        assert await store_b.claim(heads[1].id)
        await b.stop()  # b dies with its row in flight
        assert await a.reap() == {"outbox": 1, "remediation": 0}
        async with db.connect() as conn:
            rows = {r.chat_id: r.status for r in await conn.execute(select(outbox.c.chat_id, outbox.c.status))}
        assert rows == {-1: "sending", -2: "pending"}  # a's own row is left alone
    finally:
        await a.stop()
        await b.stop()


async def test_the_send_budget_is_shared_across_replicas(db: AsyncEngine) -> None:
    one, two = SendLog(db, ReplicaId(1)), SendLog(db, ReplicaId(2))
    assert await one.reserve(-100, TELEGRAM) == 0
    wait = await two.reserve(-100, TELEGRAM)  # the other replica may not post to that chat within a second
    assert 0.5 < wait <= 1.0
    assert await two.reserve(-200, TELEGRAM) == 0
    others, blocks = await one.news()
    assert [chat for chat, _ in others] == [-200] and blocks == {}
    for chat in range(1, 29):  # 30 sends in this second, across both replicas
        assert await (one if chat % 2 else two).reserve(chat, TELEGRAM) == 0
    assert await one.reserve(999, TELEGRAM) > 0  # the 31st waits: 30 per second overall
    await two.block(-300, 7)
    assert await one.reserve(-300, TELEGRAM) > 6
    _, blocks = await one.news()
    assert 6 < blocks[-300] <= 7
