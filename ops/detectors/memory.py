"""What a detector remembers between runs, kept in opsbot's database so a restart forgets nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.tables import detector_memory


async def recall(db: AsyncEngine, detector: str, key: str) -> tuple[datetime, Any] | None:
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(detector_memory.c.ts, detector_memory.c.state_json).where(
                    detector_memory.c.detector == detector, detector_memory.c.key == key
                )
            )
        ).first()
    return (row.ts, json.loads(row.state_json)) if row else None


async def remember(db: AsyncEngine, detector: str, key: str, ts: datetime, state: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(
            delete(detector_memory).where(detector_memory.c.detector == detector, detector_memory.c.key == key)
        )
        await conn.execute(
            insert(detector_memory).values(detector=detector, key=key, ts=ts, state_json=json.dumps(state))
        )
