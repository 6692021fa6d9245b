"""Config reload without a restart: `/reload` (admins) and SIGHUP re-read OPSBOT_CONFIG. A valid file takes
effect in place — a new detector runs and alerts, a removed one's open alerts resolve "detector removed" —
and an invalid one changes nothing while the admin chats get its errors as `opsbot check-config` prints
them. With replicas, a reload on one is followed by the others."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, SHOP, TOKEN, Harness, config_text, start_harness

from bot.emulator import BotApiEmulator, ChatMessage
from helpers import database_url, make_sqlite, query

STOCK = """
  - name: stock_level
    kind: sql
    target: shop
    query: SELECT marketplace, balance FROM balances WHERE marketplace = 'wb'
    alert_if: "< 0"
    severity: critical
"""
INVALID = "\n  - {name: broken, kind: sql, target: shop, query: 'SELECT 1', alert_if: '<< 0'}\n"


def digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def check_config(path: Path, env: dict[str, str] | None = None) -> str:
    """What `opsbot check-config` prints for the file (its errors, on stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", str(path)],
        env={**os.environ, **(env or {}), "DATABASE_URL": "sqlite+aiosqlite:///unused.db"},
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr.strip()


# -- /reload in a running app ------------------------------------------------------------------
@pytest.fixture
async def reloadable(tmp_path: Path, emulator: BotApiEmulator) -> Any:
    shop = tmp_path / "shop.db"
    runbook = tmp_path / "cash-balance.md"
    runbook.write_text("# Cash balance\n", encoding="utf-8")
    text = config_text(make_sqlite(shop, SHOP), runbook)
    h = await start_harness(tmp_path, emulator, text, shop, config_file=tmp_path / "opsbot.yaml")
    yield h, text
    await h.app.stop()


def replies_with(h: Harness, chat: int, words: str) -> list[ChatMessage]:
    return [m for m in h.emulator.bot_messages(chat) if words in m.text]


async def test_reload_from_a_non_admin_is_refused_and_changes_nothing(reloadable: Any) -> None:
    h, text = reloadable
    (Path(h.app.settings.opsbot_config)).write_text(text + STOCK, encoding="utf-8")
    answer = await h.command(ALERT_CHATS[0], "/reload")  # alice, not an admin
    assert answer.text == "Only admins can run /reload."
    assert h.app.core.config.detector("stock_level") is None
    url = database_url(h.shop.parent / "ops.db")
    assert query(url, "SELECT detail FROM ops_alert_events WHERE event = 'refused'") == [("/reload: not an admin",)]


async def test_reload_adds_a_detector_that_alerts_and_resolves_a_removed_ones_alerts(reloadable: Any) -> None:
    h, text = reloadable
    config = Path(h.app.settings.opsbot_config)
    h.set_balance("ozon", -20000)
    await h.sweep()
    first = await h.wait_cards(ALERT_CHATS[0], 1)
    assert "cash_balance" in first[0].text and "ozon" in first[0].text

    config.write_text(text + STOCK, encoding="utf-8")
    answer = await h.command(ADMIN_CHAT, "/reload", user_id=ADMIN, username="admin")
    assert "Detectors: 1 added (stock_level), 0 removed, 0 changed" in answer.text
    assert digest(config)[:19] in answer.text
    h.set_balance("wb", -5)
    await h.sweep()  # the new detector runs with the others, and alerts
    cards = await h.wait_cards(ALERT_CHATS[0], 2)
    assert any("stock_level" in c.text for c in cards)

    without_cash = text.replace(text[text.index("  - name: cash_balance") : text.index("  - name: shop_size")], "")
    config.write_text(without_cash + STOCK, encoding="utf-8")
    answer = await h.command(ADMIN_CHAT, "/reload", user_id=ADMIN, username="admin")
    assert "1 removed (cash_balance)" in answer.text and "1 open alert(s) of removed detectors resolved" in answer.text
    for chat in ALERT_CHATS:  # every chat that had the card hears it resolved, and why
        resolved = await h.emulator.wait_for(lambda chat=chat: replies_with(h, chat, "detector removed"))
        assert len(resolved) == 1 and "cash_balance[ozon]" in resolved[0].text and "resolved" in resolved[0].text
    assert "RESOLVED" in h.emulator.messages[(ALERT_CHATS[0], first[0].message_id)].text  # its card says so too
    await h.delivered()
    health = await h.command(ALERT_CHATS[0], "/health")
    assert "cash_balance" not in health.text and "stock_level" in health.text
    stock = [c for c in h.cards(ALERT_CHATS[0]) if "stock_level" in c.text]
    assert len(stock) == 1 and "RESOLVED" not in h.emulator.messages[(ALERT_CHATS[0], stock[0].message_id)].text


async def test_an_invalid_file_changes_nothing_and_the_admin_chats_get_check_configs_errors(
    reloadable: Any,
) -> None:
    h, text = reloadable
    config = Path(h.app.settings.opsbot_config)
    before = h.app.core.current.digest
    config.write_text(text + INVALID, encoding="utf-8")
    expected = check_config(config)
    assert "alert_if" in expected

    answer = await h.command(ADMIN, "/reload", user_id=ADMIN, username="admin")  # the admin's private chat
    assert "Config not reloaded" in answer.text and expected in answer.text
    told = await h.emulator.wait_for(lambda: replies_with(h, ADMIN_CHAT, "Config not reloaded"))
    assert len(told) == 1 and expected in told[0].text  # the other admin chat, once
    assert h.app.core.config.detector("broken") is None and h.app.core.current.digest == before
    h.set_balance("wb", -50000)
    report = await h.sweep()  # the running config goes on
    assert [r.key for r in report.results if not r.ok] == ["wb"]
    await h.wait_cards(ALERT_CHATS[0], 1)


async def test_the_errors_fill_one_message_at_most(reloadable: Any) -> None:
    h, text = reloadable
    config = Path(h.app.settings.opsbot_config)
    broken = "".join(
        f"\n  - {{name: broken_{i}, kind: sql, target: nowhere_{i}, query: 'SELECT 1', alert_if: '<< 0'}}"
        for i in range(200)
    )
    config.write_text(text + broken + "\n", encoding="utf-8")
    assert len(check_config(config)) > 4096
    answer = await h.command(ADMIN, "/reload", user_id=ADMIN, username="admin")
    told = await h.emulator.wait_for(lambda: replies_with(h, ADMIN_CHAT, "Config not reloaded"))
    for message in (answer, *told):
        assert len(message.text.encode("utf-16-le")) // 2 <= 4096 and message.text.endswith("…")
    assert len(told) == 1


# -- SIGHUP to `opsbot run` --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return dict(json.loads(response.read()))
    except (OSError, urllib.error.HTTPError):
        return None


async def until(what: str, predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.1)


PROCESS_CONFIG = """
targets: {{shop: "{shop}"}}
detectors:
{detectors}
"""
CASH = (
    """  - {name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", every: 1h}\n"""
)
TICK = """  - {name: tick, kind: sql, target: shop, query: "SELECT 'tick', 1", alert_if: "< 0", every: 1s}\n"""
STOCK_EVERY_1S = (
    """  - {name: stock_level, kind: sql, target: shop, query: "SELECT 'apples', -5", alert_if: "< 0", every: 1s}\n"""
)


def write_process_config(tmp_path: Path, detectors: str) -> Path:
    shop = tmp_path / "shop.db"
    if not shop.exists():
        make_sqlite(shop, "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('mp000', -50000);")
    path = tmp_path / "opsbot.yaml"
    path.write_text(PROCESS_CONFIG.format(shop=f"sqlite+aiosqlite:///{shop}", detectors=detectors), encoding="utf-8")
    return path


def process_env(tmp_path: Path, emulator: BotApiEmulator, database: str, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in ("ALERT_CHAT_IDS", "ADMIN_CHAT_IDS", "ADMIN_USER_IDS")},
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": database,
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": "-3001",
        "ADMIN_CHAT_IDS": "-3009",
        "HTTP_PORT": str(port),
    }


