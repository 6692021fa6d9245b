"""`opsbot backtest`: one detector replayed over a past range, through the real alert engine.

The detector is evaluated at its `every` as of each moment of the range, and its results go through the
same `AlertEngine` (and the same housekeeping tick: flapping that settles) that `opsbot run` uses, on a
controllable clock, in a throwaway SQLite database migrated like the real one. Nothing is sent (no
sender reads that database's outbox) and opsbot's own database is never opened.

Two kinds of detector can be asked about the past:
- one that reads a time series (`SeriesDetector`: anomaly, forecast): the whole range is fetched in one
  query, [from − history, to], and the detector's pure `evaluate` is called on the window that ends at
  each moment — a slide, no query per step;
- a `sql` detector whose query uses `:until` (it reads its table as of that moment): its query runs at
  each step with `:until` bound to the step's time (one query per step: slower, fine for short ranges).
Anything else measures only the present (http, heartbeat, freshness, db_size, metrics, prometheus,
python functions) and is refused.

Speed: a step whose results cannot change any state is not given to the engine. That is a step whose
results all pass while no key of the detector has an open alert, a failure counted towards `for`, or a
flapping state that the tick would settle: the engine would only note "still ok" (the state's last check
time and the results history, which a replay does not report). Housekeeping ticks run, at the step's
time, before each step the engine is given while the detector has an open alert or a flapping state —
with no open alert and no flapping state a tick has nothing to do. `tests/ops/test_backtest.py` checks
that the episodes are those of the live engine run over the same data on a controllable clock.
"""

from __future__ import annotations

import asyncio
import difflib
import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sqlalchemy import event, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, OpsConfig
from ops.detectors import DetectorContext, TargetPool, build_detector, run_detector
from ops.detectors.base import error_result
from ops.detectors.sql import SqlCheck, uses_until
from ops.engine import AlertEngine
from ops.engine.intake import accept, describe
from ops.engine.pipeline import Pipeline
from ops.engine.routing import Router
from ops.engine.stages import MuteStages
from ops.metrics import Metrics
from ops.model import CheckResult, CheckStatus
from ops.oncall.service import OnCall
from ops.settings import Settings
from ops.storage.db import create_engine, migrate
from ops.storage.tables import alert_state, alerts_history
from ops.timeutil import utcnow

MAX_STEPS = 500_000  # a replay longer than this is a mistake (a 1s detector over a year), not a wish
EVALUATE_CHUNK = 512  # steps evaluated per trip to the worker thread
WEEK = 7 * 86400.0


class BacktestError(Exception):
    """What stops a replay, in one line (unknown detector, a kind that cannot be replayed, bad range…)."""


@runtime_checkable
class SeriesDetector(Protocol):
    """A detector that reads a time series (anomaly, forecast): what a replay slides over.

    `fetch_range` returns one series per key (`Series`: `key`, `ts` as float Unix seconds ascending,
    `values`, both numpy arrays) from one query over the whole range; `evaluate` is pure: the results as
    of `until`, from the series it is given."""

    def history(self) -> timedelta: ...

    async def fetch_range(self, since: datetime, until: datetime) -> dict[str, Any]: ...

    def evaluate(self, series: dict[str, Any], until: datetime) -> list[CheckResult]: ...


@dataclass
class Episode:
    """One span of an alert firing: fired (or fired again within the dedup window) until resolved."""

    detector: str
    key: str
    fired_at: datetime
    resolved_at: datetime | None  # None: still firing when the range ends
    value: float | None  # the worst value seen while it fired
    message: str  # the result's message when it fired
    paged: bool  # it notified when it fired (False: muted, e.g. flapping or a maintenance window)

    def seconds(self, end: datetime) -> float:
        return ((self.resolved_at or end) - self.fired_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "key": self.key,
            "fired_at": _iso(self.fired_at),
            "resolved_at": _iso(self.resolved_at) if self.resolved_at else None,
            "value": self.value,
            "message": self.message,
        }


@dataclass
class KeyTrace:
    """What the detector said about one key at each step: for the chart."""

    at: list[datetime] = field(default_factory=list)
    value: list[float] = field(default_factory=list)  # NaN where there was none
    low: list[float] = field(default_factory=list)  # the expected band's edges (NaN: no band)
    high: list[float] = field(default_factory=list)


