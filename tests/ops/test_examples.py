"""Every example detector fires on its broken sample data and passes on the healthy one —
marketplace on SQLite, trading-pipeline and devdiag on the PostgreSQL server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from examples import get
from examples.marketplace import latency_app, seed_pings
from helpers import make_settings
from ops.config import load_config
from ops.runtime import OpsCore
from ops.storage.tables import alerts_history

STATES = ("healthy", "broken")


async def fired_and_failing(
    example_name: str, target_url: str, tmp_path: Path, extra_env: dict[str, str], state: str
) -> tuple[set[str], set[str], set[str]]:
    """Sweep an example config until `for` is satisfied; return (detectors, failing, firing)."""
    example = get(example_name)
    settings = make_settings(tmp_path / f"ops-{state}.db", alert_chat_ids=[-1001])
    env = {**settings.config_env(), **os.environ, **example.module.env(target_url), **extra_env}
    config = load_config(example.config, env=env)
    core = OpsCore.build(settings, config)
    await core.migrate()
    if example_name == "marketplace":
        await seed_pings(settings.database_url, state)
    try:
        failing: set[str] = set()
        for _ in range(max(d.for_ for d in config.detectors) + 1):  # metrics need a second scrape, `for` its count
            report = await core.sweeper.sweep()
            failing = {r.detector for r in report.results if not r.ok}
        async with core.db.connect() as conn:
            firing = {
                r.source
                for r in await conn.execute(select(alerts_history.c.source).where(alerts_history.c.status == "firing"))
            }
        errors = [r.message for r in report.results if r.status.value == "error"]
        assert not errors, errors
        return {d.name for d in config.detectors}, failing, firing
    finally:
        await core.close()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/metrics"  # type: ignore[union-attr]


@pytest.mark.parametrize("state", STATES)
async def test_marketplace_on_sqlite(tmp_path: Path, state: str) -> None:
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    await get("marketplace").module.seed(shop, state)
    runner, metrics_url = await serve(latency_app(state))
    try:
        names, failing, firing = await fired_and_failing(
            "marketplace", shop, tmp_path, {"APP_METRICS_URL": metrics_url, "DB_GROWTH_LIMIT": "512KB"}, state
        )
    finally:
        await runner.cleanup()
    if state == "broken":
        assert failing == names and firing == names
    else:
        assert failing == set() and firing == set()


@pytest.mark.parametrize("name", ["trading-pipeline", "devdiag"])
@pytest.mark.parametrize("state", STATES)
async def test_postgres_examples(pg_database: str, tmp_path: Path, name: str, state: str) -> None:
    await get(name).module.seed(pg_database, state)
    names, failing, firing = await fired_and_failing(name, pg_database, tmp_path, {}, state)
    if state == "broken":
        assert failing == names and firing == names
    else:
        assert failing == set() and firing == set()


async def test_fix_repairs_the_story_detector(pg_database: str, tmp_path: Path) -> None:
    module = get("trading-pipeline").module
    await module.seed(pg_database, "broken")
    fixed = await module.fix(pg_database)
    _, failing, _ = await fired_and_failing("trading-pipeline", pg_database, tmp_path, {}, "broken")
    assert fixed == "telemetry_lag" and fixed not in failing
