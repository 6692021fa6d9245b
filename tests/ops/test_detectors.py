"""Every detector kind against real databases: SQLite files, and the PostgreSQL server."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import make_sqlite
from ops.config import parse_config
from ops.detectors import DetectorContext, TargetPool, build_detector, run_detector
from ops.metrics import Metrics
from ops.model import CheckStatus, Severity
from ops.storage.db import create_engine


async def run(config_text: str) -> list:
    config = parse_config(config_text, env={})
    pool = TargetPool(config.targets)
    try:
        out = []
        for detector in config.detectors:
            out.extend(await run_detector(build_detector(detector, DetectorContext(pool)), Metrics()))
        return out
    finally:
        await pool.dispose()


@pytest.fixture
def shop(tmp_path: Path) -> str:
    now = datetime.utcnow()
    return make_sqlite(
        tmp_path / "shop.db",
        f"""
        CREATE TABLE balances (marketplace TEXT, balance REAL);
        INSERT INTO balances VALUES ('wb', -12500), ('ozon', 300);
        CREATE TABLE telemetry (lane TEXT, ts TEXT);
        INSERT INTO telemetry VALUES ('a', '{(now - timedelta(minutes=10)).isoformat(" ")}'),
                                     ('b', '{(now - timedelta(seconds=30)).isoformat(" ")}');
        CREATE TABLE empty (v REAL);
        """,
    )


async def test_sql_single_value_and_keyed_rows(shop: str) -> None:
    results = await run(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: low, kind: sql, target: shop, query: "SELECT MIN(balance) FROM balances", alert_if: "< -10000", severity: critical}}
  - {{name: per_mp, kind: sql, target: shop, query: "SELECT marketplace, balance FROM balances ORDER BY 1", alert_if: "< -10000"}}
"""
    )
    low, ozon, wb = results
    assert (low.status, low.value, low.severity) == (CheckStatus.fail, -12500, Severity.critical)
    assert low.message == "low = -12,500 (alert if < -10000)"
    assert (ozon.key, ozon.ok, wb.key, wb.ok) == ("ozon", True, "wb", False)


async def test_no_rows_is_no_data_and_fires_only_when_asked(shop: str) -> None:
    quiet, loud = await run(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: quiet, kind: sql, target: shop, query: "SELECT MAX(v) FROM empty", alert_if: "> 1"}}
  - {{name: loud, kind: sql, target: shop, query: "SELECT v FROM empty", alert_if: "> 1", no_data: alert}}
"""
    )
    assert quiet.status is CheckStatus.no_data and quiet.ok
    assert loud.status is CheckStatus.no_data and not loud.ok


async def test_errors_and_timeouts_are_error_results_never_ok(shop: str, tmp_path: Path) -> None:
    results = await run(
        f"""
targets: {{shop: "{shop}", gone: "sqlite+aiosqlite:///{tmp_path}/missing.db"}}
detectors:
  - {{name: typo, kind: sql, target: shop, query: "SELECT nope FROM balances", alert_if: "< 0"}}
  - {{name: writes, kind: sql, target: shop, query: "DELETE FROM balances", alert_if: "< 0"}}
  - {{name: slow, kind: sql, target: shop, timeout: 1s, alert_if: "< 0",
      query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT max(x) FROM c"}}
  - {{name: gone, kind: sql, target: gone, query: "SELECT 1", alert_if: "< 0"}}
  - {{name: text, kind: sql, target: shop, query: "SELECT 'abc'", alert_if: "< 0"}}
"""
    )
    assert [r.status for r in results] == [CheckStatus.error] * 5
    assert all(r.severity is Severity.error and not r.ok for r in results)
    typo, writes, slow, gone, txt = results
    assert typo.message.startswith("typo: OperationalError: no such column: nope")
    assert "readonly" in writes.message
    assert slow.message == "slow: timed out after 1s" and slow.duration_ms < 3000
    assert "database file not found" in gone.message and not (tmp_path / "missing.db").exists()
    assert "is not a number" in txt.message
    # The read-only detector really wrote nothing.
    assert (
        len(
            await run(
                f'targets: {{shop: "{shop}"}}\ndetectors:\n  - {{name: n, kind: sql, target: shop, query: "SELECT marketplace, balance FROM balances", alert_if: "< -1e9"}}'
            )
        )
        == 2
    )


async def test_freshness_per_key_and_missing(shop: str) -> None:
    results = await run(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: lanes, kind: freshness, target: shop, query: "SELECT lane, MAX(ts) FROM telemetry GROUP BY lane", max_age: 3m}}
  - {{name: none, kind: freshness, target: shop, query: "SELECT MAX(ts) FROM telemetry WHERE 0", max_age: 3m}}
"""
    )
    a, b, none = results
    assert (a.key, a.ok, b.key, b.ok) == ("a", False, "b", True)
    assert a.message.startswith("lanes[a]: last update 10m") and 590 < a.value < 700
    assert none.status is CheckStatus.fail and "no timestamp" in none.message


async def test_db_size_sqlite(shop: str) -> None:
    small, big = await run(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: small, kind: db_size, target: shop, alert_if: "> 5GB"}}
  - {{name: big, kind: db_size, target: shop, alert_if: "> 1KB"}}
"""
    )
    assert small.ok and not big.ok and small.value == big.value and small.value >= 4096


async def test_postgres_sql_freshness_and_size(postgres_url: str) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (k TEXT, v NUMERIC, ts TIMESTAMPTZ)"))
        await conn.execute(text(f"INSERT INTO {table} VALUES ('a', -5, now() - interval '1 hour'), ('b', 5, now())"))
    try:
        results = await run(
            f"""
targets: {{pg: "{postgres_url}"}}
detectors:
  - {{name: vals, kind: sql, target: pg, query: "SELECT k, v FROM {table} ORDER BY k", alert_if: "< 0"}}
  - {{name: fresh, kind: freshness, target: pg, query: "SELECT MAX(ts) FROM {table}", max_age: 5m}}
  - {{name: size, kind: db_size, target: pg, alert_if: "> 1TB"}}
  - {{name: nowrite, kind: sql, target: pg, query: "DELETE FROM {table} RETURNING 1", alert_if: "< 0"}}
  - {{name: slow, kind: sql, target: pg, timeout: 1s, query: "SELECT pg_sleep(5)", alert_if: "< 0"}}
"""
        )
        a, b, fresh, size, nowrite, slow = results
        assert (a.ok, b.ok, fresh.ok, size.ok) == (False, True, True, True)
        assert size.value > 1_000_000
        assert nowrite.status is CheckStatus.error and "read-only" in nowrite.message
        assert slow.status is CheckStatus.error and slow.duration_ms < 3000
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))
        await engine.dispose()