@dataclass
class Backtest:
    detector: DetectorBase
    start: datetime
    end: datetime
    every: float
    runs: int = 0  # steps evaluated
    engine_runs: int = 0  # steps the engine was given (the others could change nothing)
    episodes: list[Episode] = field(default_factory=list)
    trace: dict[str, KeyTrace] = field(default_factory=dict)
    series: dict[str, tuple[list[datetime], list[float]]] = field(default_factory=dict)  # the data, for the chart

    @property
    def fired(self) -> bool:
        return bool(self.episodes)

    @property
    def firing_seconds(self) -> float:
        return sum(e.seconds(self.end) for e in self.episodes)

    @property
    def pages(self) -> int:
        return sum(1 for e in self.episodes if e.paged)

    @property
    def pages_per_week(self) -> float:
        span = (self.end - self.start).total_seconds()
        return self.pages / (span / WEEK) if span > 0 else 0.0

    @property
    def threshold(self) -> float | None:
        """The fixed threshold of the detector's `alert_if`, if it has one (drawn when there is no band)."""
        condition = getattr(self.detector, "alert_if", None)
        return getattr(condition, "threshold", None)


def find_detector(config: OpsConfig, name: str) -> DetectorBase:
    detector = config.detector(name)
    if detector is not None:
        return detector
    names = [d.name for d in config.detectors]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    if close:
        raise BacktestError(f"no detector {name!r}; did you mean {close[0]!r}?")
    listed = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
    raise BacktestError(f"no detector {name!r} (detectors: {listed or 'none configured'})")


FUTURE_SLACK = timedelta(minutes=1)  # a chat's "the last 30 days" ends at a now read a moment earlier


