"""`keep_history: true` end to end: a `db_size` detector swept hourly on a controllable clock stores its sizes,
and a `forecast` with `detector:` reads them back (opsbot's database on SQLite and on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpers import FakeClock, make_settings, make_sqlite, sql
from ops.config import parse_config
from ops.model import CheckStatus
from ops.runtime import OpsCore
from ops.storage.tables import alerts_history, check_results

CONFIG = """
targets: {{shop: "{shop}"}}
detectors:
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 1GB", keep_history: true, every: 1h}}
  - {{name: shop_fill, kind: forecast, detector: shop_size, alert_if: "> 1MB", within: 1d, history: 2d, every: 1h}}
"""
GROWTH = 40_000  # bytes of blob a shop writes per hour: ~1 MB a day


async def test_a_forecast_reads_the_sizes_a_db_size_detector_kept(tmp_path: Path) -> None:
    clock = FakeClock()
    shop_db = tmp_path / "shop.db"
    shop = make_sqlite(shop_db, "CREATE TABLE blobs (b BLOB);")
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), parse_config(CONFIG.format(shop=shop)), clock=clock)
    await core.migrate()
    try:
        seen: list[tuple[CheckStatus, str]] = []
        for _hour in range(20):
            report = await core.sweeper.sweep()
            [fill] = [r for r in report.results if r.detector == "shop_fill"]
            seen.append((fill.status, fill.message))
            if fill.status is CheckStatus.fail:
                break
            sql(shop_db, "INSERT INTO blobs VALUES (zeroblob(?))", (GROWTH,))
            clock.advance(3600)
        # the first hours are learning (half a day of kept sizes is needed), never an alert
        assert seen[0] == (CheckStatus.no_data, "shop_fill: no points in the last 2d")
        assert all(status is CheckStatus.no_data for status, _ in seen[:12])
        assert "shop_fill: learning the trend; needs 12h of history" in seen[5][1]
        status, message = seen[-1]
        assert (status, len(seen)) == (CheckStatus.fail, 14), seen  # the first sweep with 12 h of sizes
        assert message.startswith("shop_fill: reaches 1.0 MB in ~") and message.endswith("KB/day"), message
        async with core.db.connect() as conn:
            kept = (
                await conn.execute(select(check_results.c.value).where(check_results.c.detector == "shop_size"))
            ).scalars()
            sizes = [float(v) for v in kept]
            [alert] = (
                await conn.execute(select(alerts_history.c.source, alerts_history.c.status, alerts_history.c.message))
            ).all()
        assert len(sizes) == len(seen) and sizes == sorted(sizes) and sizes[-1] - sizes[0] > 10 * GROWTH
        assert (alert.source, alert.status, alert.message) == ("shop_fill", "firing", message)
    finally:
        await core.close()
