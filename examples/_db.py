"""Writing sample data through SQLAlchemy, on SQLite or PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.storage.db import create_engine


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


async def run(url: str, statements: Sequence[str], rows: Iterable[tuple[str, list[dict[str, Any]]]]) -> None:
    """Execute DDL statements, then insert rows: (INSERT statement with :names, [params, ...])."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
            for insert, params in rows:
                if params:
                    await conn.execute(text(insert), params)
    finally:
        await engine.dispose()


async def execute(url: str, statement: str, params: dict[str, Any] | None = None) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params or {})
    finally:
        await engine.dispose()


async def scalar(conn: AsyncConnection, statement: str) -> Any:
    return await conn.scalar(text(statement))
