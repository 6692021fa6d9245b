"""On SQLite, one `opsbot run` per database file: a second one would poll Telegram beside the first
(Telegram answers 409) and send every alert twice. PostgreSQL is the database for several replicas."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url


class AlreadyRunning(Exception):
    """Another opsbot holds this SQLite database; the message says which and what to do."""


def hold_sqlite(database_url: str) -> IO[str] | None:
    """Take `<db>.lock` for as long as the process lives (the OS releases it even on SIGKILL).
    Returns the open lock file to keep, or None for a database that is not a SQLite file."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).resolve().with_name(Path(url.database).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # held open on purpose until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise AlreadyRunning(
            f"another opsbot (pid {holder}) is running on {url.database}; SQLite serves one replica — "
            "stop it, or use PostgreSQL (DATABASE_URL=postgresql+asyncpg://…) for several"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
