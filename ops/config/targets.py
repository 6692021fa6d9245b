"""A target is a database URL with an asyncio driver; the plain forms users type get one added."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

EXAMPLE = "e.g. postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path/to.db"
_DEFAULT_DRIVER = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def database_url(value: str) -> str:
    """The URL, with `postgresql://`, `postgres://` and `sqlite://` given their asyncio driver.

    Errors never quote the URL: it may hold a password.
    """
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL ({EXAMPLE})") from None
    if url.drivername in _DEFAULT_DRIVER and value.startswith(f"{url.drivername}:"):
        value = _DEFAULT_DRIVER[url.drivername] + value[len(url.drivername) :]
        url = make_url(value)
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"not a database URL: {url.drivername!r} is not a database ({EXAMPLE})") from None
    dialect = dialect.get_async_dialect_cls(url)
    if not dialect.is_async:
        backend = url.get_backend_name()
        raise ValueError(
            f"{dialect.driver} is not an asyncio driver (e.g. {_DEFAULT_DRIVER.get(backend, backend)}://…)"
        )
    try:
        dialect.import_dbapi()
    except ImportError:
        raise ValueError(f"the driver {dialect.driver} is not installed") from None
    return value
