"""Time series for the kinds that judge a series rather than one number (`anomaly`, `forecast`).

A series kind reads its points in one query over a range and judges them as of a moment:

- `fetch_range(since, until)` runs the detector's query once with `:since`/`:until` bound (text
  `YYYY-MM-DD HH:MM:SS` on SQLite, aware datetimes on PostgreSQL, as the SLO queries), or reads the stored
  values of a `keep_history: true` detector, and returns a `Series` per key;
- `evaluate(series, until)` is pure: the results as of `until`, from the points with
  `until − history() < ts ≤ until` only. `check()` is `evaluate(await fetch_range(until − history, until),
  until)` at the clock's now; `opsbot backtest` fetches a long range once and calls `evaluate` at each step.

The query returns `(ts, value)` rows, or `(key, ts, value)` for one series per key. A timestamp may be a
datetime (naive means UTC), ISO-8601 text, or a number of Unix seconds; a NULL value is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import numpy as np
from pydantic import model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.fields import Duration
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.detectors.sql import to_number
from ops.detectors.targets import TargetPool
from ops.model import CheckResult, CheckStatus
from ops.storage.tables import check_results
from ops.timeutil import format_duration


@dataclass(frozen=True)
class Series:
    """One series: `ts` float64 Unix seconds (UTC), ascending; `values` float64 of the same length."""

    key: str  # "" for a single series
    ts: np.ndarray
    values: np.ndarray

    def window(self, since: float, until: float) -> tuple[np.ndarray, np.ndarray]:
        """The points with since < ts <= until."""
        lo = int(np.searchsorted(self.ts, since, side="right"))
        hi = int(np.searchsorted(self.ts, until, side="right"))
        return self.ts[lo:hi], self.values[lo:hi]


class SeriesDetector(Protocol):
    """What the `anomaly` and `forecast` checks provide (and `opsbot backtest` replays)."""

    def history(self) -> timedelta:
        """How far before `until` one evaluation looks."""
        ...

    async def fetch_range(self, since: datetime, until: datetime) -> dict[str, Series]:
        """The detector's points with since < ts <= until, one query over the range."""
        ...

    def evaluate(self, series: dict[str, Series], until: datetime) -> list[CheckResult]:
        """Results as of `until`, from the points with until − history() < ts <= until only."""
        ...


class SeriesError(ValueError):
    """The query's rows are not a time series; the message says which row and why, in one line."""


class SeriesSource(DetectorBase):
    """Where a series kind's points come from: `target` + `query`, or `detector` (a `db_size` or `metrics`
    detector with `keep_history: true`, whose stored values are the series, one per key)."""

    target: str | None = None
    query: str | None = None
    detector: str | None = None
    history: Duration = 7 * 86400.0

    @model_validator(mode="after")
    def _one_source(self) -> SeriesSource:
        query = self.target is not None or self.query is not None
        if self.detector is not None and query:
            raise ValueError("give either target with query, or detector (a keep_history detector), not both")
        if self.detector is None and (self.target is None or self.query is None):
            raise ValueError("give target with query, or detector (a keep_history detector)")
        return self


S = TypeVar("S", bound=SeriesSource)


class SeriesCheck(Check[S]):
    """A series kind's check, as the module says: a kind (`class AnomalyCheck(SeriesCheck[AnomalyDetector])`)
    writes `evaluate_one`, the result of one key's series as of `now` (Unix seconds)."""

    def history(self) -> timedelta:
        return timedelta(seconds=self.config.history)

    async def fetch_range(self, since: datetime, until: datetime) -> dict[str, Series]:
        return await fetch_series(self.config, self.ctx.targets, self.ctx.db, since, until)

    async def check(self) -> list[CheckResult]:
        until = as_utc(self.ctx.clock())
        return self.evaluate(await self.fetch_range(until - self.history(), until), until)

    def evaluate(self, series: dict[str, Series], until: datetime) -> list[CheckResult]:
        cfg = self.config
        now = as_utc(until).timestamp()
        if not series:
            in_the_last = format_duration(cfg.history)
            return [result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no points in the last {in_the_last}")]
        return [self.evaluate_one(series[key], now) for key in sorted(series)]

    def evaluate_one(self, series: Series, now: float) -> CheckResult:
        raise NotImplementedError(f"{type(self).__name__}.evaluate_one")


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC, as everything opsbot stores)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bind_range(dialect: str, since: datetime, until: datetime) -> dict[str, Any]:
    """`:since`/`:until` as a target's timestamps are compared: text on SQLite, timestamptz on PostgreSQL."""
    since, until = as_utc(since), as_utc(until)
    if dialect == "sqlite":
        return {"since": since.strftime("%Y-%m-%d %H:%M:%S"), "until": until.strftime("%Y-%m-%d %H:%M:%S")}
    return {"since": since, "until": until}


