"""The SQLite file under a running opsbot. Deleting (or replacing) it does not stop SQLite: the open
connections write on into the unlinked file, which nobody will ever open again, and `SELECT 1` still
answers. So the file is known by its identity (device, inode) from start-up, and each housekeeping tick
compares: a file gone or replaced is a problem `/healthz` reports (503) and the log says once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class DatabaseFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = _identity(path)
        self.problem: str | None = None

    @classmethod
    def of(cls, database_url: str) -> DatabaseFile | None:
        """The file of a SQLite database URL (None for PostgreSQL or an in-memory database)."""
        url = make_url(database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return cls(Path(url.database).resolve())

    def check(self) -> str | None:
        """The problem with the file now, if any (logged when it appears and when it goes)."""
        now = _identity(self.path)
        if now is None:
            problem = f"the SQLite database {self.path} was deleted under the running opsbot"
        elif self.identity is None:
            self.identity, problem = now, None  # created after we looked: this is our file
        elif now != self.identity:
            problem = f"the SQLite database {self.path} was replaced by another file under the running opsbot"
        else:
            problem = None
        if problem is not None and problem != self.problem:
            log.error("%s: what it writes now is lost — restore the file or restart opsbot", problem)
        elif problem is None and self.problem is not None:
            log.info("the SQLite database %s is back", self.path)
        self.problem = problem
        return problem
