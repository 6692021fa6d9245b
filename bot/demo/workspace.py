"""Prepares a demo workspace from one of the shipped examples (see `examples/`)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text

from examples import get
from examples.marketplace import latency_app, seed_pings
from ops.storage.db import create_engine
from ops.storage.urls import normalize_database_url

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = "OPSBOT_DEMO_POSTGRES_URL"
# The demo is a time-lapse: every detector runs every few seconds instead of every minute.
DEMO_EVERY = 3.0
SALES_FEED_RESTART = "/admin/sales-feed/restart"
EXPECTED_CARDS = {"marketplace": 5, "trading-pipeline": 7, "devdiag": 6}


@dataclass
class Workspace:
    name: str
    directory: Path
    config: Path
    target_url: str
    database_url: str
    env: dict[str, str]
    story: dict[str, str]
    expected_cards: int
    fix: Callable[[], Awaitable[str]]
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            await cleanup()


class DemoError(Exception):
    """The demo cannot run here (say, no PostgreSQL for a PostgreSQL example); one line why."""


async def create_workspace(
    directory: Path, example_name: str = "marketplace", postgres_url: str | None = None
) -> Workspace:
    example = get(example_name)
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "opsbot.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database_url = f"sqlite+aiosqlite:///{database.resolve()}"
    cleanups: list[Callable[[], Awaitable[Any]]] = []
    extra: dict[str, str] = {}
    try:
        if example.dialect == "sqlite":
            shop = directory / "shop.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{shop}{suffix}").unlink(missing_ok=True)
            target_url = f"sqlite+aiosqlite:///{shop.resolve()}"
            await example.module.seed(target_url, "demo")
            runner = web.AppRunner(_shop_app(example.module, target_url), access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            cleanups.append(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            extra["APP_METRICS_URL"] = f"http://127.0.0.1:{port}/metrics"
            extra["SALES_FEED_RESTART_URL"] = f"http://127.0.0.1:{port}{SALES_FEED_RESTART}"
            env = example.module.env(target_url, extra["APP_METRICS_URL"])
        else:
            target_url = await _fresh_postgres_database(postgres_url or DEFAULT_POSTGRES, example_name)
            await example.module.seed(target_url, "broken")
            env = example.module.env(target_url)
    except BaseException:  # a Ctrl-C half-way: stop what was started
        for cleanup in reversed(cleanups):
            await cleanup()
        raise
    return Workspace(
        name=example_name,
        directory=directory,
        config=example.config,
        target_url=target_url,
        database_url=database_url,
        env={**env, **extra},
        story=dict(example.module.STORY),
        expected_cards=EXPECTED_CARDS[example_name],
        fix=lambda: example.module.fix(target_url),
        cleanups=cleanups,
    )


def _shop_app(module: Any, shop_url: str) -> web.Application:
    """The shop as the demo's detectors and remediations see it: its API's metrics, healthy, and the
    sales feed's restart endpoint (`restart_sales_feed` in marketplace.yaml), which brings the stalled
    feed's sales in, as restarting a stuck ingester would."""
    app = latency_app("healthy")

    async def restart_sales_feed(_request: web.Request) -> web.Response:
        await module.fix(shop_url)
        return web.json_response({"restarted": "sales_feed", "caught_up": True})

    app.router.add_post(SALES_FEED_RESTART, restart_sales_feed)
    return app


async def after_migrations(workspace: Workspace) -> None:
    """The marketplace's jobs have been pinging their heartbeats (healthy)."""
    if workspace.name == "marketplace":
        await seed_pings(workspace.database_url, "healthy")


async def _fresh_postgres_database(server_url: str, example_name: str) -> str:
    name = "opsbot_demo_" + example_name.replace("-", "_")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {name}"))
    except (OSError, Exception) as exc:  # the server is down or refuses: one clear line
        raise DemoError(
            f"the {example_name} example needs PostgreSQL; {server_url.split('@')[-1]} answered "
            f"{type(exc).__name__} (set OPSBOT_DEMO_POSTGRES_URL or --postgres)"
        ) from None
    finally:
        await admin.dispose()
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def postgres_server(given: str | None) -> str | None:
    """The PostgreSQL server URL from --postgres or OPSBOT_DEMO_POSTGRES_URL, with its driver added."""
    name, url = ("--postgres", given) if given else (POSTGRES_ENV, os.environ.get(POSTGRES_ENV))
    if not url:
        return None
    try:
        url = normalize_database_url(url)
    except ValueError as exc:
        raise DemoError(f"{name}: {exc}") from None
    if not url.startswith("postgresql"):
        raise DemoError(f"{name}: expected a PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    return url


def prepare_directory(directory: Path) -> Path:
    """The demo's folder, made if missing; a file in its place or no permission is one line."""
    if directory.exists() and not directory.is_dir():
        raise DemoError(f"--dir {directory} is a file, not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"--dir {directory}: cannot create it ({exc.strerror})") from None
    return directory
