"""The scheduler's jobs, and pruning of old check results."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.detectors.series import readers_of, stored_series
from ops.runtime import OpsCore
from ops.scheduler import build_scheduler, prune_as_configured, prune_checks, replan
from ops.storage import rollup
from ops.storage.tables import check_results

CONFIG = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
detectors:
  - {name: fast, kind: db_size, target: t, alert_if: "> 1GB", every: 30s}
  - {name: default_interval, kind: db_size, target: t, alert_if: "> 1GB"}
"""


async def test_one_job_per_detector_at_its_interval_never_overlapping(tmp_path: Path) -> None:
    core = OpsCore.build(make_settings(tmp_path / "ops.db", sweep_interval_sec=120), parse_config(CONFIG))
    scheduler = build_scheduler(
        core.settings, core.sweeper, core.engine, core.outbox, core.metrics, housekeeping=core.housekeeping
    )
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["detector:fast"].trigger.interval == timedelta(seconds=30)
    assert jobs["detector:default_interval"].trigger.interval == timedelta(seconds=120)
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time is None
    assert {"housekeeping", "prune"} <= set(jobs)
    await core.close()


RELOADED = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
slo_report: "mon 09:00"
detectors:
  - {name: fast, kind: db_size, target: t, alert_if: "> 2GB", every: 45s}
  - {name: added, kind: db_size, target: t, alert_if: "> 1GB", every: 10s}
"""


async def test_a_reload_re_plans_added_removed_and_changed_intervals(tmp_path: Path) -> None:
    core = OpsCore.build(make_settings(tmp_path / "ops.db", sweep_interval_sec=120), parse_config(CONFIG))
    scheduler = build_scheduler(core.settings, core.sweeper, core.engine, core.outbox, core.metrics, core.slo)
    assert "slo" not in {job.id for job in scheduler.get_jobs()}
    change = core.current.replace(parse_config(RELOADED), "sha256:new")
    assert (change.added, change.removed, change.changed) == (["added"], ["default_interval"], ["fast"])
    done = replan(scheduler, core.settings, core.sweeper, core.slo, core.report)
    assert (done.added, done.removed, done.rescheduled, done.slo) == (
        ["added"],
        ["default_interval"],
        ["fast"],
        "added",
    )
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["detector:fast"].trigger.interval == timedelta(seconds=45)
    assert jobs["detector:added"].trigger.interval == timedelta(seconds=10)
    assert "detector:default_interval" not in jobs and "slo" in jobs
    again = replan(scheduler, core.settings, core.sweeper, core.slo, core.report)  # nothing left to do
    assert (again.added, again.removed, again.rescheduled, again.slo) == ([], [], [], None)
    await core.close()


async def test_prune_deletes_only_results_older_than_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), parse_config(CONFIG), clock=clock)
    await core.migrate()
    rows = [
        {
            "ts": clock.now - timedelta(days=age),
            "detector": "fast",
            "key": "",
            "status": "ok",
            "ok": True,
            "severity": "warning",
            "message": "",
            "duration_ms": 1.0,
        }
        for age in (1, 89, 91, 400)
    ]
    async with core.db.begin() as conn:
        await conn.execute(insert(check_results), rows)
        await rollup.rebuild(conn)  # history written by hand: roll it up as the engine would
    assert await prune_checks(core.engine, 90) == 2
    async with core.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(check_results)) == 2
    await core.close()


KEEPING = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
detectors:
  - {name: fast, kind: db_size, target: t, alert_if: "> 1GB"}
  - {name: shop_size, kind: db_size, target: t, alert_if: "> 1GB", keep_history: true}
  - {name: unread, kind: db_size, target: t, alert_if: "> 1GB", keep_history: true}
  - {name: fill, kind: forecast, detector: shop_size, alert_if: "> 5GB", within: 3d, history: 10d}
  - {name: fill_slowly, kind: forecast, detector: shop_size, alert_if: "> 5GB", within: 3d, history: 14d}
"""


async def test_prune_keeps_a_kept_history_as_long_as_its_longest_reader_needs(tmp_path: Path) -> None:
    """Retention 3 days; shop_size is read by forecasts over 10 and 14 days: its results stay 14 days, the
    others' (a keep_history detector nobody reads included) 3. The job reads the config loaded now."""
    clock = FakeClock()
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), parse_config(KEEPING), clock=clock)
    await core.migrate()
    rows = [
        {
            "ts": clock.now - timedelta(days=age),
            "detector": name,
            "key": "",
            "status": "ok",
            "ok": True,
            "severity": "warning",
            "message": "",
            "duration_ms": 1.0,
            "value": 1000.0 * age,
        }
        for name in ("fast", "shop_size", "unread")
        for age in (1, 5, 13, 15)
    ]
    async with core.db.begin() as conn:
        await conn.execute(insert(check_results), rows)
        await rollup.rebuild(conn)
    assert (
        await prune_as_configured(core.engine, 3, core.sweeper) == 3 + 1 + 3
    )  # fast's and unread's older than 3 days, shop_size's older than 14
    async with core.db.connect() as conn:
        kept = (await conn.execute(select(check_results.c.detector, check_results.c.value))).all()
    ages = {name: sorted(int(v / 1000) for d, v in kept if d == name) for name in ("fast", "shop_size", "unread")}
    assert ages == {"fast": [1], "shop_size": [1, 5, 13], "unread": [1]}
    # the pruned rows are gone for good: a forecast reading shop_size sees 13 days back, no further
    series = await stored_series(core.db, "shop_size", clock.now - timedelta(days=30), clock.now)
    assert series[""].values.tolist() == [13000.0, 5000.0, 1000.0]
    # longer than the retention only: with 90 days' retention the readers change nothing
    assert await prune_checks(core.engine, 90, readers_of(core.config.detectors)) == 0
    await core.close()
