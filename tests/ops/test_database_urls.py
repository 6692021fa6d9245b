"""DATABASE_URL as users type it: the async driver is added, other databases and drivers are refused."""

from __future__ import annotations

import pytest

from ops.settings import SettingsError, load_settings
from ops.storage.urls import normalize_database_url

pytestmark = pytest.mark.no_ops_db


@pytest.mark.parametrize(
    ("typed", "used"),
    [
        ("postgresql://u:p%40ss@db:5433/ops", "postgresql+asyncpg://u:p%40ss@db:5433/ops"),
        ("postgres://u@db/ops", "postgresql+asyncpg://u@db/ops"),
        ("postgresql://u@db/ops?sslmode=require", "postgresql+asyncpg://u@db/ops?ssl=require"),
        ("postgresql+asyncpg://u@db/ops", "postgresql+asyncpg://u@db/ops"),
        ("sqlite:///./opsbot.db", "sqlite+aiosqlite:///./opsbot.db"),
        ("sqlite:////var/lib/opsbot/state.db", "sqlite+aiosqlite:////var/lib/opsbot/state.db"),
        (" sqlite+aiosqlite:///./opsbot.db\n", "sqlite+aiosqlite:///./opsbot.db"),
    ],
)
def test_the_driver_is_added(typed: str, used: str) -> None:
    assert normalize_database_url(typed) == used
    assert load_settings(_env_file=None, database_url=typed).database_url == used


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("mysql://root:secret@db/ops", "opsbot keeps its state in SQLite or PostgreSQL, not 'mysql'"),
        ("postgresql+psycopg2://u:secret@db/ops", "write postgresql+asyncpg://… (not +psycopg2)"),
        ("opsbot.db", "not a database URL"),
    ],
)
def test_what_opsbot_cannot_use_is_named_without_the_password(typed: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, database_url=typed)
    assert str(caught.value).startswith("bad setting DATABASE_URL: ") and says in str(caught.value)
    assert "secret" not in str(caught.value)
