"""Shared test helpers: a controllable clock, settings, and small SQLite target databases."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ops.settings import Settings
from ops.storage.db import create_engine

# Which database opsbot's own tables live in for the running test: "sqlite" or "postgres". Set per test by
# conftest's autouse `db_backend` fixture (every test runs on both unless marked), read by `database_url`.
BACKEND = "sqlite"
# On PostgreSQL: a database per (test, path), made on first use; conftest drops them after the test.
PG_DATABASES: dict[Path, str] = {}


def in_thread(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on opsbot's database (either backend), from sync test code.

    SQLite is read with a plain read-only connection: opsbot's engine begins every transaction with
    BEGIN IMMEDIATE, which would wait for a write the app (in this very event loop, blocked here) cannot
    finish — until the busy timeout."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
            return [tuple(r) for r in conn.execute(statement)]

    async def run() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(text(statement))]
        finally:
            await engine.dispose()

    return list(in_thread(run()))


def database_url(db_path: Path) -> str:
    """The URL for opsbot's database at `db_path` under the current backend (a fresh PG database per path)."""
    if BACKEND == "sqlite":
        return f"sqlite+aiosqlite:///{db_path}"
    if db_path not in PG_DATABASES:
        from conftest import create_pg_database_sync

        PG_DATABASES[db_path] = create_pg_database_sync()
    return PG_DATABASES[db_path]


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url(db_path),
        "alert_chat_ids": [-1001, -1002],
        "admin_chat_ids": [-1009],
        "admin_user_ids": [42],
        "bot_token": "",
        "group_wait_sec": 0,  # storm tests set it; a single alert need not wait for company
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def make_sqlite(path: Path, script: str) -> str:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


def sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def write_storm_config(tmp_path: Path, keys: int, failing: int | None = None, extra: str = "") -> None:
    """`opsbot.yaml` with a `cash_balance` detector (every 1h) over `keys` marketplaces mp000…, the first
    `failing` of them (all by default) below zero: one sweep is a storm. `extra`: more detector lines."""
    failing = keys if failing is None else failing
    values = ", ".join(f"('mp{i:03d}', {-50000 if i < failing else 1})" for i in range(keys))
    shop = make_sqlite(tmp_path / "shop.db", f"CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES {values};")
    (tmp_path / "opsbot.yaml").write_text(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: critical, every: 1h}}
{extra}""",
        encoding="utf-8",
    )
