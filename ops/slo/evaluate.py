"""SLIs over rolling windows, error budgets, and multiwindow multi-burn-rate alerts.

Burn rate over a window = (bad / total in that window) / error budget. As in the Google SRE
workbook: page (critical) when it exceeds 14.4 over both 1 h and 5 m, or 6 over both 6 h and 30 m;
ticket (warning) when it exceeds 1 over both 3 d and 6 h. The alert is an ordinary opsbot alert
with source `slo:<name>` (buttons, dedup, resolve). Every number is one aggregate query per SLO and
window — never a query per day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, OpsConfig, SloConfig
from ops.detectors import TargetPool
from ops.engine import AlertEngine
from ops.metrics import Metrics
from ops.model import CheckResult, CheckStatus, Severity
from ops.storage import rollup
from ops.storage.tables import check_hourly, slo_daily
from ops.timeutil import Clock, format_duration, utcnow

BURN_WINDOWS: dict[str, float] = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600, "3d": 259200}
PAGE_RULES = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_RULES = (("3d", "6h", 1.0),)


@dataclass(frozen=True)
class SloStatus:
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
    def state(self) -> str:
        """page | ticket | breached | ok | no_data — what the chat's icon shows."""
        if self.alert != "ok":
            return self.alert
        if self.sli is None:
            return "no_data"
        return "breached" if self.sli < self.config.objective else "ok"


def burn_verdict(burn: dict[str, float | None]) -> str:
    def over(long: str, short: str, factor: float) -> bool:
        a, b = burn.get(long), burn.get(short)
        return a is not None and b is not None and a > factor and b > factor

    if any(over(*rule) for rule in PAGE_RULES):
        return "page"
    if any(over(*rule) for rule in TICKET_RULES):
        return "ticket"
    return "ok"


def slo_detector(slo: SloConfig) -> DetectorBase:
    """The engine's view of an SLO: a detector named `slo:<name>` that fires at once."""
    return DetectorBase.model_construct(
        name=f"slo:{slo.name}",
        severity=Severity.critical,
        every=None,
        timeout=30.0,
        for_=1,
        runbook=slo.runbook,
        labels=dict(slo.labels),
        description=slo.description,
        no_data="ok",
        remediation=None,
    )


class SloEvaluator:
    def __init__(
        self,
        db: AsyncEngine,
        config: CurrentConfig,
        targets: TargetPool,
        engine: AlertEngine,
        metrics: Metrics,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.current = config
        self.targets = targets
        self.engine = engine
        self.metrics = metrics
        self.clock = clock

    @property
    def config(self) -> OpsConfig:
        return self.current.config

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

    async def statuses(self, window: float | None = None) -> list[SloStatus]:
        return [await self.status(slo, window) for slo in self.config.slos]

    async def evaluate(self) -> list[SloStatus]:
        """Every SLO: compute, feed the burn-rate verdict to the engine, record today's SLI."""
        out = []
        for slo in self.config.slos:
            status = await self.status(slo)
            report = await self.engine.process(slo_detector(slo), [self._result(status)])
            if report.fired or report.raised:
                self.metrics.slo_violation_total.labels(slo.name).inc()
            await self._record_days(slo)
            out.append(status)
        return out

    def _result(self, status: SloStatus) -> CheckResult:
        slo = status.config
        rates = ", ".join(f"{k} {v:.1f}×" for k, v in status.burn.items() if v is not None) or "no events"
        sli = f"{status.sli:.2f}%" if status.sli is not None else "no data"
        if status.alert == "ok":
            message = f"slo:{slo.name}: burn rates within limits ({rates}); SLI {sli} of {slo.objective:g}%"
            return CheckResult(
                f"slo:{slo.name}",
                "",
                CheckStatus.ok,
                Severity.warning,
                message,
                value=status.sli,
                threshold=f"{slo.objective:g}%",
            )
        rules = PAGE_RULES if status.alert == "page" else TICKET_RULES
        why = " or ".join(
            f"{factor:g}× over {a} and {b}"
            for a, b, factor in rules
            if (status.burn.get(a) or 0) > factor and (status.burn.get(b) or 0) > factor
        )
        severity = Severity.critical if status.alert == "page" else Severity.warning
        message = (
            f"slo:{slo.name}: error budget burning faster than {why} "
            f"({rates}); SLI {sli} over {format_duration(status.window)}, objective {slo.objective:g}%"
        )
        return CheckResult(
            f"slo:{slo.name}",
            "",
            CheckStatus.fail,
            severity,
            message,
            value=status.sli,
            threshold=f"{slo.objective:g}%",
        )

    async def _record_days(self, slo: SloConfig) -> None:
        """Today's and yesterday's good/total into ops_slo_daily (the view and the chart read them)."""
        now = self.clock()
        today = datetime(now.year, now.month, now.day)
        for start, end in ((today - timedelta(days=1), today), (today, now)):
            good, total = await self.counts(slo, start, end)
            async with self.db.begin() as conn:
                await conn.execute(delete(slo_daily).where(slo_daily.c.d == start.date(), slo_daily.c.slo == slo.name))
                if total:
                    await conn.execute(
                        insert(slo_daily).values(d=start.date(), slo=slo.name, good=good, total=total, updated_at=now)
                    )

    async def daily(self, slo: SloConfig, days: int) -> list[tuple[date, float, float]]:
        """(day, good, total) for the last `days` days: one grouped query."""
        now = self.clock()
        first = (now - timedelta(days=days - 1)).date()
        since = datetime(first.year, first.month, first.day)
        if slo.sli.detector is not None:  # whole days from the hourly rollup
            day = func.date(check_hourly.c.hour)
            query = (
                select(day, func.sum(check_hourly.c.good), func.sum(check_hourly.c.total))
                .where(check_hourly.c.detector == slo.sli.detector, check_hourly.c.hour >= since)
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
