"""APScheduler 3.11 jobs: every detector on its own interval, plus reminders and pruning."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler, run_in_event_loop
from sqlalchemy import delete

from ops.detectors.series import readers_of
from ops.duties import describe
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
DETECTOR_JOB = "detector:"  # a detector's job id is this and its name
SLO_JOB = "slo"
STOP_GRACE = 5.0  # seconds the scheduler's runs under way get to end when it stops


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
    housekeeping_every: float | None = 15.0,
    last_runs: dict[str, datetime] | None = None,
    ran: Callable[[str], None] | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
) -> WatchedScheduler:
    """`last_runs` (UTC, from `AlertEngine.last_runs`): a detector that ran lately, under an earlier leader
    or before a restart, next runs one interval after that run, not at once — one run per interval.
    `ran(name)` is told each time a detector's results were stored. `housekeeping` (`OpsCore.housekeeping`)
    runs every `housekeeping_every` seconds; without it (the app runs housekeeping as a duty of its own)
    there is no such job. `on_failure` is told when the scheduler fails while looking for due jobs."""
    scheduler = WatchedScheduler(on_failure, timezone="UTC")
    now = datetime.now().astimezone()
    utc_now = utcnow()
    for index, detector in enumerate(sweeper.config.detectors):
        every = detector.interval(settings.sweep_interval_sec)
        delay = min(index * 0.05, 2.0)  # first runs spread over a couple of seconds instead of all at once
        last = (last_runs or {}).get(detector.name)
        if last is not None:
            delay = max(delay, min(every, (last + timedelta(seconds=every) - utc_now).total_seconds()))
        _add_detector_job(scheduler, sweeper, detector.name, every, now + timedelta(seconds=delay), ran)
    if housekeeping is not None and housekeeping_every is not None:
        scheduler.add_job(
            _cut_off_quietly(scheduler, _housekeeping),
            "interval",
            seconds=housekeeping_every,
            args=[housekeeping],
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now,
        )
    if sweeper.config.slos or sweeper.config.slo_report:
        _add_slo_job(scheduler, slo, report, now + timedelta(seconds=5))
    scheduler.add_job(
        _cut_off_quietly(scheduler, prune_as_configured),
        "interval",
        hours=6,
        args=[engine, settings.check_retention_days, sweeper],
        id="prune",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=now,
    )
    return scheduler


def _add_detector_job(
    scheduler: WatchedScheduler,
    sweeper: Sweeper,
    name: str,
    every: float,
    first: datetime,
    ran: Callable[[str], None] | None,
) -> None:
    scheduler.add_job(
        _cut_off_quietly(scheduler, _run_detector),
        "interval",
        seconds=every,
        args=[sweeper, name, ran],
        id=f"{DETECTOR_JOB}{name}",
        name=f"detector {name}",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=first,
    )


def _add_slo_job(
    scheduler: WatchedScheduler, slo: SloEvaluator | None, report: WeeklyReport | None, first: datetime
) -> None:
    scheduler.add_job(
        _cut_off_quietly(scheduler, evaluate_slos),
        "interval",
        seconds=60,
        args=[slo, report],
        id=SLO_JOB,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=first,
    )


@dataclass(frozen=True)
class Replanned:
    """What a re-plan did to the running scheduler's jobs (detectors by name)."""

    added: list[str]
    removed: list[str]
    rescheduled: list[str]  # their interval changed: next run one new interval from now
    slo: str | None = None  # "added" | "removed" when the SLO job came or went


