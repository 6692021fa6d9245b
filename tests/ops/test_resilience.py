"""The loops live through a locked database and a hanging detector; no measurement is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers import make_settings, make_sqlite
from ops.config import parse_config
from ops.runtime import OpsCore
from ops.scheduler import build_scheduler
from ops.storage import db as db_module
from ops.storage.tables import alerts_history, check_results, outbox


async def hang_forever() -> float:
    await asyncio.sleep(3600)
    return 0.0


async def always_fine() -> bool:
    return True


async def count(core: OpsCore, table, *where) -> int:
    async with core.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@pytest.mark.sqlite_only
async def test_a_locked_database_is_waited_out_and_the_alert_still_fires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT", 0.2)  # SQLite gives up fast; we retry
    shop = make_sqlite(tmp_path / "shop.db", "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', -5);")
    config = parse_config(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0"}}
"""
    )
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), config)
    await core.migrate()
    holder = sqlite3.connect(tmp_path / "ops.db")
    holder.execute("BEGIN IMMEDIATE")  # another writer (a backup, a migration) holds the lock
    asyncio.get_running_loop().call_later(1.5, holder.rollback)
    try:
        results, report = await core.sweeper.run_one(config.detectors[0])
    finally:
        holder.close()
        await core.close()
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), config)
    try:
        assert "cash_balance: database is locked; retry 1 of 4" in caplog.text
        assert len(report.fired) == 1 and not results[0].ok
        assert await count(core, check_results) == 1
        assert await count(core, alerts_history, alerts_history.c.status == "firing") == 1
        assert await count(core, outbox, outbox.c.kind == "alert") == 2  # both alert chats
    finally:
        await core.close()


async def test_a_hanging_detector_times_out_and_the_others_keep_running(tmp_path: Path) -> None:
    config = parse_config(
        """
targets: {}
detectors:
  - {name: stuck, kind: python, function: "tests.ops.test_resilience:hang_forever", every: 1s, timeout: 1s}
  - {name: healthy, kind: python, function: "tests.ops.test_resilience:always_fine", every: 1s}
"""
    )
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), config)
    await core.migrate()
    scheduler = build_scheduler(core.settings, core.sweeper, core.engine, core.outbox, core.metrics)
    scheduler.start()
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while await count(core, check_results, check_results.c.detector == "stuck") < 2:
            assert asyncio.get_running_loop().time() < deadline, "the stuck detector never reported"
            await asyncio.sleep(0.1)
    finally:
        scheduler.shutdown(wait=False)
    async with core.db.connect() as conn:
        stuck = (await conn.execute(select(check_results).where(check_results.c.detector == "stuck"))).all()
    healthy = await count(core, check_results, check_results.c.detector == "healthy", check_results.c.ok.is_(True))
    await core.close()
    assert all(r.status == "error" and r.message == "stuck: timed out after 1s" for r in stuck)
    assert healthy >= 2  # it ran on while the other hung