def to_seconds(raw: Any) -> float | None:
    """Unix seconds of a row's timestamp; None when it is not a time."""
    if isinstance(raw, datetime):
        return as_utc(raw).timestamp()
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC).timestamp()
    if isinstance(raw, str):
        try:
            return as_utc(datetime.fromisoformat(raw.strip())).timestamp()
        except ValueError:
            return None
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        return float(raw)
    return None


def rows_to_series(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Series]:
    """`(ts, value)` or `(key, ts, value)` rows as series by key, each sorted by time. Raises SeriesError."""
    if len(columns) not in (2, 3):
        raise SeriesError(f"query returned {len(columns)} columns; expected (ts, value) or (key, ts, value) rows")
    keyed = len(columns) == 3
    points: dict[str, tuple[list[float], list[float]]] = {}
    for number, row in enumerate(rows, start=1):
        key, raw_ts, raw_value = (str(row[0]), row[1], row[2]) if keyed else ("", row[0], row[1])
        if raw_value is None:
            continue
        ts = to_seconds(raw_ts)
        if ts is None:
            raise SeriesError(f"row {number}: timestamp {raw_ts!r} is not a time")
        value = to_number(raw_value)
        if value is None or not np.isfinite(value):
            raise SeriesError(f"row {number}: value {raw_value!r} is not a number")
        ts_list, value_list = points.setdefault(key, ([], []))
        ts_list.append(ts)
        value_list.append(value)
    out = {}
    for key, (ts_list, value_list) in points.items():
        ts_arr, values = np.asarray(ts_list, dtype=np.float64), np.asarray(value_list, dtype=np.float64)
        if ts_arr.size > 1 and np.any(np.diff(ts_arr) < 0):
            order = np.argsort(ts_arr, kind="stable")
            ts_arr, values = ts_arr[order], values[order]
        out[key] = Series(key, ts_arr, values)
    return out


async def fetch_series(
    config: SeriesSource, targets: TargetPool, db: AsyncEngine | None, since: datetime, until: datetime
) -> dict[str, Series]:
    """The points of `config`'s source with since < ts <= until."""
    if config.detector is not None:
        if db is None:
            raise RuntimeError(f"{config.name}: reading detector {config.detector!r} needs opsbot's database")
        return await stored_series(db, config.detector, since, until)
    assert config.target is not None and config.query is not None
    params = bind_range(targets.dialect(config.target), since, until)
    columns, rows = await targets.fetch(config.target, config.query, config.timeout, params)
    return rows_to_series(columns, rows)


async def stored_series(db: AsyncEngine, detector: str, since: datetime, until: datetime) -> dict[str, Series]:
    """A `keep_history` detector's measured values (its ok and failing results) as series by key."""
    naive = lambda moment: as_utc(moment).replace(tzinfo=None)  # noqa: E731 - stored times are naive UTC
    query = (
        select(check_results.c.key, check_results.c.ts, check_results.c.value)
        .where(
            check_results.c.detector == detector,
            check_results.c.ts > naive(since),
            check_results.c.ts <= naive(until),
            check_results.c.value.is_not(None),
            check_results.c.status.in_((CheckStatus.ok.value, CheckStatus.fail.value)),
        )
        .order_by(check_results.c.key, check_results.c.ts)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return rows_to_series(["key", "ts", "value"], [tuple(r) for r in rows])


def readers_of(detectors: Sequence[DetectorBase]) -> Mapping[str, float]:
    """Seconds of stored history each `keep_history` detector must keep: the longest `history` of the series
    detectors that read it (`detector: NAME`). Pruning keeps at least that much of those detectors' results."""
    keep: dict[str, float] = {}
    for d in detectors:
        if isinstance(d, SeriesSource) and d.detector is not None:
            keep[d.detector] = max(keep.get(d.detector, 0.0), d.history)
    return keep
