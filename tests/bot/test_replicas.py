"""Several `opsbot run` processes on one PostgreSQL database, against the emulator with Telegram's limits:
one poller at a time, one run per detector interval, every alert once, a killed leader replaced within
10 s; webhook mode takes updates on every replica and refuses a wrong secret."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import TOKEN
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import write_storm_config
from ops.storage.db import create_engine
from ops.storage.tables import check_results

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

CHATS = [-3001, -3002]
KEYS = 120
KEY = re.compile(r"\bmp\d{3}\b")
TICK_EVERY = 3.0  # a busy machine starts a run up to a second late: well under half of this
HEALTH = "🩺 <b>Health</b>"  # as sent (HTML)


@pytest.fixture
async def limited_emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(telegram_limits=True)
    await emu.start()
    for chat in CHATS:
        emu.add_chat(chat)
    yield emu
    await emu.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """One `opsbot run` process. Its blocking calls go through `asyncio.to_thread` in the tests: the
    emulator shares the test's event loop and must keep answering meanwhile."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str], port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.log_path = tmp_path / f"{name}.log"
        log = open(self.log_path, "wb")  # closed by the OS with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env={**os.environ, **env, "HTTP_PORT": str(self.port)},
            stdout=log,
            stderr=log,
            cwd=tmp_path,
        )

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                body = response.read().decode()
                return response.status, json.loads(body) if path == "/healthz" else body
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def health(self) -> dict[str, Any] | None:
        try:
            status, body = self.get("/healthz")
        except OSError:
            return None
        return body if status == 200 else None

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@contextmanager
def replicas(
    tmp_path: Path, env: dict[str, str], n: int, ports: list[int] | None = None, name: str = "replica"
) -> Iterator[list[Replica]]:
    ports = ports or [free_port() for _ in range(n)]
    started = [Replica(tmp_path, f"{name}{i}", env, ports[i]) for i in range(n)]
    try:
        yield started
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.proc.kill()
                replica.proc.wait()
        for replica in started:
            assert TOKEN not in replica.log_path.read_text(errors="replace")


async def wait_until(what: str, predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.1)


def leaders(group: list[Replica]) -> list[Replica] | None:
    """The replicas saying they lead, once every running one answers /healthz."""
    healths = [(r, r.health()) for r in group if r.proc.poll() is None]
    if any(h is None for _, h in healths):
        return None
    return [r for r, h in healths if h and h["leader"]]


def base_env(tmp_path: Path, emulator: BotApiEmulator, database_url: str) -> dict[str, str]:
    return {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": database_url,
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": ",".join(map(str, CHATS)),
    }


def write_config(tmp_path: Path, failing: int = KEYS) -> None:
    # Its value is when it ran (Unix seconds, from SQLite's clock): what the scheduler did, unlike the time
    # its results were written, which waits behind whatever the engine is writing then (the storm).
    now = "(julianday('now') - 2440587.5) * 86400.0"
    tick = f"""  - {{name: tick, kind: sql, target: shop, query: "SELECT 'tick', {now}", alert_if: "< 0", every: {TICK_EVERY:g}s}}\n"""
    write_storm_config(tmp_path, KEYS, failing, extra=tick)


async def run_times(database_url: str, detector: str) -> set[Any]:
    """When the detector's runs stored results: `tick` says when it ran (its value); others, when written."""
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(check_results.c.ts, check_results.c.value).where(check_results.c.detector == detector)
        )
        times = {datetime.fromtimestamp(r.value, UTC) if detector == "tick" else r.ts for r in rows}
    await engine.dispose()
    return times


