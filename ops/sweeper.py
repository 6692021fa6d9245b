"""Run detectors and feed their results to the engine: one detector, or all of them at once.

`DetectorRunner` measures and stores; `Sweeper` adds what follows a fire (automatic remediation). The
remediation runner's re-check after an action uses the runner alone, and handles what that fired itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, OpsConfig
from ops.detectors import Detector, DetectorContext, build_detector, run_detector
from ops.engine import AlertEngine, EngineReport
from ops.engine.intake import accept
from ops.metrics import Metrics
from ops.model import CheckResult

OnFired = Callable[[list[int]], Awaitable[None]]


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


class DetectorRunner:
    """The detectors of the config loaded now, built once per detector config (a reload rebuilds only
    those it changed), measured and their results stored by the engine."""

    def __init__(self, config: CurrentConfig, ctx: DetectorContext, engine: AlertEngine, metrics: Metrics) -> None:
        self.current = config
        self.ctx = ctx
        self.engine = engine
        self.metrics = metrics
        self._built: dict[str, Detector] = {}

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    def detector(self, config: DetectorBase) -> Detector:
        built = self._built.get(config.name)
        if built is None or built.config != config:
            built = self._built[config.name] = build_detector(config, self.ctx)
        return built

    async def measure(self, config: DetectorBase) -> list[CheckResult]:
        return accept(config, await run_detector(self.detector(config), self.metrics))

    def retired(self, config: DetectorBase, generation: int) -> bool:
        """A reload since `generation` removed this detector: its run's results are not stored (its
        alerts were resolved as removed)."""
        return self.current.generation != generation and self.current.config.detector(config.name) is None

    async def run_one(self, config: DetectorBase) -> tuple[list[CheckResult], EngineReport]:
        """One detector: its results as stored (one per key, or the error that replaced them)."""
        generation = self.current.generation
        results = await self.measure(config)
        report = await self.engine.process(config, results, keep=lambda d: not self.retired(d, generation))
        return ([report.error] if report.error else results), report


class Sweeper:
    def __init__(self, runner: DetectorRunner, on_fired: OnFired | None = None) -> None:
        self.runner = runner
        self.engine = runner.engine
        self.on_fired = on_fired  # automatic remediation

    @property
    def config(self) -> OpsConfig:
        return self.runner.config

    async def run_one(self, config: DetectorBase) -> tuple[list[CheckResult], EngineReport]:
        """One detector: its results as stored (one per key, or the error that replaced them)."""
        results, report = await self.runner.run_one(config)
        if report.fired and self.on_fired is not None:
            await self.on_fired(report.fired)
        return results, report

    async def sweep(self, concurrency: int = 8, batch: int = 200) -> SweepReport:
        """Every detector once, a few at a time; their results go to the engine `batch` detectors at a time
        (written a few hundred results per transaction), so a thousand detectors do not mean a thousand
        commits. The report holds the results as stored: one per key, or a detector's processing error."""
        limit = asyncio.Semaphore(concurrency)
        generation = self.runner.current.generation
        detectors = list(self.config.detectors)

        async def measure(cfg: DetectorBase) -> list[CheckResult]:
            async with limit:
                return await self.runner.measure(cfg)

        measured = await asyncio.gather(*(measure(d) for d in detectors))
        report = SweepReport()
        runs = [
            (d, results)
            for d, results in zip(detectors, measured, strict=True)
            if not self.runner.retired(d, generation)
        ]
        for start in range(0, len(runs), batch):
            # The engine retries a transaction SQLite's other writers kept locked, and turns a detector's
            # results it cannot process into that detector's error: a measurement is not thrown away.
            reports = await self.engine.process_many(
                runs[start : start + batch], keep=lambda d: not self.runner.retired(d, generation)
            )
            fired = [i for r in reports for i in r.fired]
            if fired and self.on_fired is not None:
                await self.on_fired(fired)
            report.engine.extend(reports)
        for (_, results), engine_report in zip(runs, report.engine, strict=True):
            report.results.extend([engine_report.error] if engine_report.error else results)
        return report