def start(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = open(tmp_path / f"{name}.log", "wb")  # closed by the OS with the process
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=log, cwd=tmp_path)


def runs_of(url: str, detector: str) -> int:
    return int(query(url, f"SELECT COUNT(*) FROM ops_check_results WHERE detector = '{detector}'")[0][0])


@pytest.mark.sqlite_only
async def test_sighup_takes_a_new_detector_resolves_a_removed_one_and_survives_an_invalid_file(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    emulator.add_chat(-3001)
    emulator.add_chat(-3009)
    config = write_process_config(tmp_path, CASH + TICK)
    url = database_url(tmp_path / "ops.db")
    port = free_port()
    bot = start(tmp_path, process_env(tmp_path, emulator, url, port), "run")
    try:
        health = await until("opsbot up", lambda: healthz(port))
        assert health["config"] == digest(config)
        await emulator.wait_for(lambda: [m for m in emulator.bot_messages(-3001) if "cash_balance" in m.text], 30)

        config = write_process_config(tmp_path, TICK + STOCK_EVERY_1S)
        bot.send_signal(signal.SIGHUP)
        await emulator.wait_for(
            lambda: [m for m in emulator.bot_messages(-3001) if "detector removed" in m.text], timeout=30
        )
        card = await emulator.wait_for(  # the leader's scheduler runs the new detector: it alerts
            lambda: [m for m in emulator.bot_messages(-3001) if "stock_level" in m.text and m.buttons], timeout=30
        )
        assert "apples" in card[0].text
        health = await until("the new hash", lambda: (h := healthz(port)) and h["config"] == digest(config) and h)
        assert health["detectors"] == 2 and health["scheduler"] == "running"

        good = digest(config)
        config.write_text(config.read_text(encoding="utf-8") + INVALID, encoding="utf-8")
        expected = check_config(config, {"OPSBOT_CONFIG": str(config)})
        bot.send_signal(signal.SIGHUP)
        told = await emulator.wait_for(
            lambda: [m for m in emulator.bot_messages(-3009) if "Config not reloaded" in m.text], timeout=30
        )
        assert expected in told[0].text
        ran = await asyncio.to_thread(runs_of, url, "stock_level")
        await until("stock_level still runs", lambda: runs_of(url, "stock_level") > ran)
        health = healthz(port)
        assert health is not None and health["config"] == good and health["status"] == "ok"
        assert bot.poll() is None
    finally:
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=20) == 0
    log = (tmp_path / "run.log").read_text()
    assert "config reloaded from" in log and "has errors; the running config stays" in log
    assert "Traceback" not in log and TOKEN not in log
    assert len([m for m in emulator.bot_messages(-3001) if "detector removed" in m.text]) == 1
    assert len([m for m in emulator.bot_messages(-3009) if "Config not reloaded" in m.text]) == 1


