"""Database URLs as users type them: `postgresql://` and `sqlite:///` get the async driver opsbot uses."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
_ALIASES = {"postgres": "postgresql"}  # Heroku's and libpq's spelling
EXAMPLES = "sqlite+aiosqlite:///./opsbot.db or postgresql+asyncpg://user:pass@host:5432/opsbot"


def normalize_database_url(url: str) -> str:
    """The URL with the async driver added where none was given; ValueError (never echoing the URL,
    which may hold a password) for anything opsbot cannot use."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ValueError(f"not a database URL; expected {EXAMPLES}") from None
    backend, _, driver = parsed.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    wanted = ASYNC_DRIVERS.get(backend)
    if wanted is None:
        raise ValueError(f"opsbot keeps its state in SQLite or PostgreSQL, not {backend!r}; expected {EXAMPLES}")
    if driver and driver != wanted:
        raise ValueError(f"opsbot talks to {backend} through {wanted}: write {backend}+{wanted}://… (not +{driver})")
    changed = parsed.drivername != f"{backend}+{wanted}"
    if backend == "postgresql" and "sslmode" in parsed.query:  # libpq's spelling; asyncpg calls it ssl
        query = dict(parsed.query)
        query.setdefault("ssl", query.pop("sslmode"))
        query.pop("sslmode", None)
        parsed, changed = parsed.set(query=query), True
    if not changed:
        return url.strip()
    return _render(parsed.set(drivername=f"{backend}+{wanted}"))


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def describe_server(url: str) -> str:
    """Where a URL points, for messages: `host:port` for a server, the file for SQLite (no password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
