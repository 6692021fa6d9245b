"""How fast is `opsbot backtest`? Five months of a series sampled every 5 minutes (~45,000 points), one
detector replayed at `every: 5m` through the real alert engine: `python -m bench.backtest [--days N]`.

The series is seasonal (day and week) with noise, a trend, and a few injected incidents (a dip, a spike,
a level shift). The detector is `DETECTOR` below, `kind: anomaly` with its defaults. `series_level`
(defined here: a threshold on the newest point with a median ± MAD band, the same `SeriesDetector`
interface) is the tests' small stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.common import settings_for, workdir
from ops.backtest import run_backtest
from ops.config import DetectorBase, detector_kinds, parse_config
from ops.config.fields import AlertIf, Duration
from ops.detectors import Check
from ops.detectors.base import result
from ops.detectors.sql import format_number, time_params
from ops.model import CheckResult, CheckStatus

STEP = 300  # seconds between points, and the detector's `every`
END = datetime(2026, 11, 1)
DETECTOR = '{name: demand, kind: anomaly, target: t, query: "$Q", every: 5m}'  # its defaults: history 4w
QUERY = "SELECT ts, value FROM demand WHERE ts > :since AND ts <= :until ORDER BY ts"
SERIES_KIND = "series_level"


@dataclass(frozen=True)
class LevelSeries:
    key: str
    ts: np.ndarray  # float Unix seconds, ascending
    values: np.ndarray


def define_series_kind() -> bool:
    """Register `kind: series_level` (once): the newest point of a (ts, value) or (key, ts, value) series
    checked with `alert_if`, with the window's median ± 3 MAD as its expected band. It provides the
    `SeriesDetector` interface a replay slides over; a test's or this benchmark's own, not a shipped kind.
    True when this call registered it (the caller unregisters it when done)."""
    if detector_kinds.get(SERIES_KIND) is not None:
        return False

    class SeriesLevelDetector(DetectorBase):
        kind: Literal["series_level"] = "series_level"
        target: str
        query: str
        history: Duration = 86400.0
        alert_if: AlertIf

    class SeriesLevelCheck(Check[SeriesLevelDetector]):
        def history(self) -> timedelta:
            return timedelta(seconds=self.config.history)

        async def fetch_range(self, since: datetime, until: datetime) -> dict[str, LevelSeries]:
            cfg = self.config
            params = time_params(self.ctx.targets.dialect(cfg.target), since=since, until=until)
            columns, rows = await self.ctx.targets.fetch(cfg.target, cfg.query, cfg.timeout, params)
            points: dict[str, tuple[list[float], list[float]]] = {}
            for row in rows:
                key, ts, value = ("", *row) if len(columns) == 2 else row
                times, values = points.setdefault(str(key), ([], []))
                times.append(_unix(ts))
                values.append(float(value))
            return {k: LevelSeries(k, np.array(t), np.array(v)) for k, (t, v) in points.items()}

        def evaluate(self, series: dict[str, LevelSeries], until: datetime) -> list[CheckResult]:
            cfg = self.config
            if not series:
                return [result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no data", threshold=cfg.alert_if.text)]
            out = []
            for key, s in series.items():
                where = f"{cfg.name}[{key}]" if key else cfg.name
                if len(s.values) == 0:
                    out.append(result(cfg, key, CheckStatus.no_data, f"{where}: no data"))
                    continue
                last = float(s.values[-1])
                median = float(np.median(s.values))
                spread = 3 * 1.4826 * float(np.median(np.abs(s.values - median)))
                status = CheckStatus.fail if cfg.alert_if.fails(last) else CheckStatus.ok
                message = f"{where} = {format_number(last)} (alert if {cfg.alert_if.text})"
                found = result(cfg, key, status, message, value=last, threshold=cfg.alert_if.text)
                out.append(CheckResult(**{**found.__dict__, "expected": (median - spread, median + spread)}))
            return out

        async def check(self) -> list[CheckResult]:
            now = self.ctx.clock()
            return self.evaluate(await self.fetch_range(now - self.history(), now), now)

    return True


def _unix(ts: Any) -> float:
    if isinstance(ts, datetime):
        return (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts).timestamp()
    if isinstance(ts, int | float):
        return float(ts)
    return datetime.fromisoformat(str(ts)).replace(tzinfo=UTC).timestamp()


def demand(days: int, seed: int = 7) -> list[tuple[datetime, float]]:
    """`days` of a demand-like series every 5 minutes: daily and weekly seasons, a trend, noise, and three
    incidents (a two-hour dip, a spike, and from two thirds on a lower level)."""
    rng = random.Random(seed)
    start = END - timedelta(days=days)
    n = days * 86400 // STEP
    rows = []
    for i in range(n + 1):
        at = start + timedelta(seconds=STEP * i)
        hour = at.hour + at.minute / 60
        value = 1000 + 500 * math.sin((hour - 9) / 24 * 2 * math.pi) + (150 if at.weekday() >= 5 else 0)
        value *= 1 + 0.1 * i / n
        value += rng.gauss(0, 40)
        if n // 3 <= i < n // 3 + 24:
            value *= 0.2  # a dip: the feed stalled
        if i == n // 2:
            value *= 3  # a spike
        if i >= 2 * n // 3:
            value -= 200  # a level shift that stays
        rows.append((at, value))
    return rows


def make_target(path: Path, rows: list[tuple[datetime, float]]) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE demand (ts TEXT, value REAL)")
    conn.execute("CREATE INDEX demand_ts ON demand (ts)")
    conn.executemany("INSERT INTO demand VALUES (?, ?)", [(t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in rows])
    conn.commit()
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


async def backtest_speed(days: int) -> dict[str, Any]:
    """Replay `days` of the series; wall and CPU seconds, and what the replay found."""
    defined = define_series_kind()
    try:
        return await _replay_demand(days)
    finally:
        if defined:
            detector_kinds.unregister(SERIES_KIND)


async def _replay_demand(days: int) -> dict[str, Any]:
    work = workdir("backtest")
    rows = demand(days)
    target = make_target(work / "t.db", rows)
    line = DETECTOR.replace("$Q", QUERY)
    config = parse_config(f'targets: {{t: "{target}"}}\ndetectors:\n  - {line}\n', env={})
    settings = settings_for(work, None)
    wall, cpu = time.perf_counter(), time.process_time()
    report = await run_backtest(settings, config, "demand", END - timedelta(days=days), END)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "kind": config.detectors[0].kind,
        "days": days,
        "points": len(rows),
        "runs": report.runs,
        "engine_runs": report.engine_runs,
        "episodes": len(report.episodes),
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "runs_per_s": round(report.runs / wall) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=155, help="how long a series (default 155: five months)")
    args = parser.parse_args()
    print(asyncio.run(backtest_speed(args.days)))


if __name__ == "__main__":
    main()
