"""How fast are SLO numbers over a long history? `python -m bench.slo [--rows N] [--runs K]`.

Builds a SQLite database with N check rows (default 1,000,000) spread over 30 days across 10
detectors, declares an SLO on each of 3 of them, and times what `/slo` computes (every SLO over its
window plus five burn-rate windows: 18 aggregate queries) and the legacy per-day view (`/slo 30`
without SLOs). Prints p50/p99 in milliseconds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import ROLLUP
from ops.config import parse_config
from ops.runtime import OpsCore
from ops.settings import Settings

CONFIG = """
targets: {{t: "sqlite+aiosqlite:///{target}"}}
detectors:
{detectors}
slos:
  - {{name: s0, objective: 99.0, window: 30d, sli: {{detector: d0}}}}
  - {{name: s1, objective: 99.5, window: 28d, sli: {{detector: d1}}}}
  - {{name: s2, objective: 98.0, window: 7d, sli: {{detector: d2}}}}
"""


def fill(path: Path, rows: int, detectors: int) -> None:
    rng = random.Random(1)
    now = datetime.utcnow()
    conn = sqlite3.connect(path)
    batch = []
    for i in range(rows):
        ts = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        ok = rng.random() > 0.004
        stamp = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
        batch.append((stamp, f"d{i % detectors}", "", "ok" if ok else "fail", ok, "warning"))
        if len(batch) == 50_000:
            conn.executemany(
                "INSERT INTO ops_check_results (ts, detector, key, status, ok, severity, message, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, '', 1.0)",
                batch,
            )
            batch.clear()
    if batch:
        conn.executemany(
            "INSERT INTO ops_check_results (ts, detector, key, status, ok, severity, message, duration_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, '', 1.0)",
            batch,
        )
    conn.execute(ROLLUP)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(rows: int, runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="opsbot-bench-"))
    detectors = 10
    config_text = CONFIG.format(
        target=work / "t.db",
        detectors="\n".join(
            f"  - {{name: d{i}, kind: db_size, target: t, alert_if: '> 1TB'}}" for i in range(detectors)
        ),
    )
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{work / 'ops.db'}")  # type: ignore[call-arg]
    core = OpsCore.build(settings, parse_config(config_text, env={}))
    await core.migrate()
    started = time.perf_counter()
    fill(work / "ops.db", rows, detectors)
    print(f"{rows:,} check rows written in {time.perf_counter() - started:.1f} s ({work})")
    for label, call in (
        ("/slo (3 SLOs × 6 windows)", lambda: core.slo.statuses()),
        ("/slo 7d", lambda: core.slo.statuses(7 * 86400)),
        ("/slo 30 without SLOs (per day)", lambda: core.slo_history.slo(30)),
        ("chart data (30 days, 3 SLOs)", lambda: asyncio.gather(*(core.slo.daily(s, 30) for s in core.config.slos))),
    ):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"{label:34s} p50 {statistics.median(times):7.1f} ms   p99 {percentile(times, 0.99):7.1f} ms")
    await core.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.runs))
