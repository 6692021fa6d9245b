"""Run detectors and feed their results to the engine: one detector, or all of them at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ops.config.models import DetectorBase, OpsConfig
from ops.detectors import DetectorContext, build_detector, run_detector
from ops.engine import AlertEngine, EngineReport
from ops.engine.intake import accept
from ops.metrics import Metrics
from ops.model import CheckResult


@dataclass
class SweepReport:
    results: list[CheckResult] = field(default_factory=list)
    engine: list[EngineReport] = field(default_factory=list)

    @property
    def failing(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def all_ok(self) -> bool:
        return not self.failing


class Sweeper:
    def __init__(self, config: OpsConfig, ctx: DetectorContext, engine: AlertEngine, metrics: Metrics) -> None:
        self.config = config
        self.ctx = ctx
        self.engine = engine
        self.metrics = metrics
        self._detectors = {d.name: build_detector(d, ctx) for d in config.detectors}
        self.on_fired: Callable[[list[int]], Awaitable[None]] | None = None  # automatic remediation

    async def run_one(self, config: DetectorBase) -> tuple[list[CheckResult], EngineReport]:
        """One detector: its results as stored (one per key, or the error that replaced them)."""
        results = accept(config, await run_detector(self._detectors[config.name], self.metrics))
        report = await self.engine.process(config, results)
        if report.fired and self.on_fired is not None:
            await self.on_fired(report.fired)
        return ([report.error] if report.error else results), report

    async def sweep(self, concurrency: int = 8, batch: int = 200) -> SweepReport:
        """Every detector once, a few at a time; their results go to the engine `batch` detectors at a time
        (written a few hundred results per transaction), so a thousand detectors do not mean a thousand
        commits. The report holds the results as stored: one per key, or a detector's processing error."""
        limit = asyncio.Semaphore(concurrency)

        async def measure(cfg: DetectorBase) -> list[CheckResult]:
            async with limit:
                return accept(cfg, await run_detector(self._detectors[cfg.name], self.metrics))

        measured = await asyncio.gather(*(measure(d) for d in self.config.detectors))
        report = SweepReport()
        runs = list(zip(self.config.detectors, measured, strict=True))
        for start in range(0, len(runs), batch):
            # The engine retries a transaction SQLite's other writers kept locked, and turns a detector's
            # results it cannot process into that detector's error: a measurement is not thrown away.
            reports = await self.engine.process_many(runs[start : start + batch])
            fired = [i for r in reports for i in r.fired]
            if fired and self.on_fired is not None:
                await self.on_fired(fired)
            report.engine.extend(reports)
        for results, engine_report in zip(measured, report.engine, strict=True):
            report.results.extend([engine_report.error] if engine_report.error else results)
        return report
