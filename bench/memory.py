"""Scenario 5: peak RSS of `opsbot run` with N sql detectors, talking to the emulator, for a while."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import TOKEN, make_table, workdir
from bot.emulator import BotApiEmulator


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _start(work: Path, emulator: BotApiEmulator) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'ops.db'}",
        "OPSBOT_CONFIG": str(work / "opsbot.yaml"),
        "ALERT_CHAT_IDS": "-1001",
        "HTTP_PORT": "0",
    }
    with open(work / "run.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=log, cwd=work)


async def peak_rss(detectors: int, seconds: float) -> dict[str, float]:
    work = workdir("memory")
    names = [f"m{i:04d}" for i in range(detectors)]
    target = make_table(work / "t.db", [(n, 1.0 if i % 50 else -1.0) for i, n in enumerate(names)])
    lines = "\n".join(
        f"  - {{name: {n}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = '{n}'\", "
        "alert_if: '< 0', every: 30s}"
        for n in names
    )
    (work / "opsbot.yaml").write_text(f'targets: {{t: "{target}"}}\ndetectors:\n{lines}\n', encoding="utf-8")
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_chat(-1001, "supergroup")
    proc = _start(work, emulator)
    try:
        rss = 0
        for _ in range(int(seconds * 2)):
            await asyncio.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"opsbot run exited: {(work / 'run.log').read_text()[-500:]}")
            rss = max(rss, _status_kb(proc.pid, "VmRSS"))
        peak = _status_kb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"detectors": detectors, "seconds": seconds, "peak_rss_mb": max(peak, rss) / 1024}
