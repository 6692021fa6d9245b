"""SLO alerts: each SLO's burn-rate verdict fed to the alert engine, and its daily SLI recorded.

The alert is an ordinary opsbot alert with source `slo:<name>` (buttons, dedup, resolve). What is
measured comes from the read model (`ops.slo.read`), the rules from `ops.slo.burn`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, OpsConfig, SloConfig
from ops.engine import AlertEngine
from ops.metrics import Metrics
from ops.model import CheckResult, CheckStatus, Severity
from ops.slo.burn import PAGE_RULES, TICKET_RULES, rule_holds
from ops.slo.read import SloReader, SloStatus
from ops.storage.tables import slo_daily
from ops.timeutil import Clock, format_duration, utcnow


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
        reader: SloReader,
        engine: AlertEngine,
        metrics: Metrics,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.current = config
        self.reader = reader
        self.engine = engine
        self.metrics = metrics
        self.clock = clock

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def evaluate(self) -> list[SloStatus]:
        """Every SLO: compute, feed the burn-rate verdict to the engine, record today's SLI."""
        out = []
        for slo in self.config.slos:
            status = await self.reader.status(slo)
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
            f"{factor:g}× over {a} and {b}" for a, b, factor in rules if rule_holds(status.burn, a, b, factor)
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
            good, total = await self.reader.counts(slo, start, end)
            async with self.db.begin() as conn:
                await conn.execute(delete(slo_daily).where(slo_daily.c.d == start.date(), slo_daily.c.slo == slo.name))
                if total:
                    await conn.execute(
                        insert(slo_daily).values(d=start.date(), slo=slo.name, good=good, total=total, updated_at=now)
                    )