def check_range(detector: DetectorBase, settings: Settings, start: datetime, end: datetime) -> float:
    """The detector's interval, once the range is one a replay can run; BacktestError otherwise."""
    if start >= end:
        raise BacktestError(f"--from ({_shown(start)}) must be before --to ({_shown(end)})")
    if end > utcnow().replace(tzinfo=None) + FUTURE_SLACK:  # the data's end would read as a resolve
        raise BacktestError(f"--to ({_shown(end)}) is in the future: a replay goes up to now at most")
    every = float(detector.interval(settings.sweep_interval_sec))
    steps = int((end - start).total_seconds() // every) + 1
    if steps > MAX_STEPS:
        raise BacktestError(
            f"{steps:,} runs of {detector.name} (every {every:g}s) is too many to replay; "
            f"at most {MAX_STEPS:,} — shorten the range"
        )
    return every


def replay_kind(check: object) -> str:
    """How the built check is replayed — "series" or "sql" — or BacktestError saying why it cannot be."""
    config: DetectorBase = check.config  # type: ignore[attr-defined]
    if isinstance(check, SeriesDetector):
        if getattr(config, "detector", None):
            raise BacktestError(
                f"{config.name}: it reads detector {config.detector!r}'s stored results, which live "
                "in opsbot's database, and a backtest never opens it; give it target + query to replay it"
            )
        return "series"
    if isinstance(check, SqlCheck):
        if uses_until(config.query):
            return "sql"
        raise BacktestError(
            f"{config.name}: its query does not use :until, so it cannot be asked about the past "
            "(read the table as of :until, e.g. WHERE ts <= :until, to replay it)"
        )
    raise BacktestError(
        f"{config.name}: {config.kind} detectors measure the present and cannot be replayed "
        "(replayable: anomaly and forecast detectors, and sql detectors whose query uses :until)"
    )


def check_replayable(
    settings: Settings, config: OpsConfig, name: str, start: datetime, end: datetime
) -> tuple[DetectorBase, float]:
    """The detector and its interval when a replay of it over the range can run; BacktestError otherwise
    (asked before a replay starts, so a chat is told at once)."""
    detector = find_detector(config, name)
    every = check_range(detector, settings, start, end)
    replay_kind(build_detector(detector, DetectorContext(TargetPool(dict(config.targets)), None, StepClock(start))))
    return detector, every


class StepClock:
    """The replay's time: set to each step before the detector and the engine run."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def run_backtest(
    settings: Settings,
    config: OpsConfig,
    name: str,
    start: datetime,
    end: datetime,
    *,
    targets: TargetPool | None = None,
    workdir: Path | None = None,
) -> Backtest:
    """Replay detector `name` from `start` to `end` (naive UTC). `targets`: the pool to read the data
    with (default: one of its own over `config.targets`, closed at the end). `workdir`: where the
    throwaway database goes (default a temporary folder, removed at the end; a test keeps it to look)."""
    detector, every = check_replayable(settings, config, name, start, end)
    own_pool = targets is None
    pool = targets if targets is not None else TargetPool(dict(config.targets))
    clock = StepClock(start)
    check = build_detector(detector, DetectorContext(pool, None, clock))
    how = replay_kind(check)
    try:
        if workdir is not None:
            return await _replay(settings, config, detector, check, how, clock, start, end, every, workdir)
        with tempfile.TemporaryDirectory(prefix="opsbot-backtest-") as work:
            return await _replay(settings, config, detector, check, how, clock, start, end, every, Path(work))
    finally:
        if own_pool:
            await pool.dispose()


async def _replay(
    settings: Settings,
    config: OpsConfig,
    detector: DetectorBase,
    check: Any,
    how: str,
    clock: StepClock,
    start: datetime,
    end: datetime,
    every: float,
    work: Path,
) -> Backtest:
    source: _Source = _SeriesSource(check, detector) if how == "series" else _SqlSource(check, clock)
    report = Backtest(detector, start, end, every)
    await source.prepare(start, end, report)
    url = f"sqlite+aiosqlite:///{work / 'backtest.db'}"
    db = _throwaway_engine(url)
    try:
        await migrate(db)
        await _Replayer(settings.model_copy(update={"database_url": url}), config, detector, db, clock, report).run(
            source, _steps(start, end, every)
        )
    finally:
        await db.dispose()
    return report


def _steps(start: datetime, end: datetime, every: float) -> list[datetime]:
    count = int((end - start).total_seconds() // every) + 1
    return [start + timedelta(seconds=every * i) for i in range(count)]


def _throwaway_engine(url: str) -> AsyncEngine:
    """opsbot's engine setup, without waiting for the disk: nothing in this database outlives the replay."""
    db = create_engine(url)

    @event.listens_for(db.sync_engine, "connect")
    def _no_fsync(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    return db


class _Source(Protocol):
    async def prepare(self, start: datetime, end: datetime, report: Backtest) -> None: ...

    async def results(self, steps: list[datetime]) -> list[list[CheckResult]]: ...


class _SeriesSource:
    """Fetch [start − history, end] once; evaluate the window ending at each step in a worker thread."""

    def __init__(self, check: Any, detector: DetectorBase) -> None:
        self.check = check
        self.detector = detector
        self.history = check.history().total_seconds()
        self.data: dict[str, Any] = {}

    async def prepare(self, start: datetime, end: datetime, report: Backtest) -> None:
        since = start - timedelta(seconds=self.history)
        try:
            self.data = await asyncio.wait_for(self.check.fetch_range(since, end), timeout=self.detector.timeout * 10)
        except TimeoutError:
            raise BacktestError(f"{self.detector.name}: reading the range timed out") from None
        except Exception as exc:
            raise BacktestError(f"{self.detector.name}: reading the range failed: {describe(exc)}") from None
        first = _unix(start)
        for key, series in self.data.items():
            ts = np.asarray(series.ts, dtype=float)
            keep = ts >= first
            report.series[str(key)] = (
                [datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t in ts[keep]],
                [float(v) for v in np.asarray(series.values, dtype=float)[keep]],
            )

    async def results(self, steps: list[datetime]) -> list[list[CheckResult]]:
        return await asyncio.to_thread(self._evaluate_all, steps)

    def _evaluate_all(self, steps: list[datetime]) -> list[list[CheckResult]]:
        return [self._evaluate(at) for at in steps]

    def _evaluate(self, at: datetime) -> list[CheckResult]:
        """What the live check returns at `at`: evaluate over each series' points in (at − history, at],
        the rows its query returns with `:since` = at − history and `:until` = at."""
        until = _unix(at)
        since = until - self.history
        window = {}
        for key, series in self.data.items():
            lo = int(np.searchsorted(series.ts, since, side="right"))
            hi = int(np.searchsorted(series.ts, until, side="right"))
            window[key] = replace(series, ts=series.ts[lo:hi], values=series.values[lo:hi])
        try:
            return list(self.check.evaluate(window, at))
        except Exception as exc:  # as run_detector turns a failing check into its error result
            return [error_result(self.detector, describe(exc))]


class _SqlSource:
    """The detector's own query at each step, `:until` bound to the step's time through the clock."""

    def __init__(self, check: Any, clock: StepClock) -> None:
        self.check = check
        self.clock = clock

    async def prepare(self, start: datetime, end: datetime, report: Backtest) -> None:
        return None

    async def results(self, steps: list[datetime]) -> list[list[CheckResult]]:
        out = []
        for at in steps:
            self.clock.now = at
            out.append(await run_detector(self.check))
        return out


class _Replayer:
    def __init__(
        self,
        settings: Settings,
        config: OpsConfig,
        detector: DetectorBase,
        db: AsyncEngine,
        clock: StepClock,
        report: Backtest,
    ) -> None:
        current = CurrentConfig(config, None)
        router = Router(settings, current)
        stages = MuteStages(current, settings)
        self.detector = detector
        self.db = db
        self.clock = clock
        self.report = report
        self.engine = AlertEngine(db, settings, Metrics(), clock=clock, router=router, stages=stages)
        self.pipeline = Pipeline(db, settings, current, router, stages, clock, lambda: None, OnCall(db, current, clock))
        self.hot = False  # a key has an open alert or counts failures towards `for`
        self.ticking = False  # a key has an open alert or a flapping state: housekeeping has work
        self.open: dict[int, Episode] = {}  # by incident id
        self.direction = _worse_direction(detector)

    async def run(self, source: _Source, steps: list[datetime]) -> None:
        # The first step alone: a detector that cannot measure is told before the rest is evaluated.
        for chunk in [steps[:1], *(steps[i : i + EVALUATE_CHUNK] for i in range(1, len(steps), EVALUATE_CHUNK))]:
            for at, raw in zip(chunk, await source.results(chunk), strict=True):
                results = accept(self.detector, raw)
                if self.report.runs == 0:
                    _refuse_unmeasurable(self.detector, results)
                self.report.runs += 1
                self._trace(at, results)
                if not self.hot and all(r.ok for r in results):
                    continue  # nothing the engine could change: see the module's docstring
                await self._step(at, results)
            await asyncio.sleep(0)  # a replay in the bot's event loop lets the loop serve others
        self.report.episodes.sort(key=lambda e: (e.fired_at, e.key))

    async def _step(self, at: datetime, results: list[CheckResult]) -> None:
        self.clock.now = at
        if self.ticking:
            await self.pipeline.tick()
        engine_report = await self.engine.process(self.detector, results)
        self.report.engine_runs += 1
        by_key = {r.key: r for r in results}
        for episode in self.open.values():
            self._worst(episode, by_key.get(episode.key))
        for incident_id in engine_report.resolved:
            episode = self.open.pop(incident_id, None)
            if episode is not None:
                episode.resolved_at = at
        started = [*engine_report.fired, *engine_report.reopened]
        if started:
            async with self.db.connect() as conn:
                rows = await conn.execute(
                    select(alerts_history.c.id, alerts_history.c.key, alerts_history.c.muted).where(
                        alerts_history.c.id.in_(started)
                    )
                )
                for row in rows:
                    result = by_key.get(row.key)
                    episode = Episode(
                        self.detector.name,
                        row.key,
                        at,
                        None,
                        _number(result.value) if result is not None else None,
                        result.message if result is not None else "",
                        row.muted is None,
                    )
                    self.open[row.id] = episode
                    self.report.episodes.append(episode)
        await self._read_state()

    async def _read_state(self) -> None:
        s = alert_state.c
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(s.incident_id, s.consecutive_failures, s.flapping_since).where(
                        s.detector == self.detector.name,
                        or_(s.incident_id.is_not(None), s.consecutive_failures > 0, s.flapping_since.is_not(None)),
                    )
                )
            ).all()
        self.hot = any(r.incident_id is not None or r.consecutive_failures > 0 for r in rows)
        self.ticking = any(r.incident_id is not None or r.flapping_since is not None for r in rows)

    def _worst(self, episode: Episode, result: CheckResult | None) -> None:
        if result is None or result.ok:
            return
        value = _number(result.value)
        if value is None:
            return
        if episode.value is None or _badness(value, result, self.direction) > _badness(
            episode.value, result, self.direction
        ):
            episode.value = value

    def _trace(self, at: datetime, results: Iterable[CheckResult]) -> None:
        for r in results:
            if r.status is CheckStatus.error and r.key == "":
                continue
            trace = self.report.trace.setdefault(r.key, KeyTrace())
            trace.at.append(at)
            value = _number(r.value)
            trace.value.append(math.nan if value is None else value)
            low, high = r.expected if r.expected is not None else (math.nan, math.nan)
            trace.low.append(float(low))
            trace.high.append(float(high))


def _refuse_unmeasurable(detector: DetectorBase, results: list[CheckResult]) -> None:
    """A detector that cannot measure at the first moment (its query fails, its target is unreachable)
    says so in one line rather than replaying one long error alert."""
    if len(results) == 1 and results[0].status is CheckStatus.error and results[0].key == "":
        raise BacktestError(results[0].message)


def _worse_direction(detector: DetectorBase) -> int:
    op = getattr(getattr(detector, "alert_if", None), "op", "")
    return {">": 1, ">=": 1, "<": -1, "<=": -1}.get(op, 0)


def _badness(value: float, result: CheckResult, direction: int) -> float:
    """How far a failing value is from what was expected: past the band's edge, or past the threshold's
    side (`> 90`: higher is worse); without either, its size."""
    if result.expected is not None:
        low, high = result.expected
        return max(low - value, value - high)
    if direction:
        return direction * value
    return abs(value)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _unix(at: datetime) -> float:
    return at.replace(tzinfo=UTC).timestamp() if at.tzinfo is None else at.timestamp()


def _iso(at: datetime) -> str:
    return at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _shown(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
