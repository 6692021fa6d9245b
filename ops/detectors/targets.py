"""Databases detectors read: one engine per target, read-only where the driver allows."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Result, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class QueryTimeout(Exception):
    pass


class TargetPool:
    """One engine per target URL. `targets` may be a live mapping (`CurrentConfig.targets`): a reload that
    points a target elsewhere gets a new engine, and `dispose_unused` closes the ones no target names now."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._urls = targets
        self._engines: dict[str, AsyncEngine] = {}  # by URL

    def dialect(self, name: str) -> str:
        return make_url(self._urls[name]).get_backend_name()

    def engine(self, name: str) -> AsyncEngine:
        url = self._urls[name]
        if url not in self._engines:
            self._engines[url] = _read_only_engine(url)
        return self._engines[url]

    async def dispose_unused(self) -> None:
        """Close the engines of URLs no target has any more (after a reload)."""
        wanted = set(self._urls.values())
        for url in [u for u in self._engines if u not in wanted]:
            await self._engines.pop(url).dispose()

    async def fetch(
        self, target: str, sql: str, timeout: float, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only query with its timeout enforced on the server side too."""
        url = make_url(self._urls[target])
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            if not Path(url.database).is_file():
                raise FileNotFoundError(f"database file not found: {url.database}")
        engine = self.engine(target)
        async with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            return await _with_timeout(conn, sql, params or {}, timeout)

    async def dispose(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()


async def _with_timeout(
    conn: AsyncConnection, sql: str, params: Mapping[str, Any], timeout: float
) -> tuple[list[str], list[tuple[Any, ...]]]:
    async def run() -> tuple[list[str], list[tuple[Any, ...]]]:
        result: Result[Any] = await conn.execute(text(sql), dict(params))
        if not result.returns_rows:
            return [], []
        return list(result.keys()), [tuple(r) for r in result.fetchall()]

    task = asyncio.ensure_future(run())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if task in done:
        return task.result()
    # SQLite runs in a worker thread that cancellation cannot stop: interrupt the statement.
    raw = await conn.get_raw_connection()
    sqlite_conn = getattr(raw.driver_connection, "_conn", None)
    if sqlite_conn is not None:
        sqlite_conn.interrupt()
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    raise QueryTimeout(f"timed out after {timeout:g}s")


def _read_only_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 5})

        @event.listens_for(engine.sync_engine, "connect")
        def _query_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()

        return engine
    if backend == "postgresql" and parsed.get_driver_name() == "asyncpg":
        return create_async_engine(
            url,
            pool_pre_ping=True,
            connect_args={"server_settings": {"default_transaction_read_only": "on"}},
        )
    return create_async_engine(url, pool_pre_ping=True)