def replan(
    scheduler: WatchedScheduler,
    settings: Settings,
    sweeper: Sweeper,
    slo: SloEvaluator | None = None,
    report: WeeklyReport | None = None,
    ran: Callable[[str], None] | None = None,
) -> Replanned:
    """After a config reload: a job for each detector added, none for each removed, a new interval for each
    whose interval changed, and the SLO job if there are SLOs now. A detector job reads its detector's
    config by name at each run, so a changed query or threshold needs no re-plan."""
    config = sweeper.config
    wanted = {d.name: float(d.interval(settings.sweep_interval_sec)) for d in config.detectors}
    jobs = {job.id: job for job in scheduler.get_jobs()}
    removed, rescheduled = [], []
    for job_id, job in jobs.items():
        if not job_id.startswith(DETECTOR_JOB):
            continue
        name = job_id[len(DETECTOR_JOB) :]
        if name not in wanted:
            scheduler.remove_job(job_id)
            removed.append(name)
        elif job.trigger.interval.total_seconds() != wanted[name]:
            scheduler.reschedule_job(job_id, trigger="interval", seconds=wanted[name])
            rescheduled.append(name)
    now = datetime.now().astimezone()
    added = [name for name in wanted if f"{DETECTOR_JOB}{name}" not in jobs]
    for index, name in enumerate(added):
        _add_detector_job(scheduler, sweeper, name, wanted[name], now + timedelta(seconds=min(index * 0.05, 2.0)), ran)
    slo_change = None
    if (config.slos or config.slo_report) and SLO_JOB not in jobs:
        _add_slo_job(scheduler, slo, report, now + timedelta(seconds=5))
        slo_change = "added"
    elif not (config.slos or config.slo_report) and SLO_JOB in jobs:
        scheduler.remove_job(SLO_JOB)
        slo_change = "removed"
    return Replanned(added, removed, rescheduled, slo_change)


def _cut_off_quietly(
    scheduler: WatchedScheduler, job: Callable[..., Awaitable[object]]
) -> Callable[..., Awaitable[None]]:
    """A run the scheduler cancels as it stops (stand-down, a restart of its duty, exit) is over, not
    broken: one line, instead of APScheduler's traceback of a job that "raised an exception"."""

    @functools.wraps(job)
    async def run(*args: object) -> None:
        task = asyncio.current_task()
        if task is not None:
            scheduler.in_flight.add(task)
        try:
            await job(*args)
        except asyncio.CancelledError:
            log.info("%s: cut off, the scheduler stopped", job.__name__.lstrip("_"))
        finally:
            scheduler.in_flight.discard(task)  # type: ignore[arg-type]

    return run


async def _run_detector(sweeper: Sweeper, name: str, ran: Callable[[str], None] | None = None) -> None:
    detector = sweeper.config.detector(name)  # the config loaded now: a reload changed it, or removed it
    if detector is None:
        return
    try:
        await sweeper.run_one(detector)
    except Exception:  # the loop must live: log and try again next interval
        log.exception("detector %s: the engine could not store its results", detector.name)
        return
    if ran is not None:
        ran(detector.name)


class WatchedScheduler(AsyncIOScheduler):
    """APScheduler's asyncio scheduler, which wakes itself up with `loop.call_later`: an exception while it
    looks for due jobs (a trigger that raises, say) breaks that chain for good while `running` stays True —
    a scheduler that runs nothing and says it is fine. Here that exception is kept in `failure` and
    `on_failure` is told, so the scheduler duty can die of it and be started again."""

    failure: BaseException | None = None

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None, **options: object) -> None:
        super().__init__(**options)
        self.on_failure = on_failure
        self.in_flight: set[asyncio.Task[object]] = set()  # job runs under way (see `finish`)
        self.finishing = False

    async def finish(self, grace: float = STOP_GRACE) -> None:
        """Stop: no new runs, the runs under way get `grace` seconds to end, then the rest are cancelled.
        A run cancelled in the middle of a SQLite write holds its connection until the write's busy wait
        ends — long after the engine was disposed — so letting it finish is the quicker stop."""
        if not self.running or self.finishing:  # shutdown() takes effect in a later callback of the loop
            return
        self.finishing = True
        self.pause()
        running = [t for t in self.in_flight if not t.done()]
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        self.shutdown(wait=False)

    @run_in_event_loop
    def wakeup(self) -> None:
        self._stop_timer()
        try:
            wait_seconds = self._process_jobs()
        except Exception as exc:
            self.failure = exc
            if self.on_failure is not None:
                self.on_failure(exc)
            return
        self._start_timer(wait_seconds)


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


