"""Wiring of the domain: one `OpsCore` holds every service a process needs, built from settings + config.

`build` makes each object once, in dependency order, and hands it what it needs through its constructor;
nothing is set on an object afterwards. What changes while the process runs lives in small holders given
to the services that read it: `CurrentConfig` (the loaded config, replaced by a reload) and `ReplicaId`
(this replica's id, once registered).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ops.alert_history import AlertHistory
from ops.alertmanager_api import AlertmanagerClient
from ops.chat_silences import ChatSilences
from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.detectors import DetectorContext, TargetPool
from ops.engine import AlertEngine, IncidentService
from ops.engine.catchup import CatchUpReport, catch_up
from ops.engine.pipeline import Pipeline
from ops.engine.routing import Router
from ops.engine.silences import SilenceService
from ops.engine.stages import MuteStages
from ops.health import HealthReadModel
from ops.incidents.log import IncidentLog
from ops.incidents.postmortem import Postmortems
from ops.metrics import Metrics
from ops.oncall.handoffs import Handoffs
from ops.oncall.service import OnCall
from ops.pings import PingStore
from ops.reload import ConfigReloader
from ops.remediation import RemediationRunner
from ops.remediation.recheck import Recheck
from ops.remediation.runs import RemediationRuns
from ops.replicas import ConfigHook, Coordinator, Hook
from ops.scoping import Scoping
from ops.settings import Settings
from ops.slo.evaluate import SloEvaluator
from ops.slo.read import SloReader
from ops.slo.report import WeeklyReport
from ops.storage.db import create_engine, migrate
from ops.storage.dbfile import DatabaseFile
from ops.storage.digests import DigestStore
from ops.storage.outbox import OutboxStore
from ops.storage.replica_id import ReplicaId
from ops.sweeper import DetectorRunner, Sweeper
from ops.timeutil import Clock, utcnow


class Wakeup:
    """Called when rows enter the outbox; the sender subscribes to deliver at once."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []

    def __call__(self) -> None:
        for listener in self.listeners:
            listener()


@dataclass(frozen=True)
class OpsCore:
    settings: Settings
    current: CurrentConfig  # the loaded config (a reload replaces it); `config` is what it holds now
    db: AsyncEngine
    metrics: Metrics
    clock: Clock
    wakeup: Wakeup
    replica: ReplicaId
    db_file: DatabaseFile | None  # the SQLite file under us (None on PostgreSQL)
    targets: TargetPool
    router: Router
    pipeline: Pipeline
    silences: SilenceService
    engine: AlertEngine
    incidents: IncidentService
    outbox: OutboxStore
    digests: DigestStore
    runner: DetectorRunner
    remediation: RemediationRunner
    sweeper: Sweeper
    slo: SloEvaluator
    slo_reader: SloReader
    report: WeeklyReport
    pings: PingStore
    replicas: Coordinator
    reloader: ConfigReloader
    # What a chat (and the JSON API) reads and acts through.
    scoping: Scoping
    health: HealthReadModel
    history: AlertHistory
    incident_log: IncidentLog
    postmortems: Postmortems
    oncall: OnCall
    handoffs: Handoffs  # announces who is on call at each handoff (the leader's housekeeping)
    chat_silences: ChatSilences
    remediation_runs: RemediationRuns

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: OpsConfig,
        *,
        metrics: Metrics | None = None,
        clock: Clock = utcnow,
        digest: str | None = None,
        config_path: str | None = None,
        on_elected: Sequence[Hook] = (),
        on_deposed: Sequence[Hook] = (),
        on_new_config: ConfigHook | None = None,
    ) -> OpsCore:
        """`digest`: the config file's hash (see `ops.config_file`); `config_path`: the file a reload reads
        again (None: the config came from no file, and a reload re-reads only the settings). The hooks are
        the replica coordinator's (see `ops.replicas.Coordinator`)."""
        db = create_engine(settings.database_url)
        metrics = metrics or Metrics()
        wakeup = Wakeup()
        replica = ReplicaId()
        current = CurrentConfig(config, digest)
        targets = TargetPool(current.targets)
        router = Router(settings, current)
        stages = MuteStages(current, settings)
        engine = AlertEngine(db, settings, metrics, clock=clock, router=router, stages=stages, on_enqueue=wakeup)
        oncall = OnCall(db, current, clock)
        pipeline = Pipeline(db, settings, current, router, stages, clock, wakeup, oncall)
        silences = SilenceService(db, clock, pipeline)
        incidents = IncidentService(db, clock=clock, on_enqueue=wakeup)
        runner = DetectorRunner(current, DetectorContext(targets, db, clock), engine, metrics)
        remediation = RemediationRunner(
            db, settings, current, metrics, clock=clock, on_enqueue=wakeup, recheck=Recheck(runner), replica=replica
        )
        slo_reader = SloReader(db, settings, current, targets, clock)
        incident_log = IncidentLog(db, clock)
        oncall = OnCall(db, current, clock)
        slo = SloEvaluator(db, current, slo_reader, engine, metrics, clock)
        scoping = Scoping(db, settings, current, incidents)
        alertmanager = AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None
        return cls(
            settings=settings,
            current=current,
            db=db,
            metrics=metrics,
            clock=clock,
            wakeup=wakeup,
            replica=replica,
            db_file=DatabaseFile.of(settings.database_url),
            targets=targets,
            router=router,
            pipeline=pipeline,
            silences=silences,
            engine=engine,
            incidents=incidents,
            outbox=OutboxStore(db, replica),
            digests=DigestStore(db),
            runner=runner,
            remediation=remediation,
            sweeper=Sweeper(runner, on_fired=remediation.on_fired),
            slo=slo,
            slo_reader=slo_reader,
            report=WeeklyReport(db, settings, current, clock, wakeup),
            pings=PingStore(db, clock),
            replicas=Coordinator(
                db, replica, clock=clock, on_elected=on_elected, on_deposed=on_deposed, on_new_config=on_new_config
            ),
            reloader=ConfigReloader(settings, current, targets, incidents, clock, config_path, wakeup),
            scoping=scoping,
            health=HealthReadModel(db, current, clock),
            history=AlertHistory(db, incidents),
            incident_log=incident_log,
            postmortems=Postmortems(incident_log, slo_reader, current, clock),
            oncall=oncall,
            handoffs=Handoffs(db, settings, oncall, router, incident_log, clock, wakeup),
            chat_silences=ChatSilences(db, current, silences, scoping, alertmanager),
            remediation_runs=RemediationRuns(remediation, scoping),
        )

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def migrate(self) -> None:
        await migrate(self.db)

    async def catch_up(self) -> CatchUpReport:
        """Open alerts to the chats configured since they fired (at start-up and on a reload)."""
        report = await catch_up(self.db, self.engine.router, self.clock)
        if report.cards:
            self.wakeup()
        return report

    async def housekeeping(self) -> None:
        """Every few seconds: the SQLite file is still ours; the pipeline's tick (mutes asked again,
        reminders, escalation); on-call handoffs announced; the outbox gauges."""
        if self.db_file is not None:
            self.db_file.check()
        await self.pipeline.tick()
        await self.handoffs.tick()
        self.metrics.outbox_depth.set(await self.outbox.depth())
        self.metrics.outbox_held.set(await self.outbox.held_count())

    async def close(self) -> None:
        await self.replicas.stop()
        await self.remediation.close()
        await self.targets.dispose()
        await self.db.dispose()
