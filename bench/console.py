"""Scenario 4: the console over a long history — 1,000,000 check rows over 90 days and 100,000
incidents; server-side time of each command (update received → reply accepted), p50 and p99."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import ROLLUP, make_table, percentile, start_opsbot, workdir
from bot.emulator import BotApiEmulator
from ops.storage.db import create_engine, migrate

DETECTORS = 10
COMMANDS = ["/health", "/alerts", "/alerts critical 50", "/slo", "/slo 90d"]
SEVERITIES = ["info", "warning", "error", "critical"]


def fill(path: Path, checks: int, incidents: int) -> None:
    rng = random.Random(1)
    now = datetime.utcnow()
    conn = sqlite3.connect(path)
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    rows = []
    for i in range(checks):
        ts = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        ok = rng.random() > 0.004
        rows.append((ts.strftime(stamp), f"d{i % DETECTORS}", "", "ok" if ok else "fail", ok, "warning"))
        if len(rows) == 100_000:
            _insert_checks(conn, rows)
    _insert_checks(conn, rows)
    history = []
    for i in range(incidents):
        opened = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        status = "resolved" if i < incidents - 40 else rng.choice(["firing", "acknowledged"])
        history.append(
            (
                opened.strftime(stamp),
                f"{i:032x}",
                f"d{i % DETECTORS}",
                f"k{i}",
                rng.choice(SEVERITIES),
                f"d{i % DETECTORS}[k{i}] = {-rng.randint(1, 99999)} (alert if < 0)",
                json.dumps({"value": -1, "key": f"k{i}"}),
                status,
                opened.strftime(stamp),
                (opened + timedelta(minutes=rng.randint(1, 600))).strftime(stamp) if status == "resolved" else None,
            )
        )
    conn.executemany(
        "INSERT INTO ops_alerts_history (created_at, fingerprint, source, key, severity, message, extras_json,"
        " status, last_seen_at, resolved_at, notification_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        history,
    )
    conn.execute(ROLLUP)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _insert_checks(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO ops_check_results (ts, detector, key, status, ok, severity, message, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, '', 1.0)",
        rows,
    )
    rows.clear()


async def console(checks: int, incidents: int, runs: int) -> dict[str, dict[str, float]]:
    work = workdir("console")
    target = make_table(work / "t.db", [("x", 1.0)])
    detectors = "\n".join(
        f"  - {{name: d{i}, kind: sql, target: t, query: 'SELECT v FROM t', alert_if: '< 0'}}" for i in range(DETECTORS)
    )
    config = (
        f'targets: {{t: "{target}"}}\ndetectors:\n{detectors}\nslos:\n'
        "  - {name: s0, objective: 99.0, window: 30d, sli: {detector: d0}}\n"
        "  - {name: s1, objective: 99.5, window: 28d, sli: {detector: d1}}\n"
        "  - {name: s2, objective: 98.0, window: 7d, sli: {detector: d2}}\n"
    )
    users = list(range(5000, 5000 + (runs + 1) * len(COMMANDS)))
    emulator = BotApiEmulator()
    await emulator.start()
    for user in users:
        emulator.add_chat(user, "private")
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'ops.db'}")
    await migrate(engine)
    await engine.dispose()
    started = time.perf_counter()
    await asyncio.to_thread(fill, work / "ops.db", checks, incidents)  # before the bot: it holds the lock long
    filled = time.perf_counter() - started
    app = await start_opsbot(work, emulator, config, admin_user_ids=users, alert_chat_ids=[-1001])
    timings: dict[str, list[float]] = {c: [] for c in COMMANDS}
    try:
        free = iter(users)
        for run in range(runs + 1):  # the first round warms the caches and is not counted
            for command in COMMANDS:
                user = next(free)
                sent = time.time()
                emulator.send_text(user, command, user_id=user)
                await emulator.wait_for(lambda user=user: emulator.bot_messages(user), timeout=60)
                first = min(
                    c.done for c in emulator.calls_to("sendMessage", ok=True) if str(c.params["chat_id"]) == str(user)
                )
                if run:
                    timings[command].append(first - sent)
                await asyncio.sleep(0.3)  # let the handler finish (a chart may follow the text) before the next
    finally:
        await app.stop()
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    out: dict[str, dict[str, float]] = {
        c: {"p50_ms": statistics.median(t) * 1000, "p99_ms": percentile(t, 0.99) * 1000} for c, t in timings.items()
    }
    out["_data"] = {"check_rows": checks, "incidents": incidents, "fill_s": filled}
    return out