@pytest.mark.no_ops_db
async def test_every_replica_takes_a_reload_made_on_one(
    tmp_path: Path, emulator: BotApiEmulator, pg_database: str
) -> None:
    emulator.add_chat(-3001)
    emulator.add_chat(-3009)
    config = write_process_config(tmp_path, CASH + TICK)
    ports = [free_port(), free_port()]
    group = [
        start(tmp_path, process_env(tmp_path, emulator, pg_database, p), f"replica{i}") for i, p in enumerate(ports)
    ]
    try:
        for port in ports:
            await until("replica up", lambda port=port: healthz(port), timeout=60)
        await emulator.wait_for(lambda: [m for m in emulator.bot_messages(-3001) if "cash_balance" in m.text], 30)
        follower = next(i for i, p in enumerate(ports) if not (healthz(p) or {}).get("leader"))

        config = write_process_config(tmp_path, TICK + STOCK_EVERY_1S)
        group[follower].send_signal(signal.SIGHUP)  # on the replica that does not schedule
        for port in ports:
            await until(
                "every replica reloaded", lambda port=port: (healthz(port) or {}).get("config") == digest(config)
            )
        await emulator.wait_for(  # the leader re-planned: the new detector runs there and alerts
            lambda: [m for m in emulator.bot_messages(-3001) if "stock_level" in m.text and m.buttons], timeout=30
        )
        await emulator.wait_for(lambda: [m for m in emulator.bot_messages(-3001) if "detector removed" in m.text], 30)
        for port in ports:
            health = healthz(port)
            assert health is not None and health["detectors"] == 2 and health["status"] == "ok"
    finally:
        for proc in group:
            proc.send_signal(signal.SIGTERM)
        for proc in group:
            assert proc.wait(timeout=20) == 0
    logs = [(tmp_path / f"replica{i}.log").read_text() for i in range(2)]
    assert all("config reloaded from" in log for log in logs) and all("Traceback" not in log for log in logs)
    assert any("reloaded the config" in log for log in logs)  # the other one followed
    assert len([m for m in emulator.bot_messages(-3001) if "detector removed" in m.text]) == 1
    assert len([m for m in emulator.bot_messages(-3001) if "stock_level" in m.text and m.buttons]) == 1
