"""Wiring of the domain: one `OpsCore` holds every service a process needs, built from settings + config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.models import OpsConfig
from ops.detectors import DetectorContext, TargetPool
from ops.duties import Duties
from ops.engine import AlertEngine, IncidentService
from ops.engine.catchup import CatchUpReport, catch_up
from ops.engine.pipeline import Pipeline
from ops.engine.routing import Router
from ops.engine.silences import SilenceService
from ops.engine.stages import MuteStages
from ops.metrics import Metrics
from ops.model import Incident
from ops.pings import PingStore
from ops.remediation import RemediationRunner
from ops.replicas import Coordinator
from ops.scheduler import SchedulerDuty
from ops.services import OpsServices
from ops.settings import Settings
from ops.slo.evaluate import SloEvaluator
from ops.slo.read import SloReader
from ops.slo.report import WeeklyReport
from ops.storage.db import create_engine, migrate, reading
from ops.storage.dbfile import DatabaseFile
from ops.storage.digests import DigestStore
from ops.storage.outbox import OutboxStore
from ops.sweeper import Sweeper
from ops.timeutil import Clock, utcnow


class _Wakeup:
    """Called when rows enter the outbox; the sender subscribes to deliver at once."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []

    def __call__(self) -> None:
        for listener in self.listeners:
            listener()


@dataclass
class OpsCore:
    settings: Settings
    config: OpsConfig
    db: AsyncEngine
    metrics: Metrics
    targets: TargetPool
    engine: AlertEngine
    incidents: IncidentService
    outbox: OutboxStore
    sweeper: Sweeper
    services: OpsServices
    wakeup: _Wakeup
    clock: Clock
    pings: PingStore
    remediation: RemediationRunner
    slo: SloEvaluator
    slo_reader: SloReader
    report: WeeklyReport
    pipeline: Pipeline
    silences: SilenceService
    replicas: Coordinator
    # What /healthz tells beyond the database (set by the app that runs this core): the process's duties,
    # the leader's scheduler while it leads, whether this process schedules at all, and Telegram's state.
    duties: Duties = field(default_factory=Duties)
    schedule: SchedulerDuty | None = None
    scheduling: bool = False
    telegram: Callable[[], str] = lambda: "headless"
    db_file: DatabaseFile | None = None

    @property
    def digests(self) -> DigestStore:
        return self.services.digests

    @classmethod
    def build(
        cls, settings: Settings, config: OpsConfig, *, metrics: Metrics | None = None, clock: Clock = utcnow
    ) -> OpsCore:
        db = create_engine(settings.database_url)
        metrics = metrics or Metrics()
        wakeup = _Wakeup()
        targets = TargetPool(config.targets)
        router = Router(settings, config)
        stages = MuteStages(config, settings)
        engine = AlertEngine(db, settings, metrics, clock=clock, router=router, stages=stages, on_enqueue=wakeup)
        pipeline = Pipeline(db, settings, config, router, stages, clock, wakeup)
        silences = SilenceService(db, clock, pipeline)
        incidents = IncidentService(db, clock=clock, on_enqueue=wakeup)
        outbox = OutboxStore(db)
        sweeper = Sweeper(config, DetectorContext(targets, db, clock), engine, metrics)
        services = OpsServices(db, settings, config, sweeper, incidents, outbox, clock=clock)
        pings = PingStore(db, clock)
        remediation = RemediationRunner(db, settings, config, metrics, clock=clock, on_enqueue=wakeup)
        sweeper.on_fired = remediation.on_fired

        async def recheck(incident: Incident) -> tuple[bool, str] | None:
            detector = config.detector(incident.source)
            if detector is None:
                return None
            results, _ = await sweeper.run_one(detector)
            mine = [r for r in results if r.key == incident.key] or results
            if not mine:
                return None
            return all(r.ok for r in mine), mine[0].message

        remediation.recheck = recheck
        services.remediation = remediation
        slo_reader = SloReader(db, settings, config, targets, clock)
        slo = SloEvaluator(db, config, slo_reader, engine, metrics, clock)
        services.slo_evaluator = slo
        services.slo_reader = slo_reader
        services.silences = silences
        report = WeeklyReport(db, settings, config, clock, wakeup)
        return cls(
            settings,
            config,
            db,
            metrics,
            targets,
            engine,
            incidents,
            outbox,
            sweeper,
            services,
            wakeup,
            clock,
            pings,
            remediation,
            slo,
            slo_reader,
            report,
            pipeline,
            silences,
            Coordinator(db, clock=clock),
        )

    async def migrate(self) -> None:
        await migrate(self.db)
        self.db_file = DatabaseFile.of(self.settings.database_url)

    async def catch_up(self) -> CatchUpReport:
        """Open alerts to the chats configured since they fired (at start-up and on a reload)."""
        report = await catch_up(self.db, self.engine.router, self.clock)
        if report.cards:
            self.wakeup()
        return report

    async def housekeeping(self) -> None:
        """Every few seconds: the SQLite file is still ours; the pipeline's tick (mutes asked again,
        reminders, escalation); the outbox gauge."""
        if self.db_file is not None:
            self.db_file.check()
        await self.pipeline.tick()
        self.metrics.outbox_depth.set(await self.outbox.depth())

    async def probe(self) -> dict[str, Any]:
        """What /healthz answers. `problems` (present only when there are some) makes it a 503: still
        starting, the scheduler is not running on the leader, a detector has not run for 3 of its intervals, or the
        SQLite file was deleted or replaced."""
        async with reading(self.db) as conn:
            await conn.execute(text("SELECT 1"))
        body: dict[str, Any] = {
            "outbox_depth": await self.outbox.depth(),
            "detectors": len(self.config.detectors),
            "alert_chats": len(self.settings.alert_chat_ids),
        }
        problems: list[str] = []
        if self.replicas.id:
            leadership = await self.replicas.leadership()
            self.metrics.replicas.set(leadership.live_replicas)
            body.update(leadership.as_dict())
        else:  # HTTP is up before the database is migrated and this replica registered: not ready yet
            problems.append("starting: not registered as a replica yet")
        leads = self.replicas.is_leader
        body["telegram"] = self.telegram()
        schedule = self.schedule
        if not self.scheduling:
            body["scheduler"] = "off"
        else:
            body["scheduler"] = "running" if leads and schedule is not None and schedule.running else "stopped"
            if leads and body["scheduler"] != "running":
                problems.append("the scheduler is not running on the leader")
            elif leads and schedule is not None and (stale := schedule.stale()):
                body["stale_detectors"] = stale
                problems.append(f"no run for 3 of their intervals: {', '.join(stale)}")
        body["duties"] = self.duties.as_dict()
        database = self.db_file.problem if self.db_file is not None else None
        body["database"] = database or "ok"
        if database:
            problems.append(database)
        if problems:
            body["problems"] = problems
        return body

    async def close(self) -> None:
        await self.replicas.stop()
        await self.remediation.close()
        await self.targets.dispose()
        await self.db.dispose()
