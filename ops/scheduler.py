"""APScheduler 3.11 jobs: every detector on its own interval, plus reminders and pruning."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete

from ops.config.models import DetectorBase
from ops.engine import AlertEngine
from ops.metrics import Metrics
from ops.settings import Settings
from ops.slo.evaluate import SloEvaluator
from ops.slo.report import WeeklyReport
from ops.storage import rollup
from ops.storage.outbox import OutboxStore
from ops.storage.tables import check_results
from ops.sweeper import Sweeper
from ops.timeutil import utcnow

log = logging.getLogger(__name__)


def build_scheduler(
    settings: Settings,
    sweeper: Sweeper,
    engine: AlertEngine,
    outbox: OutboxStore,
    metrics: Metrics,
    slo: SloEvaluator | None = None,
    report: WeeklyReport | None = None,
    housekeeping: Callable[[], Awaitable[object]] | None = None,
    *,
    housekeeping_every: float = 15.0,
    last_runs: dict[str, datetime] | None = None,
) -> AsyncIOScheduler:
    """`last_runs` (UTC, from `AlertEngine.last_runs`): a detector that ran lately, under an earlier leader
    or before a restart, next runs one interval after that run, not at once — one run per interval."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    now = datetime.now().astimezone()
    utc_now = utcnow()
    for index, detector in enumerate(sweeper.config.detectors):
        every = detector.interval(settings.sweep_interval_sec)
        delay = min(index * 0.05, 2.0)  # first runs spread over a couple of seconds instead of all at once
        last = (last_runs or {}).get(detector.name)
        if last is not None:
            delay = max(delay, min(every, (last + timedelta(seconds=every) - utc_now).total_seconds()))
        scheduler.add_job(
            _run_detector,
            "interval",
            seconds=every,
            args=[sweeper, detector],
            id=f"detector:{detector.name}",
            name=f"detector {detector.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now + timedelta(seconds=delay),
        )
    scheduler.add_job(
        _housekeeping,
        "interval",
        seconds=housekeeping_every,
        args=[housekeeping or _reminders_and_gauge(engine, outbox, metrics)],
        id="housekeeping",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=now,
    )
    if sweeper.config.slos or sweeper.config.slo_report:
        scheduler.add_job(
            evaluate_slos,
            "interval",
            seconds=60,
            args=[slo, report],
            id="slo",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now + timedelta(seconds=5),
        )
    scheduler.add_job(
        prune_checks,
        "interval",
        hours=6,
        args=[engine, settings.check_retention_days],
        id="prune",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=now,
    )
    return scheduler


async def _run_detector(sweeper: Sweeper, detector: DetectorBase) -> None:
    try:
        await sweeper.run_one(detector)
    except Exception:  # the loop must live: log and try again next interval
        log.exception("detector %s: the engine could not store its results", detector.name)


def _reminders_and_gauge(engine: AlertEngine, outbox: OutboxStore, metrics: Metrics) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await engine.send_reminders()
        metrics.outbox_depth.set(await outbox.depth())

    return job


async def _housekeeping(job: Callable[[], Awaitable[object]]) -> None:
    try:
        await job()
    except Exception:
        log.exception("housekeeping failed")


async def evaluate_slos(slo: SloEvaluator | None, report: WeeklyReport | None) -> None:
    try:
        if slo is not None:
            await slo.evaluate()
        if report is not None:
            await report.maybe_send()
    except Exception:
        log.exception("SLO evaluation failed")


async def prune_checks(engine: AlertEngine, retention_days: int) -> int:
    """Delete check results older than CHECK_RETENTION_DAYS. Incidents and events are kept."""
    cutoff = engine.clock() - timedelta(days=retention_days)
    async with engine.db.begin() as conn:
        res = await conn.execute(delete(check_results).where(check_results.c.ts < cutoff))
        await rollup.prune(conn, cutoff)
    if res.rowcount:
        log.info("pruned %d check results older than %d days", res.rowcount, retention_days)
    return res.rowcount
