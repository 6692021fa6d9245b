"""Onboarding keeps every alert: one that fires while no chat is configured is kept, and each still-firing
alert reaches a chat configured later (a restart, a reload, SIGHUP) exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness import SHOP, TOKEN, Harness, config_text, start_harness

from bot.emulator import BotApiEmulator
from helpers import database_url, make_settings, make_sqlite, query, write_storm_config

KEPT = "no ALERT_CHAT_IDS: alerts are kept and sent when a chat is configured"


def _config(tmp_path: Path) -> tuple[str, Path]:
    shop = tmp_path / "shop.db"
    if not shop.exists():
        make_sqlite(shop, SHOP)
    runbook = tmp_path / "cash-balance.md"
    runbook.write_text("# Cash balance\n", encoding="utf-8")
    return config_text(f"sqlite+aiosqlite:///{shop}", runbook), shop


async def _start(tmp_path: Path, emulator: BotApiEmulator, chats: list[int]) -> Harness:
    config, shop = _config(tmp_path)
    return await start_harness(tmp_path, emulator, config, shop, alert_chat_ids=chats)


async def _fire_unrouted(tmp_path: Path, emulator: BotApiEmulator) -> None:
    """Start with no alert chat, make cash_balance[wb] fire, stop: nothing may have been sent."""
    h = await _start(tmp_path, emulator, [])
    try:
        h.set_balance("wb", -50000)
        report = await h.sweep()
        assert [r.key for r in report.results if not r.ok] == ["wb"]
        await h.delivered()
        assert emulator.calls_to("sendMessage") == []
    finally:
        await h.app.stop()


async def test_alert_fired_without_a_chat_arrives_once_after_a_restart_with_one(
    tmp_path: Path, emulator: BotApiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        await _fire_unrouted(tmp_path, emulator)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.app" and r.levelno == logging.WARNING] == [KEPT]

    h = await _start(tmp_path, emulator, [-1001])
    try:
        cards = await h.wait_cards(-1001, 1)
        assert "cash_balance" in cards[0].text and "wb" in cards[0].text
        await h.delivered()
    finally:
        await h.app.stop()

    h = await _start(tmp_path, emulator, [-1001])  # and again: the card is not sent a second time
    try:
        assert await h.app.core.outbox.depth() == 0  # the catch-up ran inside start() and queued nothing
        await h.delivered()
        assert len(h.cards(-1001)) == 1
        assert emulator.bot_messages(-1002) == []
    finally:
        await h.app.stop()
    url = database_url(tmp_path / "ops.db")
    assert query(url, "SELECT event FROM ops_alert_events WHERE event = 'caught_up'") == [("caught_up",)]


async def test_a_chat_added_later_catches_up_and_one_that_has_the_card_gets_none(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    h = await _start(tmp_path, emulator, [-1001])
    try:
        h.set_balance("wb", -50000)
        await h.sweep()
        await h.wait_cards(-1001, 1)
        await h.delivered()
    finally:
        await h.app.stop()

    h = await _start(tmp_path, emulator, [-1001, -1002])
    try:
        card = (await h.wait_cards(-1002, 1))[0]
        await h.delivered()
        assert len(h.cards(-1001)) == 1 and len(h.cards(-1002)) == 1
        h.set_balance("wb", 500)  # the caught-up card is the alert's card there: it resolves like any
        await h.sweep()
        await h.delivered()
        assert "RESOLVED" in emulator.messages[(-1002, card.message_id)].text
    finally:
        await h.app.stop()


async def test_reload_applies_a_new_alert_chat_and_sends_the_still_firing_alert(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    h = await _start(tmp_path, emulator, [])
    try:
        h.set_balance("ozon", -20000)
        await h.sweep()
        await h.delivered()
        assert emulator.calls_to("sendMessage") == []
        fresh = make_settings(
            tmp_path / "ops.db", bot_token=TOKEN, telegram_api_url=emulator.url, http_port=0, alert_chat_ids=[-1002]
        )
        await h.app.reload(fresh)
        cards = await h.wait_cards(-1002, 1)
        assert "ozon" in cards[0].text
        answer = await h.command(-1002, "/alerts")  # the chat is a configured one now
        assert "cash_balance" in answer.text
        await h.app.reload(fresh)  # the same settings again: nothing new
        assert await h.app.core.outbox.depth() == 0
        await h.delivered()
        assert len(h.cards(-1002)) == 1
    finally:
        await h.app.stop()


async def test_a_chat_whose_delivery_failed_gets_the_card_at_the_next_start(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    """ALERT_CHAT_IDS named a group the bot was not in yet: Telegram refused the card. Once the bot is
    added and opsbot restarts (or reloads), the still-firing alert is sent there."""
    h = await _start(tmp_path, emulator, [-1003])
    try:
        h.set_balance("wb", -50000)
        await h.sweep()
        await h.delivered()
        assert emulator.calls_to("sendMessage", ok=True) == []
        assert emulator.calls_to("sendMessage", ok=False)
    finally:
        await h.app.stop()
    emulator.add_chat(-1003)
    h = await _start(tmp_path, emulator, [-1003])
    try:
        await h.wait_cards(-1003, 1)
        await h.delivered()
        assert len(h.cards(-1003)) == 1
    finally:
        await h.app.stop()


def _start_process(tmp_path: Path, emulator: BotApiEmulator) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("ALERT_CHAT_IDS", "ADMIN_CHAT_IDS", "ADMIN_USER_IDS")}
    env.update(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.url,
            "DATABASE_URL": database_url(tmp_path / "ops.db"),
            "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
            "HTTP_PORT": "0",
        }
    )
    log = open(tmp_path / "run.log", "wb")  # closed by the OS with the process
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=log, cwd=tmp_path)


async def test_sighup_rereads_the_env_file_and_sends_the_still_firing_alert(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    emulator.add_chat(-3001)
    write_storm_config(tmp_path, keys=1)
    (tmp_path / ".env").write_text("# no alert chat yet\nALERT_CHAT_IDS=\n", encoding="utf-8")
    url = database_url(tmp_path / "ops.db")

    def fired() -> bool:
        try:
            return query(url, "SELECT COUNT(*) FROM ops_alerts_history WHERE status = 'firing'") == [(1,)]
        except Exception:  # not migrated yet
            return False

    bot = _start_process(tmp_path, emulator)
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not await asyncio.to_thread(fired):
            assert bot.poll() is None, (tmp_path / "run.log").read_text()
            assert asyncio.get_running_loop().time() < deadline, "the detector never fired"
            await asyncio.sleep(0.2)
        assert KEPT in (tmp_path / "run.log").read_text()
        assert emulator.calls_to("sendMessage") == []

        (tmp_path / ".env").write_text("ALERT_CHAT_IDS=-3001\n", encoding="utf-8")
        bot.send_signal(signal.SIGHUP)
        await emulator.wait_for(lambda: emulator.bot_messages(-3001), timeout=20)
        card = emulator.bot_messages(-3001)[0]
        assert "cash_balance" in card.text and "mp000" in card.text
    finally:
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=15) == 0
    log = (tmp_path / "run.log").read_text()
    assert "settings re-read: ALERT_CHAT_IDS" in log
    assert "Traceback" not in log and TOKEN not in log
    assert len(emulator.bot_messages(-3001)) == 1
