"""Migrations up and down, on SQLite and on PostgreSQL; vw_slo_daily and vw_ops_health answer on both."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.db import create_engine, current_revision, downgrade, migrate

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

TABLES = {
    "ops_check_results",
    "ops_alert_state",
    "ops_alerts_history",
    "ops_alert_events",
    "ops_remediation_history",
    "ops_outbox",
    "ops_silences",
    "ops_digests",
    "ops_remediation_confirmations",
    "ops_config_reloads",
    "ops_console_tokens",
}


async def _names(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: (set(inspect(c).get_table_names()), set(inspect(c).get_view_names())))


async def _roundtrip(engine: AsyncEngine) -> None:
    await migrate(engine)
    assert await current_revision(engine) == "0016_board_pinned"
    tables, views = await _names(engine)
    assert TABLES <= tables and {"vw_slo_daily", "vw_ops_health"} <= views
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ops_alerts_history (created_at, fingerprint, source, severity, message, status, last_seen_at) "
                "VALUES (CURRENT_TIMESTAMP, 'f', 'ingest_success_rate', 'critical', 'm', 'firing', CURRENT_TIMESTAMP)"
            )
        )
    async with engine.connect() as conn:
        health = (await conn.execute(text("SELECT * FROM vw_ops_health"))).mappings().one()
        daily = (await conn.execute(text("SELECT * FROM vw_slo_daily"))).mappings().all()
    assert dict(health) == {
        "alerts_last_hour": 1,
        "critical_last_24h": 1,
        "remediations_last_hour": 0,
        "remediation_failures_24h": 0,
    }
    assert len(daily) == 1 and daily[0]["critical_total"] == 1 and daily[0]["ingest_violations"] == 1
    await migrate(engine)  # idempotent
    await downgrade(engine, "base")
    assert await current_revision(engine) is None
    tables, views = await _names(engine)
    assert not (TABLES & tables) and not views & {"vw_slo_daily", "vw_ops_health"}
    await migrate(engine)
    assert await current_revision(engine) == "0016_board_pinned"


async def test_sqlite_up_down_up(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}")
    try:
        await _roundtrip(engine)
    finally:
        await engine.dispose()


async def test_postgres_up_down_up(postgres_url: str) -> None:
    schema = f"m_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_engine(postgres_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        await _roundtrip(engine)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()
