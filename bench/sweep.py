"""Scenario 3: one sweep of N sql detectors on SQLite (wall and CPU time), and the engine's throughput
in check results per second (one detector reporting 1,000 keys, steady state)."""

from __future__ import annotations

import shutil
import statistics
import time

from bench.common import make_table, settings_for, workdir
from ops.config import parse_config
from ops.model import CheckResult, CheckStatus, Severity
from ops.runtime import OpsCore


async def sweep_and_engine(detectors: int, runs: int = 3) -> dict[str, float]:
    work = workdir("sweep")
    names = [f"d{i:04d}" for i in range(detectors)]
    target = make_table(work / "t.db", [(n, 1.0) for n in names])
    lines = "\n".join(
        f"  - {{name: {n}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = '{n}'\", alert_if: '< 0'}}"
        for n in names
    )
    config = parse_config(
        f'targets: {{t: "{target}"}}\ndetectors:\n{lines}\n'
        '  - {name: keys, kind: sql, target: t, query: "SELECT k, v FROM t", alert_if: "< 0"}\n',
        env={},
    )
    core = OpsCore.build(settings_for(work, None, alert_chat_ids=[-1001]), config)
    await core.migrate()
    try:
        await core.sweeper.sweep()  # warm: states exist, connections open
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            await core.sweeper.sweep()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        keys = config.detectors[-1]
        results = [
            CheckResult(detector="keys", key=f"k{i}", status=CheckStatus.ok, severity=Severity.warning, message="ok")
            for i in range(1000)
        ]
        rates = []
        for _ in range(5):
            started = time.perf_counter()
            await core.engine.process(keys, results)
            rates.append(len(results) / (time.perf_counter() - started))
    finally:
        await core.close()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "detectors": detectors + 1,
        "sweep_s": statistics.median(walls),
        "sweep_cpu_s": statistics.median(cpus),
        "engine_results_per_s": statistics.median(rates),
    }
