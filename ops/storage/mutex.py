"""Transaction locks that serialize one kind of write across replicas (PostgreSQL advisory locks).

They live with storage because the stores that write under them (migrations, the send budget) sit below
the engine and the replica coordinator; `ops.replicas` names them for the layers above."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Advisory lock keys (two int4 form): (MUTEX, n) are transaction locks that serialize one kind of write.
MUTEX = 0x6F707363
MUTEX_ENGINE = 1
MUTEX_BUDGET = 2
MUTEX_MIGRATE = 3


async def serialize(conn: AsyncConnection, key: int) -> None:
    """Inside a transaction: wait until no other replica is in a transaction holding `key`.

    On SQLite every write transaction is `BEGIN IMMEDIATE`, which serializes already."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": MUTEX, "key": key})