async def test_three_replicas_one_poller_failover_within_10s_every_alert_once(
    tmp_path: Path, limited_emulator: BotApiEmulator, pg_database: str
) -> None:
    emulator = limited_emulator
    write_config(tmp_path)

    def accepted() -> list[tuple[int, str]]:
        return [(int(c.params["chat_id"]), str(c.params["text"])) for c in emulator.calls_to("sendMessage", ok=True)]

    def covered() -> set[tuple[int, str]]:
        return {(chat, key) for chat, text in accepted() for key in KEY.findall(text)}

    with replicas(tmp_path, base_env(tmp_path, emulator, pg_database), 3) as group:
        first = await wait_until("one leader", lambda: (ls := leaders(group)) and len(ls) == 1 and ls, 60)
        leader = first[0]
        health = leader.health()
        assert health is not None and health["replicas"] == 3 and health["leader_replica"] == health["replica"]
        for r in group:  # every replica names the same leader, and says it on /metrics
            h = r.health()
            assert h is not None and h["leader_replica"] == health["replica"]
            assert f"opsbot_leader {1.0 if r is leader else 0.0}" in r.get("/metrics")[1]

        await emulator.wait_for(lambda: len(accepted()) >= 3, timeout=30)
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        killed_at = time.monotonic()
        survivors = [r for r in group if r is not leader]
        new = await wait_until("a new leader", lambda: (ls := leaders(survivors)) and len(ls) == 1 and ls, 10)
        assert time.monotonic() - killed_at <= 10
        assert new[0].health()["replicas"] == 2  # type: ignore[index]

        await emulator.wait_for(lambda: len(covered()) == len(CHATS) * KEYS, timeout=60)
        await asyncio.sleep(1.5)  # a repeated digest would arrive now
        alerts = accepted()
        emulator.send_text(CHATS[0], "/health")  # the new leader polls
        await emulator.wait_for(lambda: any(text.startswith(HEALTH) for _, text in accepted()), timeout=15)
        await asyncio.sleep(2 * TICK_EVERY + 0.5)  # anything extra would arrive now; a few more ticks run
        for r in survivors:
            assert await asyncio.to_thread(r.stop) == 0

    assert accepted()[: len(alerts)] == alerts and all(HEALTH in t or "└" in t for _, t in accepted()[len(alerts) :])
    messages = Counter(alerts)
    assert sum(n - 1 for n in messages.values()) <= 1, "more than the one message in flight repeated"
    for chat in CHATS:  # every alert in every chat; digests, not 240 cards
        keys = Counter(key for (c, text), n in messages.items() if c == chat for key in KEY.findall(text))
        assert set(keys) == {f"mp{i:03d}" for i in range(KEYS)}
    assert len(messages) <= len(CHATS) * -(-KEYS // 30) + 2
    assert sum(1 for _, text in accepted() if text.startswith(HEALTH)) == 1  # the command answered once
    assert emulator.overlapping_polls == 0  # never two getUpdates at once: Telegram would have said 409
    assert emulator.limits is not None and emulator.limits.refused == 0  # the shared budget kept the limits

    ticks, balance_runs = sorted(await run_times(pg_database, "tick")), await run_times(pg_database, "cash_balance")
    assert len(balance_runs) == 1  # every: 1h — the new leader did not run it again
    assert len(ticks) >= 4
    # A run's time is when it ran (its value; a busy machine starts one a little late, never early): no
    # more runs than the span holds intervals (an extra run at the failover would be one more), and none
    # right after another.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert len(ticks) <= sum(gaps) / TICK_EVERY + 1.5, f"more runs than intervals: {gaps}"
    assert min(gaps) >= TICK_EVERY / 2, f"two runs within one interval: {gaps}"


def command_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """An update as Telegram would POST it: a user's command in a group."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "group", "title": "ops"},
            "from": {"id": 1001, "is_bot": False, "first_name": "Alice", "username": "alice"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def test_webhook_mode_every_replica_takes_updates_and_a_wrong_secret_is_refused(
    tmp_path: Path, limited_emulator: BotApiEmulator, pg_database: str
) -> None:
    emulator = limited_emulator
    write_config(tmp_path, failing=0)
    secret, path = "s3cret-webhook_token", "/telegram/webhook"
    ports = [free_port(), free_port()]
    url = f"http://127.0.0.1:{ports[0]}{path}"  # what a load balancer in front of both would be
    env = {**base_env(tmp_path, emulator, pg_database), "WEBHOOK_URL": url, "WEBHOOK_SECRET": secret}

    def answers(chat: int) -> int:
        return sum(
            1
            for c in emulator.calls_to("sendMessage", ok=True)
            if int(c.params["chat_id"]) == chat and str(c.params["text"]).startswith(HEALTH)
        )

    with replicas(tmp_path, env, 2, ports) as group:
        await wait_until("one leader", lambda: (ls := leaders(group)) and len(ls) == 1, 60)
        await emulator.wait_for(lambda: emulator.webhook_url == url and emulator.webhook_secret == secret, 10)

        emulator.send_text(CHATS[0], "/health")  # Telegram POSTs it to the webhook
        await emulator.wait_for(lambda: answers(CHATS[0]) == 1, timeout=15)

        other = group[1]  # the replica Telegram was not pointed at takes updates too
        assert (
            await asyncio.to_thread(
                other.post, path, command_update(9001, CHATS[1], "/health"), {"X-Telegram-Bot-Api-Secret-Token": secret}
            )
            == 200
        )
        assert answers(CHATS[1]) == 1

        for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
            for replica in group:
                assert (
                    await asyncio.to_thread(replica.post, path, command_update(9002, CHATS[1], "/health"), headers)
                    == 401
                )
        await asyncio.sleep(1)
        assert answers(CHATS[1]) == 1  # the refused updates did nothing
        assert not emulator.calls_to("getUpdates")  # nobody polled while the webhook was set
        assert all(status == 200 for status in emulator.webhook_posts)
        for replica in group:
            assert await asyncio.to_thread(replica.stop) == 0

    polling_env = {k: v for k, v in env.items() if not k.startswith("WEBHOOK_")}
    with replicas(tmp_path, polling_env, 1, name="polling") as group:  # polling mode removes the webhook first
        await emulator.wait_for(lambda: emulator.webhook_url is None, 30)
        emulator.send_text(CHATS[0], "/health")
        await emulator.wait_for(lambda: answers(CHATS[0]) == 2, timeout=15)
        assert await asyncio.to_thread(group[0].stop) == 0
