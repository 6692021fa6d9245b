from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ops.storage.db import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.pop("BOT_TOKEN", None)

import helpers


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


def create_pg_database_sync() -> str:
    server = os.environ.get("TEST_POSTGRES_URL")
    assert server, "the postgres backend runs only with TEST_POSTGRES_URL"
    return str(helpers.in_thread(create_pg_database(server)))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself; not run again on PostgreSQL")
    config.addinivalue_line("markers", "no_ops_db: touches no opsbot database of the test's; runs once")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test runs with opsbot's database on SQLite and again on PostgreSQL, unless marked."""
    if "db_backend" not in metafunc.fixturenames:
        return
    if any(metafunc.definition.get_closest_marker(m) for m in ("sqlite_only", "no_ops_db")):
        return  # runs once, on SQLite (the fixture's default)
    metafunc.parametrize("db_backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(autouse=True)
def db_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    backend = getattr(request, "param", "sqlite")
    server = os.environ.get("TEST_POSTGRES_URL")
    if backend == "postgres" and not server:
        pytest.skip("TEST_POSTGRES_URL is not set")
    helpers.BACKEND = backend
    try:
        yield backend
    finally:
        helpers.BACKEND = "sqlite"
        created = list(helpers.PG_DATABASES.values())
        helpers.PG_DATABASES.clear()
        for url in created:
            assert server
            helpers.in_thread(drop_pg_database(server, url))


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    url = await create_pg_database(postgres_url)
    yield url
    await drop_pg_database(postgres_url, url)
