"""/health's read model: each detector's last run and open incidents, in bounded size however many keys
and incidents there are. Read models are plain dataclasses; rendering them is the bot's business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, OpsConfig
from ops.model import Incident, Severity
from ops.storage.incident_rows import incident_from_row
from ops.storage.tables import alert_state, alerts_history, check_hourly, check_results, outbox
from ops.timeutil import Clock, utcnow


@dataclass(frozen=True)
class LastCheck:
    key: str
    status: str
    ok: bool
    message: str
    ts: datetime


@dataclass(frozen=True)
class DetectorHealth:
    config: DetectorBase
    last: list[LastCheck]
    open_incidents: list[Incident]

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class HealthReport:
    now: datetime
    detectors: list[DetectorHealth]
    counts: dict[str, int]


@dataclass(frozen=True)
class DetectorStatus:
    """One detector as /health shows it: its last run in counts, and its open incidents a chat may see."""

    config: DetectorBase
    last_at: datetime | None  # when it last ran (None: never)
    checks: int  # results of its last run (one per key)
    failing: int  # of them failing or errors
    errors: int  # of them errors (it could not measure)
    no_data: int
    firing: int  # open incidents the chat may see, by status
    acknowledged: int
    worst: Severity | None  # the worst severity among them

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def open(self) -> int:
        return self.firing + self.acknowledged


@dataclass(frozen=True)
class FailingCheck:
    """A failing result of a detector's last run that has no open incident (not yet `for` runs, or below
    ALERT_MIN_SEVERITY)."""

    detector: str
    key: str
    status: str
    message: str


@dataclass(frozen=True)
class HealthSummary:
    """/health in bounded size, however many keys and incidents there are: counts for everything, and the
    worst few open incidents (and failing checks with none) to show."""

    now: datetime
    detectors: list[DetectorStatus]
    incidents: list[Incident]  # the worst open incidents the chat may see, newest first within a severity
    open_total: int  # every open incident the chat may see
    unalerted: list[FailingCheck]  # a few failing checks without an incident (only for chats that see all)
    unalerted_total: int
    counts: dict[str, int]


class HealthReadModel:
    def __init__(self, db: AsyncEngine, config: CurrentConfig, clock: Clock = utcnow) -> None:
        self.db = db
        self.current = config
        self.clock = clock

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def health(self) -> HealthReport:
        # Each detector's last run, from its alert states (a small table) rather than a scan of history.
        latest = (
            select(alert_state.c.detector, func.max(alert_state.c.last_check_at).label("ts"))
            .group_by(alert_state.c.detector)
            .subquery()
        )
        last_q = (
            select(check_results)
            .join(latest, and_(latest.c.detector == check_results.c.detector, latest.c.ts == check_results.c.ts))
            .order_by(check_results.c.detector, check_results.c.key)
        )
        # Served by the partial index ix_ops_alerts_open, however many incidents were ever resolved.
        open_q = select(alerts_history).where(alerts_history.c.status != "resolved").order_by(alerts_history.c.id)
        async with self.db.connect() as conn:
            last_rows = (await conn.execute(last_q)).all()
            open_rows = (await conn.execute(open_q)).all()
            counts_row = (await conn.execute(text("SELECT * FROM vw_ops_health"))).mappings().first()
        by_detector: dict[str, list[LastCheck]] = {}
        for r in last_rows:
            by_detector.setdefault(r.detector, []).append(LastCheck(r.key, r.status, bool(r.ok), r.message, r.ts))
        open_by: dict[str, list[Incident]] = {}
        for r in open_rows:
            open_by.setdefault(r.source, []).append(incident_from_row(r))
        detectors = [
            DetectorHealth(d, by_detector.get(d.name, []), open_by.get(d.name, [])) for d in self.config.detectors
        ]
        counts = {k: int(v or 0) for k, v in (counts_row or {}).items()}
        return HealthReport(self.clock(), detectors, counts)

    async def hourly(self, since: datetime) -> dict[str, list[tuple[datetime, int, int]]]:
        """Each detector's checks per hour since `since` from the hourly rollup: (hour, good, total),
        oldest first (a history sparkline)."""
        h = check_hourly.c
        query = select(h.detector, h.hour, h.good, h.total).where(h.hour >= since).order_by(h.detector, h.hour)
        found: dict[str, list[tuple[datetime, int, int]]] = {}
        async with self.db.connect() as conn:
            for r in await conn.execute(query):
                found.setdefault(r.detector, []).append((r.hour, int(r.good), int(r.total)))
        return found

    async def health_summary(self, *, chat_id: int | None, limit: int = 20) -> HealthSummary:
        """/health for a chat: `chat_id` limits incidents to those sent to it (None: all, and failing checks
        without an incident too). A handful of aggregate queries and at most `limit` rows of each list:
        its cost does not grow with the number of keys or open incidents beyond a scan of them in SQL."""
        latest = (
            select(alert_state.c.detector, func.max(alert_state.c.last_check_at).label("ts"))
            .group_by(alert_state.c.detector)
            .subquery()
        )
        cr = check_results
        st = alert_state
        # Each detector's keys by the time of their last check, in one pass over the alert states (one row
        # per key): the newest time of a detector is its last run, and its counts are that run's.
        runs_q = select(
            st.c.detector,
            st.c.last_check_at.label("ts"),
            func.count().label("checks"),
            func.sum(case((st.c.last_status.in_(("fail", "error")), 1), else_=0)).label("failing"),
            func.sum(case((st.c.last_status == "error", 1), else_=0)).label("errors"),
            func.sum(case((st.c.last_status == "no_data", 1), else_=0)).label("no_data"),
        ).group_by(st.c.detector, st.c.last_check_at)
        ah = alerts_history
        configured = [d.name for d in self.config.detectors]
        visible = [ah.c.status != "resolved", ah.c.source.in_(configured)]  # the partial index ix_ops_alerts_open
        if chat_id is not None:
            visible.append(
                exists().where(outbox.c.incident_id == ah.c.id, outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            )
        open_q = select(ah.c.source, ah.c.status, ah.c.severity, func.count().label("n")).where(*visible)
        open_q = open_q.group_by(ah.c.source, ah.c.status, ah.c.severity)
        unalerted_where = and_(st.c.last_status.in_(("fail", "error")), st.c.incident_id.is_(None))
        unalerted_from = st.join(latest, and_(latest.c.detector == st.c.detector, latest.c.ts == st.c.last_check_at))
        async with self.db.connect() as conn:
            runs: dict[str, Any] = {}
            for r in await conn.execute(runs_q):
                if r.ts is not None and (r.detector not in runs or r.ts > runs[r.detector].ts):
                    runs[r.detector] = r
            open_rows = (await conn.execute(open_q)).all()
            # The worst first, newest first within a severity: one short backward walk of the open
            # incidents per severity that has any (an ORDER BY over all of them would sort them all).
            per_severity: dict[str, int] = {}
            for r in open_rows:
                per_severity[r.severity] = per_severity.get(r.severity, 0) + int(r.n)
            top: list[Incident] = []
            for severity in sorted(Severity, key=lambda s: -s.rank):
                want = min(limit - len(top), per_severity.get(severity.value, 0))
                if want <= 0:
                    continue
                rows = await conn.execute(
                    select(ah).where(*visible, ah.c.severity == severity.value).order_by(ah.c.id.desc()).limit(want)
                )
                top += [incident_from_row(r) for r in rows]
            unalerted: list[FailingCheck] = []
            unalerted_total = 0
            if chat_id is None:
                unalerted_total = int(
                    await conn.scalar(select(func.count()).select_from(unalerted_from).where(unalerted_where)) or 0
                )
                picked = await conn.execute(
                    select(st.c.detector, st.c.key, st.c.last_check_at)
                    .select_from(unalerted_from)
                    .where(unalerted_where)
                    .order_by(st.c.detector, st.c.key)
                    .limit(limit)
                )
                for p in picked.all():
                    row = (
                        await conn.execute(
                            select(cr.c.status, cr.c.message)
                            .where(cr.c.detector == p.detector, cr.c.key == p.key, cr.c.ts == p.last_check_at)
                            .limit(1)
                        )
                    ).first()
                    if row is not None:
                        unalerted.append(FailingCheck(p.detector, p.key, row.status, row.message))
            counts_row = (await conn.execute(text("SELECT * FROM vw_ops_health"))).mappings().first()
        opened: dict[str, dict[str, Any]] = {}
        for r in open_rows:
            o = opened.setdefault(r.source, {"firing": 0, "acknowledged": 0, "worst": None})
            o["firing" if r.status == "firing" else "acknowledged"] += int(r.n)
            severity = Severity(r.severity)
            if o["worst"] is None or severity > o["worst"]:
                o["worst"] = severity
        detectors = []
        for d in self.config.detectors:
            run = runs.get(d.name)
            o = opened.get(d.name, {"firing": 0, "acknowledged": 0, "worst": None})
            detectors.append(
                DetectorStatus(
                    d,
                    run.ts if run else None,
                    int(run.checks) if run else 0,
                    int(run.failing or 0) if run else 0,
                    int(run.errors or 0) if run else 0,
                    int(run.no_data or 0) if run else 0,
                    o["firing"],
                    o["acknowledged"],
                    o["worst"],
                )
            )
        open_total = sum(o["firing"] + o["acknowledged"] for o in opened.values())
        counts = {k: int(v or 0) for k, v in (counts_row or {}).items()}
        return HealthSummary(
            self.clock(),
            detectors,
            top,
            open_total,
            unalerted,
            unalerted_total,
            counts,
        )
