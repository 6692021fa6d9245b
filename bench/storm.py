"""Scenario 1: a storm — N alerts at once, N/10 to each of 10 group chats, through an emulator that
enforces Telegram's flood limits. opsbot (one sql detector with N keys, or N detectors) against
Alertmanager (Debian's prometheus-alertmanager, its telegram_configs pointed at the same emulator)."""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from bench.common import TOKEN, make_table, start_opsbot, visible, workdir
from bot.emulator import BotApiEmulator

CHATS = 10
ALERTMANAGER = "prometheus-alertmanager"


@dataclass
class StormResult:
    system: str
    alerts: int
    seconds_to_all_visible: float | None  # None: not all visible before the timeout
    messages: int
    refused_429: int
    invisible: int
    floor_seconds: float  # the least time Telegram's limits allow for these messages

    def row(self) -> dict[str, object]:
        return asdict(self)


def chat_id(n: int) -> int:
    return -1001 - n


def alert_ids(alerts: int) -> dict[int, set[str]]:
    per_chat = alerts // CHATS
    return {chat_id(c): {f"c{c:02d}_a{i:03d}" for i in range(per_chat)} for c in range(CHATS)}


def floor_seconds(messages_per_chat: list[int]) -> float:
    """Per chat a burst of 3 then 1/s, 20/min per group; 30/s overall."""

    def chat(m: int) -> float:
        if m <= 20:
            return max(0.0, m - 3.0)
        return 60.0 * (math.ceil(m / 20) - 1) + max(0.0, (m - 20 * (math.ceil(m / 20) - 1)) - 3.0)

    return max([chat(m) for m in messages_per_chat] + [sum(messages_per_chat) / 30.0])


async def _wait_visible(emulator: BotApiEmulator, ids: dict[int, set[str]], started: float, timeout: float):
    total = sum(len(v) for v in ids.values())
    done_at = None
    while time.perf_counter() - started < timeout:
        seen = visible(ids, emulator)
        if sum(len(v) for v in seen.values()) == total:
            done_at = time.perf_counter() - started
            break
        await asyncio.sleep(0.1)
    seen = visible(ids, emulator)
    return done_at, total - sum(len(v) for v in seen.values())


def _result(system: str, alerts: int, emulator: BotApiEmulator, done_at: float | None, invisible: int) -> StormResult:
    assert emulator.limits is not None
    messages = _messages(emulator)
    return StormResult(
        system, alerts, done_at, sum(messages), emulator.limits.refused, invisible, floor_seconds(messages)
    )


def _messages(emulator: BotApiEmulator) -> list[int]:
    per_chat: dict[int, int] = {}
    for call in emulator.calls_to("sendMessage", ok=True):
        per_chat[int(call.params["chat_id"])] = per_chat.get(int(call.params["chat_id"]), 0) + 1
    return list(per_chat.values())


async def storm_opsbot(alerts: int, mode: str, timeout: float) -> StormResult:
    """mode "keys": one sql detector returning every alert as a key; "detectors": one detector per alert."""
    work = workdir("storm")
    ids = alert_ids(alerts)
    every = sorted(i for chat_ids in ids.values() for i in chat_ids)
    target = make_table(work / "t.db", [(k, -1.0) for k in every])
    routes = "\n".join(
        f'  - {{match: {{{"key" if mode == "keys" else "chat"}: "{"=~" if mode == "keys" else ""}c{c:02d}'
        f'{"_.*" if mode == "keys" else ""}"}}, chats: [{chat_id(c)}]}}'
        for c in range(CHATS)
    )
    if mode == "keys":
        detectors = (
            '  - {name: storm, kind: sql, target: t, query: "SELECT k, v FROM t", alert_if: "< 0", severity: critical}'
        )
    else:
        detectors = "\n".join(
            f"  - {{name: {k}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = '{k}'\", "
            f'alert_if: "< 0", severity: critical, labels: {{chat: "{k[:3]}"}}}}'
            for k in every
        )
    config = f'targets: {{t: "{target}"}}\nroutes:\n{routes}\ndetectors:\n{detectors}\n'
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    for chat in ids:
        emulator.add_chat(chat, "supergroup")
    app = await start_opsbot(work, emulator, config, sweep_interval_sec=3600)
    try:
        started = time.perf_counter()
        sweep = asyncio.create_task(app.core.sweeper.sweep(concurrency=8))
        done_at, invisible = await _wait_visible(emulator, ids, started, timeout)
        await sweep
    finally:
        await app.stop()
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    system = f"1 detector, {alerts} keys" if mode == "keys" else f"{alerts} detectors"
    return _result(f"opsbot ({system})", alerts, emulator, done_at, invisible)


def _start_alertmanager(work: Path, port: int) -> subprocess.Popen[bytes]:
    with open(work / "am.log", "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={work / 'am.yml'}",
                f"--storage.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def storm_alertmanager(alerts: int, group_by: str, timeout: float) -> StormResult | None:
    """group_by "alertname": one message per alert; "chat": one group (one message) per chat."""
    if shutil.which(ALERTMANAGER) is None:
        return None
    work = workdir("am")
    ids = alert_ids(alerts)
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    for chat in ids:
        emulator.add_chat(chat, "supergroup")
    receivers = "\n".join(
        f"  - name: c{c:02d}\n    telegram_configs:\n      - api_url: {emulator.url}\n"
        f'        bot_token: "{TOKEN}"\n        chat_id: {chat_id(c)}\n        send_resolved: false'
        for c in range(CHATS)
    )
    routes = "\n".join(f"    - {{receiver: c{c:02d}, matchers: ['chat=\"c{c:02d}\"']}}" for c in range(CHATS))
    (work / "am.yml").write_text(
        f"""route:
  receiver: c00
  group_by: [{group_by}]
  group_wait: 1s
  group_interval: 5m
  repeat_interval: 4h
  routes:
{routes}
receivers:
{receivers}
""",
        encoding="utf-8",
    )
    port = _free_port()
    proc = _start_alertmanager(work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/-/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            payload = [
                {
                    "labels": {"alertname": alert, "chat": alert[:3], "severity": "critical"},
                    "annotations": {"summary": f"{alert} is below zero"},
                }
                for chat_ids in ids.values()
                for alert in sorted(chat_ids)
            ]
            started = time.perf_counter()
            async with http.post(f"{base}/api/v2/alerts", json=payload) as resp:
                resp.raise_for_status()
        done_at, invisible = await _wait_visible(emulator, ids, started, timeout)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    label = "per-alert messages" if group_by == "alertname" else "one group per chat"
    return _result(f"Alertmanager ({label})", alerts, emulator, done_at, invisible)
