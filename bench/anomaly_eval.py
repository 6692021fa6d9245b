"""`kind: anomaly` with its defaults on real operational series: `python -m bench.anomaly_eval [--data DIR]`.

Each series goes through `opsbot backtest` (the real engine: `for`, dedup, flapping) from a throwaway SQLite
target, with the detector's defaults and `every` = the series' sampling step. Scored like the Numenta
Anomaly Benchmark: a labeled incident is caught when an alert episode starts inside its window or within
one window span before it; a false alarm is an episode that starts outside every such stretch. The figure
per series is caught/labeled and false alarms per 30 days of judged time.

Real series are not shipped with opsbot (licences): they are read from files that PyPI packages ship, when
found under `--data` (default `/tmp/ds`, laid out by `pip download --no-deps PKG -d /tmp/ds/PKG` and
unzipping the wheel there):
- `hyperts/datasets/realKnownCause.csv` (package `hyperts`): NAB's machine_temperature_system_failure,
  5-minute, 79 days, with its four labeled anomaly windows (`anomaly` column);
- `river/datasets/water-flow.csv` (package `river`): hourly water flow through a pipeline branch, 53 days,
  whose documented "low value moments" are labeled here where the flow drops to the pump's floor.
Generated look-alikes of shapes real series have (near-constant counts whose MAD is 0, a bounded CPU
percentage, 1-minute sampling with duplicated timestamps and gaps) always run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import settings_for, workdir
from ops.backtest import run_backtest
from ops.config import parse_config

QUERY = "SELECT ts, value FROM s WHERE ts > :since AND ts <= :until ORDER BY ts"


@dataclass
class Case:
    name: str
    rows: list[tuple[datetime, float]]  # naive UTC
    every: str
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)


def _naive_utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def windows_from_flags(rows: list[tuple[datetime, float]], flags: list[bool]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    start = None
    for (at, _), flag in zip(rows, flags, strict=True):
        if flag and start is None:
            start = at
        if not flag and start is not None:
            out.append((start, at))
            start = None
    if start is not None:
        out.append((start, rows[-1][0]))
    return out


def machine_temperature(data: Path) -> Case | None:
    path = data / "hyperts" / "hyperts" / "datasets" / "realKnownCause.csv"
    if not path.exists():
        return None
    with path.open() as f:
        raw = list(csv.DictReader(f))
    rows = [(_naive_utc(r["timestamp"]), float(r["value"])) for r in raw]
    return Case("nab_machine_temperature", rows, "5m", windows_from_flags(rows, [r["anomaly"] == "1" for r in raw]))


def water_flow(data: Path) -> Case | None:
    path = data / "river" / "river" / "datasets" / "water-flow.csv"
    if not path.exists():
        return None
    with path.open() as f:
        raw = list(csv.reader(f))[1:]
    rows = [(_naive_utc(t), float(v)) for t, v in raw]
    low = [v < 60 for _, v in rows]  # the flow at the pump's floor (~24 l/s) and the ramps into it
    return Case("river_water_flow", rows, "1h", windows_from_flags(rows, low))


def _grid(days: int, step: int, end: datetime) -> list[datetime]:
    start = end - timedelta(days=days)
    return [start + timedelta(seconds=step * i) for i in range(days * 86400 // step)]


def near_constant(seed: int = 3) -> Case:
    """Queue length every 5 minutes: 0 nearly always (MAD 0), a 1 or 2 now and then, and one stuck queue."""
    rng = random.Random(seed)
    at = _grid(42, 300, datetime(2019, 6, 1))
    rows = [(t, float(rng.random() < 0.03) + float(rng.random() < 0.005)) for t in at]
    k = len(rows) * 3 // 4
    rows[k : k + 18] = [(t, 40.0 + i) for i, (t, _) in enumerate(rows[k : k + 18])]
    return Case("gen_near_constant_counts", rows, "5m", [(rows[k][0], rows[k + 18][0])])


def bounded_cpu(seed: int = 5) -> Case:
    """CPU % every 5 minutes: low and quantized with a daily cycle, batch bursts to 100 % each night
    (normal), and one runaway process pinning it at 100 % for three hours."""
    rng = random.Random(seed)
    at = _grid(42, 300, datetime(2014, 3, 1))
    rows = []
    for i, t in enumerate(at):
        hour = t.hour + t.minute / 60
        v = 8 + 6 * math.sin((hour - 8) / 24 * 2 * math.pi) + rng.expovariate(1 / 2)
        if t.hour == 2 and t.minute < 15:
            v = 100.0  # the nightly batch
        rows.append((t, min(100.0, round(v, 1))))
        del i
    k = len(rows) * 2 // 3 + 150
    rows[k : k + 36] = [(t, 100.0) for t, _ in rows[k : k + 36]]
    return Case("gen_bounded_cpu", rows, "5m", [(rows[k][0], rows[k + 36][0])])


def minute_sampling(seed: int = 11) -> Case:
    """Requests per minute: a daily cycle with Poisson-like noise, duplicated timestamps (two collectors),
    two gaps of a few hours, and a 40-minute outage (0 requests)."""
    rng = random.Random(seed)
    at = _grid(30, 60, datetime(2016, 1, 20))
    rows: list[tuple[datetime, float]] = []
    outage = len(at) * 4 // 5
    for i, t in enumerate(at):
        if len(at) // 3 <= i < len(at) // 3 + 240 or len(at) // 2 <= i < len(at) // 2 + 300:
            continue  # the collector was down
        hour = t.hour + t.minute / 60
        lam = 30 + 20 * math.sin((hour - 10) / 24 * 2 * math.pi)
        v = float(max(0, round(rng.gauss(lam, math.sqrt(lam)))))
        if outage <= i < outage + 40:
            v = 0.0
        rows.append((t, v))
        if i % 97 == 0:
            rows.append((t, v))  # the same minute twice
    return Case("gen_minute_requests", rows, "1m", [(at[outage], at[outage + 40])])


def make_target(path: Path, rows: list[tuple[datetime, float]]) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE s (ts TEXT, value REAL)")
    conn.execute("CREATE INDEX s_ts ON s (ts)")
    conn.executemany("INSERT INTO s VALUES (?, ?)", [(t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in rows])
    conn.commit()
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


async def evaluate(case: Case, extra: str = "", verbose: bool = False) -> dict[str, object]:
    work = workdir(f"anomaly-eval-{case.name}")
    (work / "t.db").unlink(missing_ok=True)
    target = make_target(work / "t.db", case.rows)
    line = f'{{name: d, kind: anomaly, target: t, query: "{QUERY}", every: {case.every}{extra}}}'
    config = parse_config(f'targets: {{t: "{target}"}}\ndetectors:\n  - {line}\n', env={})
    start, end = case.rows[0][0], case.rows[-1][0] + timedelta(minutes=1)
    report = await run_backtest(settings_for(work, None), config, "d", start, end)
    fired = [e.fired_at.replace(tzinfo=None) for e in report.episodes]
    stretches = [(a - (b - a), b) for a, b in case.windows]
    caught = sum(any(lo <= f <= hi for f in fired) for lo, hi in stretches)
    false = [f for f in fired if not any(lo <= f <= hi for lo, hi in stretches)]
    judged_days = max(1e-9, (end - start).total_seconds() / 86400 - 7)  # the first week is learning
    if verbose:
        for e in report.episodes:
            print("   ", e.as_dict()["fired_at"], e.as_dict()["resolved_at"], e.message)
    return {
        "series": case.name,
        "points": len(case.rows),
        "caught": f"{caught}/{len(case.windows)}",
        "false_alarms": len(false),
        "false_per_30d": round(len(false) * 30 / judged_days, 2),
        "false_at": [f.isoformat(timespec="minutes") for f in false][:8],
    }


def cases(data: Path) -> list[Case]:
    found = [machine_temperature(data), water_flow(data)]
    return [c for c in found if c is not None] + [near_constant(), bounded_cpu(), minute_sampling()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/ds"), help="where the unzipped wheels are")
    parser.add_argument("--verbose", action="store_true", help="print every episode")
    parser.add_argument("--only", default="", help="run only series whose name contains this")
    args = parser.parse_args()
    for case in cases(args.data):
        if args.only in case.name:
            print(asyncio.run(evaluate(case, verbose=args.verbose)), flush=True)


if __name__ == "__main__":
    main()
