"""The generations of the config: one row per reload a replica took (see `ops.replicas` for who looks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.tables import config_reloads


@dataclass(frozen=True)
class Generation:
    id: int
    digest: str
    replica: int


class ConfigReloads:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def latest(self) -> Generation | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(config_reloads).order_by(config_reloads.c.id.desc()).limit(1))).first()
        return Generation(row.id, row.digest, row.replica) if row else None

    async def record(self, digest: str, replica: int, now: datetime) -> int:
        """A reload this replica took: its generation, which the other replicas will follow."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                insert(config_reloads)
                .values(digest=digest, reloaded_at=now, replica=replica)
                .returning(config_reloads.c.id)
            )
            return int(result.scalar_one())
