"""Scenario 6: the public status page under load — 200 concurrent clients (an aiohttp load generator in a
process of its own, on loopback) read `/status` from a running opsbot with 90 days of history, while the bot
keeps delivering alerts through the emulator (with Telegram's limits); p50/p99 of the page, requests per
second, and the alerts' delivery delay (failing check stored → Telegram accepted the message).

Three loads: `paced`, each client asking once a second (200 readers refreshing their page), on the bot's
HTTP server; and twice a flood, each client asking again as soon as it is answered (what wrk does: the
server's ceiling) — `flood_shared` on the bot's HTTP server (its event loop), `flood` on STATUS_LISTEN's
listener (a thread and event loop of its own).

`python -m bench.status --screenshot docs/status-page.png` makes the README's picture of the same page
(history written by hand, as below; chromium through playwright)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bench.common import make_table, percentile, start_opsbot, workdir
from bot.app import OpsBotApp
from bot.emulator import BotApiEmulator
from ops.storage.db import create_engine, migrate
from ops.storage.tables import check_results

CLIENTS = 200
CHATS = 12  # alerts spread so that no group gets near its 20 messages a minute (2-3 alerts a second in all)
COMPONENTS = {
    "Orders API": ["api_latency_p95", "site_up"],
    "Checkout": ["checkout_errors"],
    "Payouts": ["cash_balance", "commission_outliers"],
    "Search": ["search_up"],
    "Notifications": ["mail_queue"],
}
# Past trouble (days ago, hours it lasted, detector, severity), written by hand into the history.
PAST = [(71, 3, "site_up", "critical"), (38, 1, "checkout_errors", "warning"), (12, 5, "cash_balance", "error"),
        (3, 1, "api_latency_p95", "warning")]  # fmt: skip
STAMP = "%Y-%m-%d %H:%M:%S.%f"
# (name, each client paced at once a second or back to back, which listener): `shared` is HTTP_PORT's
# server on the bot's event loop, `own` the STATUS_LISTEN one on a thread of its own.
LOADS = [("paced", True, "shared"), ("flood_shared", False, "shared"), ("flood", False, "own")]


def config(target: str, alerting: int) -> str:
    detectors = [d for names in COMPONENTS.values() for d in names]
    routes = "\n".join(f"  - {{match: {{chat: c{c}}}, chats: [{-1001 - c}]}}" for c in range(CHATS))
    lines = [
        f"  - {{name: {d}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = '{d}'\", alert_if: '< 0', "
        f"severity: {'critical' if d.endswith('_up') else 'warning'}, every: 1h}}"
        for d in detectors
    ]
    lines += [
        f"  - {{name: a{i:03d}, kind: sql, target: t, query: \"SELECT v FROM t WHERE k = 'a{i:03d}'\", "
        f"alert_if: '< 0', severity: critical, labels: {{chat: c{i % CHATS}}}, every: 1h}}"
        for i in range(alerting)
    ]
    components = "\n".join(f"    - {{name: {n}, detectors: [{', '.join(ds)}]}}" for n, ds in COMPONENTS.items())
    return (
        f'targets: {{t: "{target}"}}\nroutes:\n{routes}\ndetectors:\n' + "\n".join(lines) + "\n"
        f"status_page:\n  title: Marketplace status\n  components:\n{components}\n"
    )


async def history(work: Path, now: datetime, open_alert: str | None = "api_latency_p95") -> None:
    """90 days of hourly rollup for the status page's detectors (a check a minute, a few failing), past
    incidents, and (optionally) one open warning."""
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'ops.db'}")
    await migrate(engine)
    await engine.dispose()
    rng = random.Random(7)
    rows: list[tuple[Any, ...]] = []
    first = (now - timedelta(days=89)).replace(hour=0, minute=0, second=0, microsecond=0)
    trouble = {(d, (now - timedelta(days=ago)).date()): hours for ago, hours, d, _ in PAST}
    for detector in (d for names in COMPONENTS.values() for d in names):
        hour = first
        while hour <= now:
            bad = rng.choice([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) if rng.random() < 0.02 else 0
            if hour.hour < trouble.get((detector, hour.date()), 0):
                bad = 60 if detector.endswith("_up") else 20
            rows.append((detector, hour.strftime(STAMP), 60, 60 - bad))
            hour += timedelta(hours=1)
    alerts = []
    for i, (ago, hours, detector, severity) in enumerate(PAST):
        opened = (now - timedelta(days=ago)).replace(hour=0, minute=4)
        resolved = opened + timedelta(hours=hours, minutes=-2)
        alerts.append((opened.strftime(STAMP), f"{i:032x}", detector, severity, "resolved", resolved.strftime(STAMP)))
    if open_alert is not None:
        opened = now - timedelta(minutes=25)
        alerts.append((opened.strftime(STAMP), f"{99:032x}", open_alert, "warning", "firing", None))
    conn = sqlite3.connect(work / "ops.db")
    conn.executemany("INSERT INTO ops_check_hourly (detector, hour, total, good) VALUES (?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO ops_alerts_history (created_at, fingerprint, source, key, severity, message, extras_json,"
        " status, last_seen_at, resolved_at, notification_count) VALUES (?, ?, ?, '', ?, 'x', '{}', ?, ?, ?, 1)",
        [(a[0], a[1], a[2], a[3], a[4], a[0], a[5]) for a in alerts],
    )
    conn.commit()
    conn.close()


async def generate(url: str, clients: int, seconds: float, paced: bool) -> dict[str, Any]:
    if not paced and shutil.which("wrk"):
        return await wrk(url, clients, seconds)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", url, str(clients), str(seconds), "paced" if paced else "flood",
        stdout=subprocess.PIPE, cwd=str(Path(__file__).resolve().parent.parent),
    )  # fmt: skip
    out, _ = await proc.communicate()
    return dict(json.loads(out))


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def wrk(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """The flood by wrk (Debian's `wrk`, when installed): C, two threads, so the load costs the server's
    machine far less than the Python generator would."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", url, stdout=subprocess.PIPE
    )
    out = (await proc.communicate())[0].decode()
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return {
        "generator": "wrk",
        "clients": clients,
        "mode": "flood",
        "requests": requests,
        "errors": errors,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
    }


