"""The SLO read model: what `/slo`, the weekly report and the API's `slo` endpoints show, read in one place.

`SloReader.read()` answers with one `SloOverview`: every configured SLO's status now (SLI over its window
or the one asked for, error budget left, burn rates, verdict) and, when days are asked for, checks
passing per day and per detector (`Compliance`, the view `/slo [days]` shows without SLOs). Every number
is one aggregate query per SLO and window, or per part of the day view — never a query per day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig, SloConfig
from ops.detectors import TargetPool
from ops.settings import Settings
from ops.slo.burn import BURN_WINDOWS, budget_exhausted_in, burn_verdict
from ops.storage import rollup
from ops.storage.tables import alerts_history, check_hourly, slo_daily
from ops.timeutil import Clock, utcnow

HISTORY_DAYS = 366  # the day view looks back at most this far: older (and future) days have no data
NEEDS_ATTENTION = ("page", "ticket", "breached")  # the states an SLO is shown as needing attention in


@dataclass(frozen=True)
class SloStatus:
    """One SLO now: good and total events over `window` seconds up to now, and the burn rates."""

    config: SloConfig
    window: float
    good: float
    total: float
    burn: dict[str, float | None] = field(default_factory=dict)
    alert: str = "ok"  # ok | ticket | page

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def objective(self) -> float:
        return self.config.objective

    @property
    def sli(self) -> float | None:
        """Percent of good events over the window."""
        return 100.0 * self.good / self.total if self.total else None

    @property
    def budget_remaining(self) -> float | None:
        """Percent of the window's error budget still unspent (negative when overspent)."""
        if not self.total:
            return None
        spent = (1 - self.good / self.total) / self.config.budget
        return 100.0 * (1 - spent)

    @property
    def budget_exhausted_in(self) -> float | None:
        """Seconds until the error budget is spent at the current burn (`ops.slo.burn.budget_exhausted_in`);
        None when not burning faster than the budget allows, without events, or already exhausted."""
        return budget_exhausted_in(self.budget_remaining, self.window, self.burn)

    @property
    def state(self) -> str:
        """page | ticket | breached | ok | no_data."""
        if self.alert != "ok":
            return self.alert
        if self.sli is None:
            return "no_data"
        return "breached" if self.sli < self.config.objective else "ok"


@dataclass(frozen=True)
class DayCompliance:
    """One UTC day: checks run and passing, incidents opened (and of them, errors and criticals)."""

    day: date
    checks: int
    good: int
    incidents: int
    errors: int
    critical: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.good / self.checks if self.checks else None


@dataclass(frozen=True)
class DetectorCompliance:
    """A detector's checks passing over the days asked for, against its objective if it has one."""

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
class Compliance:
    """Checks passing from `first` to `last` (whole UTC days, both included)."""

    first: date
    last: date
    daily: list[DayCompliance]  # newest first; only days within the last HISTORY_DAYS and not in the future
    detectors: list[DetectorCompliance]

    @property
    def days(self) -> int:
        return max(0, (self.last - self.first).days + 1)


@dataclass(frozen=True)
class SloOverview:
    window: float | None  # the window the SLOs were read over; None: each over its own
    slos: list[SloStatus]
    compliance: Compliance | None  # None unless days were asked for


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


