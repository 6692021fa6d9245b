from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ops.storage.db import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.pop("BOT_TOKEN", None)


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set")
    return url


async def create_pg_database(server_url: str) -> str:
    """A database of its own on the PostgreSQL server; `drop_pg_database` removes it."""
    name = f"ex_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    await admin.dispose()
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(server_url: str, database_url: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE {database_url.rsplit('/', 1)[1]} WITH (FORCE)"))
    await admin.dispose()


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    url = await create_pg_database(postgres_url)
    yield url
    await drop_pg_database(postgres_url, url)


async def database_url_for(request: pytest.FixtureRequest, sqlite_path: Path) -> str:
    """For a fixture parametrized over ["sqlite", "postgres"]: the URL to use (a new PG database)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{sqlite_path}"
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url = await create_pg_database(server)

    def drop() -> None:
        import asyncio

        asyncio.run(drop_pg_database(server, url))

    request.addfinalizer(drop)
    return url
