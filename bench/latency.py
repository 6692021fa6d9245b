"""Scenario 2: detection latency — single failing checks, one at a time; from the failing check's stored
timestamp to the emulator (with Telegram's limits) accepting the alert."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import statistics
from datetime import UTC

from sqlalchemy import func, select

from bench.common import make_table, percentile, start_opsbot, workdir
from bot.emulator import BotApiEmulator
from ops.storage.tables import check_results

CHATS = 10


async def detection_latency(alerts: int) -> dict[str, float]:
    work = workdir("latency")
    names = [f"lat{i:03d}" for i in range(alerts)]
    target = make_table(work / "t.db", [(n, 1.0) for n in names])
    routes = "\n".join(f"  - {{match: {{chat: c{c}}}, chats: [{-1001 - c}]}}" for c in range(CHATS))
    detectors = "\n".join(
        f"  - {{name: {n}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = '{n}'\", alert_if: '< 0', "
        f"severity: critical, labels: {{chat: c{i % CHATS}}}}}"
        for i, n in enumerate(names)
    )
    config = f'targets: {{t: "{target}"}}\nroutes:\n{routes}\ndetectors:\n{detectors}\n'
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    for c in range(CHATS):
        emulator.add_chat(-1001 - c, "supergroup")
    app = await start_opsbot(work, emulator, config, sweep_interval_sec=3600)
    latencies: list[float] = []
    try:
        by_name = {d.name: d for d in app.core.config.detectors}
        for i, name in enumerate(names):
            conn = sqlite3.connect(work / "t.db")
            conn.execute("UPDATE t SET v = -1 WHERE k = ?", (name,))
            conn.commit()
            conn.close()
            await app.core.sweeper.run_one(by_name[name])
            async with app.core.db.connect() as db:
                stored = await db.scalar(select(func.max(check_results.c.ts)).where(check_results.c.detector == name))
            chat = str(-1001 - i % CHATS)

            def accepted(name: str = name, chat: str = chat) -> list:
                return [
                    c
                    for c in emulator.calls_to("sendMessage", ok=True)
                    if str(c.params["chat_id"]) == chat and name in str(c.params.get("text", ""))
                ]

            await emulator.wait_for(accepted, timeout=30)
            latencies.append(accepted()[0].done - stored.replace(tzinfo=UTC).timestamp())
            await asyncio.sleep(0.12)  # a new alert every 0.12 s: each chat sees one every 1.2 s
        refused = emulator.limits.refused if emulator.limits else 0
    finally:
        await app.stop()
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "alerts": alerts,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "refused_429": refused,
    }