async def prune_checks(engine: AlertEngine, retention_days: int, keep: Mapping[str, float] | None = None) -> int:
    """Delete check results older than CHECK_RETENTION_DAYS. Incidents and events are kept. `keep` (detector
    → seconds, `readers_of(config.detectors)`): a `keep_history` detector's results are kept for the longest
    `history` of the series detectors reading it when that is longer than the retention."""
    now = engine.clock()
    cutoff = now - timedelta(days=retention_days)
    longer = {name: seconds for name, seconds in (keep or {}).items() if seconds > retention_days * 86400}
    async with engine.db.begin() as conn:
        old = check_results.c.ts < cutoff
        res = await conn.execute(delete(check_results).where(old, check_results.c.detector.not_in(list(longer))))
        deleted = res.rowcount
        for name, seconds in sorted(longer.items()):
            res = await conn.execute(
                delete(check_results).where(
                    check_results.c.detector == name, check_results.c.ts < now - timedelta(seconds=seconds)
                )
            )
            deleted += res.rowcount
        await rollup.prune(conn, cutoff)
    if deleted:
        log.info("pruned %d check results older than %d days", deleted, retention_days)
    return deleted


async def prune_as_configured(engine: AlertEngine, retention_days: int, sweeper: Sweeper) -> int:
    """The prune job: the detectors' history kept as the config loaded now has its readers."""
    return await prune_checks(engine, retention_days, readers_of(sweeper.config.detectors))


class SchedulerStopped(Exception):
    """The scheduler stopped running its jobs; the scheduler duty dies of it and is started again."""


class SchedulerDuty:
    """The leader's scheduler as a duty (see `ops.duties`): `run` builds and starts it, then watches it. The
    duty dies — and is started again, each detector carrying on from its last run — when the scheduler fails
    while looking for due jobs, stops running, or lets a job fall `overdue` seconds behind its time.

    It also knows when each detector last ran (its results stored): `stale()` names those that have not for
    `missed` of their intervals since this replica began to lead (`lead`), or since a reload added them.
    `intervals()` gives the detectors' intervals by the config loaded now."""

    def __init__(
        self,
        build: Callable[[Callable[[str], None], Callable[[BaseException], None]], Awaitable[WatchedScheduler]],
        intervals: Callable[[], dict[str, float]],
        *,
        check_every: float = 5.0,
        overdue: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.build = build
        self.intervals = intervals
        self.check_every = check_every
        self.overdue = overdue
        self.clock = clock
        self.scheduler: WatchedScheduler | None = None
        self.started = asyncio.Event()  # set once a scheduler has started since this replica leads
        self.since = clock()
        self.last_run: dict[str, float] = {}
        self._added: dict[str, float] = {}  # detectors a reload added while leading: when

    def lead(self) -> None:
        """This replica begins to lead: its detectors' runs are counted from now."""
        self.since = self.clock()
        self.last_run.clear()
        self._added.clear()
        self.started.clear()

    def replanned(self, done: Replanned) -> None:
        """A reload re-planned the jobs: the added detectors are counted from now."""
        now = self.clock()
        for name in done.added:
            self._added[name] = now

    def ran(self, name: str) -> None:
        self.last_run[name] = self.clock()

    @property
    def running(self) -> bool:
        scheduler = self.scheduler
        return scheduler is not None and scheduler.running and scheduler.failure is None

    def stale(self, missed: int = 3) -> list[str]:
        now = self.clock()
        return sorted(
            name
            for name, every in self.intervals().items()
            if now - self.last_run.get(name, self._added.get(name, self.since)) > missed * every
        )

    async def run(self) -> None:
        failed = asyncio.Event()
        scheduler = await self.build(self.ran, lambda _exc: failed.set())
        scheduler.start()
        self.scheduler = scheduler
        self.started.set()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(failed.wait(), self.check_every)
                self._check(scheduler)
        except asyncio.CancelledError:  # stopped (stand-down, exit): the runs under way may finish
            self.scheduler = None
            await scheduler.finish()
            raise
        finally:  # failed: the duty restarts it at once
            self.scheduler = None
            await scheduler.finish(grace=0)

    def _check(self, scheduler: WatchedScheduler) -> None:
        if scheduler.failure is not None:
            raise SchedulerStopped(
                f"the scheduler failed while looking for due jobs: {describe(scheduler.failure)}"
            ) from scheduler.failure
        if not scheduler.running:
            raise SchedulerStopped("the scheduler is not running")
        now = datetime.now(UTC)
        for job in scheduler.get_jobs():
            late = (now - job.next_run_time).total_seconds() if job.next_run_time is not None else 0.0
            if late > self.overdue:
                raise SchedulerStopped(f"job {job.id} is {late:.0f}s overdue: the scheduler stopped waking up")
