"""Shared test helpers: a controllable clock, settings, and small SQLite target databases."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ops.settings import Settings


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{db_path}",
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