class SloReader:
    def __init__(
        self, db: AsyncEngine, settings: Settings, config: CurrentConfig, targets: TargetPool, clock: Clock = utcnow
    ) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.targets = targets
        self.clock = clock

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def read(self, *, window: float | None = None, days: tuple[date, date] | None = None) -> SloOverview:
        """Every SLO over `window` (None: each over its own) and, with `days` (first, last), the day view."""
        slos = await self.statuses(window)
        compliance = await self.compliance(*days) if days is not None else None
        return SloOverview(window, slos, compliance)

    def last_days(self, days: int) -> tuple[date, date]:
        """(first, last) of the last `days` days, today included."""
        today = self.clock().date()
        return today - timedelta(days=days - 1), today

    # -- SLOs ----------------------------------------------------------------------------------
    async def statuses(self, window: float | None = None) -> list[SloStatus]:
        return [await self.status(slo, window) for slo in self.config.slos]

    async def status(self, slo: SloConfig, window: float | None = None) -> SloStatus:
        now = self.clock()
        span = window or slo.window
        spans = [span, *BURN_WINDOWS.values()]
        if slo.sli.detector is not None:  # every window in one statement over the hourly rollup
            async with self.db.connect() as conn:
                counted = await rollup.counts_many(
                    conn, slo.sli.detector, [(now - timedelta(seconds=s), now) for s in spans]
                )
        else:
            counted = [await self.counts(slo, now - timedelta(seconds=s), now) for s in spans]
        good, total = counted[0]
        burn: dict[str, float | None] = {}
        for label, (g, t) in zip(BURN_WINDOWS, counted[1:], strict=True):
            burn[label] = ((1 - g / t) / slo.budget) if t else None
        return SloStatus(slo, span, good, total, burn, burn_verdict(burn))

    async def counts(self, slo: SloConfig, since: datetime, until: datetime) -> tuple[float, float]:
        """(good, total) between two instants: one aggregate query (two for an event-based SLI)."""
        sli = slo.sli
        if sli.detector is not None:
            async with self.db.connect() as conn:
                return await rollup.counts(conn, sli.detector, since, until)
        assert sli.target and sli.good_query and sli.total_query
        params: dict[str, Any]
        if self.targets.dialect(sli.target) == "sqlite":  # SQLite keeps timestamps as text
            params = {"since": since.strftime("%Y-%m-%d %H:%M:%S"), "until": until.strftime("%Y-%m-%d %H:%M:%S")}
        else:
            params = {"since": since.replace(tzinfo=UTC), "until": until.replace(tzinfo=UTC)}
        good = await self._scalar(sli.target, sli.good_query, params)
        total = await self._scalar(sli.target, sli.total_query, params)
        return good, total

    async def _scalar(self, target: str, query: str, params: dict[str, Any]) -> float:
        _, rows = await self.targets.fetch(target, query, 30.0, params)
        value = rows[0][0] if rows and rows[0] else 0
        return float(value or 0)

    async def daily(self, slo: SloConfig, days: int) -> list[tuple[date, float, float]]:
        """(day, good, total) for the last `days` days, oldest first (the chart's series): one grouped query."""
        first, _ = self.last_days(days)
        if slo.sli.detector is not None:  # whole days from the hourly rollup
            day = func.date(check_hourly.c.hour)
            query = (
                select(day, func.sum(check_hourly.c.good), func.sum(check_hourly.c.total))
                .where(check_hourly.c.detector == slo.sli.detector, check_hourly.c.hour >= midnight(first))
                .group_by(day)
            )
        else:
            query = select(slo_daily.c.d, slo_daily.c.good, slo_daily.c.total).where(
                slo_daily.c.slo == slo.name, slo_daily.c.d >= first
            )
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = {str(r[0]): (float(r[1] or 0), float(r[2] or 0)) for r in rows}
        return [
            (first + timedelta(days=i), *found.get(str(first + timedelta(days=i)), (0.0, 0.0))) for i in range(days)
        ]

    # -- the day view ---------------------------------------------------------------------------
    def objective_for(self, detector: str) -> float | None:
        """The marketplace's objectives: detectors named `ingest_success*` / `scheduler_on_time*`."""
        if detector.startswith("ingest_success"):
            return self.settings.slo_ingest_success_rate_pct
        if detector.startswith("scheduler_on_time"):
            return self.settings.slo_scheduler_on_time_pct
        return None

    async def compliance(self, first: date, last: date) -> Compliance:
        """Checks passing per day and per detector, and incidents per day, from `first` to `last`: three
        grouped queries over whole days (the hourly rollup covers them exactly)."""
        today = self.clock().date()
        lo, hi = max(first, today - timedelta(days=HISTORY_DAYS - 1)), min(last, today)
        if lo > hi:
            return Compliance(first, last, [], [self._detector(d.name, {}) for d in self.config.detectors])
        since, until = midnight(lo), midnight(hi + timedelta(days=1))
        total, good = func.sum(check_hourly.c.total), func.sum(check_hourly.c.good)
        in_range = (check_hourly.c.hour >= since, check_hourly.c.hour < until)
        day = func.date(check_hourly.c.hour)
        daily_q = select(day.label("d"), total.label("total"), good.label("good")).where(*in_range).group_by(day)
        detectors_q = (
            select(check_hourly.c.detector, total.label("total"), good.label("good"))
            .where(*in_range)
            .group_by(check_hourly.c.detector)
        )
        opened = func.date(alerts_history.c.created_at)
        incidents_q = (
            select(
                opened.label("d"),
                func.count().label("n"),
                func.sum(case((alerts_history.c.severity == "error", 1), else_=0)).label("errors"),
                func.sum(case((alerts_history.c.severity == "critical", 1), else_=0)).label("critical"),
            )
            .where(alerts_history.c.created_at >= since, alerts_history.c.created_at < until)
            .group_by(opened)
        )
        async with self.db.connect() as conn:
            checks = {str(r.d): (int(r.total or 0), int(r.good or 0)) for r in await conn.execute(daily_q)}
            per_detector = {r.detector: (int(r.total or 0), int(r.good or 0)) for r in await conn.execute(detectors_q)}
            incidents = {
                str(r.d): (int(r.n), int(r.errors or 0), int(r.critical or 0)) for r in await conn.execute(incidents_q)
            }
        daily = []
        for i in range((hi - lo).days, -1, -1):
            d = lo + timedelta(days=i)
            n, errors, critical = incidents.get(str(d), (0, 0, 0))
            daily.append(DayCompliance(d, *checks.get(str(d), (0, 0)), n, errors, critical))
        return Compliance(first, last, daily, [self._detector(d.name, per_detector) for d in self.config.detectors])

    def _detector(self, name: str, counted: dict[str, tuple[int, int]]) -> DetectorCompliance:
        return DetectorCompliance(name, *counted.get(name, (0, 0)), self.objective_for(name))