async def deliver(
    app: OpsBotApp, emulator: BotApiEmulator, work: Path, names: Iterator[str], stop: asyncio.Event
) -> list[float]:
    """One alert every 0.3 s until `stop`: seconds from the failing check's stored time to Telegram's accept."""
    delays: list[float] = []
    by_name = {d.name: d for d in app.core.config.detectors}
    for name in names:
        if stop.is_set():
            break
        conn = sqlite3.connect(work / "t.db")
        conn.execute("UPDATE t SET v = -1 WHERE k = ?", (name,))
        conn.commit()
        conn.close()
        await app.core.sweeper.run_one(by_name[name])
        async with app.core.db.connect() as db:
            stored = await db.scalar(select(func.max(check_results.c.ts)).where(check_results.c.detector == name))
        chat = str(-1001 - int(name[1:]) % CHATS)  # its route: labels chat c{i % CHATS}

        def accepted(name: str = name, chat: str = chat) -> list[Any]:
            return [
                c
                for c in emulator.calls_to("sendMessage", ok=True)
                if str(c.params["chat_id"]) == chat and name in str(c.params.get("text", ""))
            ]

        await emulator.wait_for(accepted, timeout=60)
        delays.append(accepted()[0].done - stored.replace(tzinfo=UTC).timestamp())
        await asyncio.sleep(0.3)
    return delays


async def status_page_load(seconds: float, clients: int = CLIENTS) -> dict[str, Any]:
    work = workdir("status")
    now = datetime.now(UTC).replace(tzinfo=None)
    await history(work, now)
    alerting = int(seconds * len(LOADS) / 0.3) + 20
    target = make_table(
        work / "t.db",
        [(d, 1.0) for ds in COMPONENTS.values() for d in ds] + [(f"a{i:03d}", 1.0) for i in range(alerting)],
    )
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    for c in range(CHATS):
        emulator.add_chat(-1001 - c, "supergroup")
    app = await start_opsbot(
        work, emulator, config(target, alerting), sweep_interval_sec=3600, status_listen="127.0.0.1:0"
    )
    out: dict[str, Any] = {"clients": clients, "seconds": seconds}
    try:
        assert app.status_listener is not None
        shared = f"http://127.0.0.1:{app.http_port}/status"  # the bot's own HTTP server (and event loop)
        own = f"http://127.0.0.1:{app.status_listener.port}/status"  # STATUS_LISTEN: a thread of its own
        async with aiohttp.ClientSession() as http, http.get(shared) as resp:  # the first snapshot
            out["page_bytes"] = len(await resp.read())
        names = iter(f"a{i:03d}" for i in range(alerting))
        for mode, paced, url in LOADS:
            stop = asyncio.Event()
            sending = asyncio.create_task(deliver(app, emulator, work, names, stop))
            refreshes = app.status_page.refreshes
            out[mode] = await generate(own if url == "own" else shared, clients, seconds, paced)
            stop.set()
            delays = await sending
            out[mode]["snapshot_refreshes"] = app.status_page.refreshes - refreshes
            out[mode]["alerts_delivered"] = len(delays)
            out[mode]["delivery_p50_ms"] = statistics.median(delays) * 1000
            out[mode]["delivery_p99_ms"] = percentile(delays, 0.99) * 1000
        out["refused_429"] = emulator.limits.refused if emulator.limits else 0
    finally:
        await app.stop()
        await emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


async def screenshot(path: Path) -> None:
    from playwright.async_api import async_playwright

    work = workdir("status-shot")
    now = datetime.now(UTC).replace(tzinfo=None)
    await history(work, now)
    target = make_table(work / "t.db", [(d, 1.0) for ds in COMPONENTS.values() for d in ds])
    app = await start_opsbot(work, None, config(target, 0), sweep_interval_sec=3600)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 900, "height": 1000}, device_scale_factor=1)
            await page.goto(f"http://127.0.0.1:{app.http_port}/status")
            await page.screenshot(path=str(path), full_page=True)
            await browser.close()
    finally:
        await app.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.screenshot:
        asyncio.run(screenshot(args.screenshot))
    else:
        print(json.dumps(asyncio.run(status_page_load(args.seconds)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
