"""The SLO history the bot's /slo and the API read: compliance per day and per detector.

Read models are plain dataclasses; rendering them for Telegram is the bot's business. The other read and
act services a chat uses live in modules of their own (`ops.scoping`, `ops.health`, `ops.alert_history`,
`ops.chat_silences`, `ops.remediation.runs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.settings import Settings
from ops.slo.evaluate import SloEvaluator
from ops.storage.tables import alerts_history, check_hourly
from ops.timeutil import Clock, utcnow


@dataclass(frozen=True)
class SloDay:
    day: str
    checks: int
    good: int
    errors_total: int
    critical_total: int
    incidents: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.good / self.checks if self.checks else None


@dataclass(frozen=True)
class SloDetector:
    name: str
    checks: int
    good: int
    objective: float | None

    @property
    def pct(self) -> float | None:
        return 100.0 * self.good / self.checks if self.checks else None

    @property
    def meets(self) -> bool | None:
        if self.objective is None or self.pct is None:
            return None
        return self.pct >= self.objective


@dataclass(frozen=True)
class SloReport:
    days: int
    since: date
    daily: list[SloDay] = field(default_factory=list)
    detectors: list[SloDetector] = field(default_factory=list)


class OpsServices:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        config: CurrentConfig,
        slo_evaluator: SloEvaluator,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.slo_evaluator = slo_evaluator
        self.clock = clock

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    # -- SLO ---------------------------------------------------------------------------
    def objective_for(self, detector: str) -> float | None:
        if detector.startswith("ingest_success"):
            return self.settings.slo_ingest_success_rate_pct
        if detector.startswith("scheduler_on_time"):
            return self.settings.slo_scheduler_on_time_pct
        return None

    async def slo(self, days: int = 7) -> SloReport:
        """Compliance per day (one aggregate query over check results, plus `vw_slo_daily`)."""
        now = self.clock()
        since_day = (now - timedelta(days=days - 1)).date()
        since = datetime(since_day.year, since_day.month, since_day.day)
        # From the hourly rollup: `since` is a day boundary, so whole hours cover the range exactly.
        total, good = func.sum(check_hourly.c.total), func.sum(check_hourly.c.good)
        day = func.date(check_hourly.c.hour)
        daily_q = (
            select(day.label("d"), total.label("total"), good.label("good"))
            .where(check_hourly.c.hour >= since)
            .group_by(day)
        )
        per_detector_q = (
            select(check_hourly.c.detector, total.label("total"), good.label("good"))
            .where(check_hourly.c.hour >= since)
            .group_by(check_hourly.c.detector)
        )
        incidents_q = (
            select(func.date(alerts_history.c.created_at).label("d"), func.count().label("n"))
            .where(alerts_history.c.created_at >= since)
            .group_by(func.date(alerts_history.c.created_at))
        )
        async with self.db.connect() as conn:
            daily_rows = (await conn.execute(daily_q)).all()
            detector_rows = (await conn.execute(per_detector_q)).all()
            incident_rows = (await conn.execute(incidents_q)).all()
            view_rows = (
                (
                    await conn.execute(
                        text(
                            "SELECT d, MAX(errors_total) AS errors_total, MAX(critical_total) AS critical_total "
                            "FROM vw_slo_daily GROUP BY d ORDER BY d DESC LIMIT :n"
                        ),
                        {"n": days + 1},
                    )
                )
                .mappings()
                .all()
            )
        checks = {str(r.d): (int(r.total), int(r.good)) for r in daily_rows}
        incidents = {str(r.d): int(r.n) for r in incident_rows}
        view = {str(r["d"]): r for r in view_rows}
        daily = []
        for i in range(days):
            d = str(since_day + timedelta(days=i))
            total, ok = checks.get(d, (0, 0))
            v = view.get(d) or {}
            daily.append(
                SloDay(
                    d,
                    total,
                    ok,
                    int(v.get("errors_total") or 0),
                    int(v.get("critical_total") or 0),
                    incidents.get(d, 0),
                )
            )
        stats = {r.detector: (int(r.total), int(r.good)) for r in detector_rows}
        detectors = [
            SloDetector(d.name, *stats.get(d.name, (0, 0)), self.objective_for(d.name)) for d in self.config.detectors
        ]
        return SloReport(days, since_day, list(reversed(daily)), detectors)
