"""Engine creation and migrations, for SQLite (WAL, busy timeout, immediate writes) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ops.storage.mutex import MUTEX_MIGRATE, serialize
from ops.storage.urls import describe_server

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
READ_ONLY = "opsbot_read_only"  # an execution option: this connection never writes
SQLITE_BUSY_TIMEOUT = 30.0  # seconds SQLite itself waits for a lock before saying "database is locked"
log = logging.getLogger(__name__)
T = TypeVar("T")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite every transaction is `BEGIN IMMEDIATE` so writers queue, not fail."""
    parsed = make_url(url)
    busy_timeout = SQLITE_BUSY_TIMEOUT
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout}, **kwargs)
        _make_sqlite_safe(engine, busy_timeout)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked"/"busy": another writer held on longer than the busy timeout."""
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


async def retry_locked(what: str, fn: Callable[[], Awaitable[T]], *, attempts: int = 5, delay: float = 1.0) -> T:
    """Run a transaction again (whole: it was rolled back) while the database is locked by someone else."""
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except OperationalError as exc:
            if not is_locked(exc) or attempt == attempts:
                raise
            log.warning("%s: database is locked; retry %d of %d in %.1fs", what, attempt, attempts - 1, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class DatabaseUnavailable(Exception):
    """opsbot's own database cannot be reached, or refuses: one line saying where and why (no password)."""


# PostgreSQL says these while it starts, stops or is full: worth waiting for. Any other refusal (a wrong
# password, an unknown role or database) stays a refusal however long one waits.
_TRANSIENT_SQLSTATES = {"57P03", "53300", "57P01", "57P02"}


def _reason(exc: BaseException) -> tuple[str, bool]:
    """(why, in a few words; whether waiting could help)."""
    orig: BaseException = exc
    while isinstance(orig, DBAPIError) and orig.orig is not None:
        orig = orig.orig
    cause = orig.__cause__ or orig  # SQLAlchemy's asyncpg adapter keeps asyncpg's own error as the cause
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(cause, socket.gaierror):
        return "host name not found", True
    if isinstance(cause, TimeoutError):
        return "no answer", True
    if isinstance(cause, OSError):
        return cause.strerror or type(cause).__name__, True
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return first, getattr(cause, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _check_sqlite_path(where: str) -> None:
    """Whether opsbot could open (or create) the SQLite file, without creating it: a start refused later
    (a token Telegram refuses, a port in use) leaves nothing behind. The engine makes missing folders."""
    if where == ":memory:":
        return
    path = Path(where)
    problem = None
    if path.is_dir():
        problem = "it is a folder"
    elif path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            problem = "not readable and writable by this user"
    else:
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            problem = f"{ancestor} is not a folder"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            problem = f"cannot create it in {ancestor} (not writable)"
    if problem:
        raise DatabaseUnavailable(f"cannot open the SQLite database {where}: {problem} (DATABASE_URL)")


async def wait_for_database(
    url: str, wait: float, *, on_waiting: Callable[[str], None] | None = None, connect_timeout: float = 5.0
) -> None:
    """Connect once; while PostgreSQL is down or starting, try again with backoff for up to `wait`
    seconds (`on_waiting` hears once what is being waited for). Raises DatabaseUnavailable."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed.database or ":memory:")
        return
    where = f"PostgreSQL at {describe_server(url)}"
    deadline = time.monotonic() + wait
    delay = 0.5
    engine = create_async_engine(url, connect_args={"timeout": connect_timeout}, poolclass=NullPool)
    told = False
    try:
        while True:
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                return
            except (OSError, DBAPIError) as exc:
                why, transient = _reason(exc)
            if not transient:
                raise DatabaseUnavailable(f"{where} refused: {why} (DATABASE_URL)")
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" after {wait:g}s" if wait > 0 else ""
                raise DatabaseUnavailable(
                    f"{where} is not answering{waited} ({why}); is it running? (DATABASE_URL, DATABASE_WAIT)"
                )
            if not told and on_waiting is not None:
                on_waiting(f"waiting up to {wait:g}s for {where} ({why})…")
                told = True
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
    finally:
        await engine.dispose()


def _make_sqlite_safe(engine: AsyncEngine, busy_timeout: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@asynccontextmanager
async def reading(db: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that only reads. On SQLite its transaction is deferred: in WAL mode it reads a snapshot
    without waiting for a writer, so /healthz answers while a storm is being written (every other
    transaction is `BEGIN IMMEDIATE` and queues behind the writer)."""
    async with db.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        yield conn


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (head by default) over the engine's own connection."""

    def run(sync_conn: Connection) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await serialize(conn, MUTEX_MIGRATE)  # replicas starting together: one migrates, the others wait
        await conn.run_sync(run)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(sync_conn: Connection) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def read(sync_conn: Connection) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
