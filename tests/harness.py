"""Constants and the Harness for end-to-end tests through the emulator."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import OpsBotApp
from bot.emulator import BotApiEmulator, ChatMessage
from helpers import make_settings, sql
from ops.config import parse_config
from ops.timeutil import Clock, utcnow

CARD = re.compile(r"· alert \d+ (· incident #\d+ )?· since")
TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"
ALERT_CHATS = (-1001, -1002)
ADMIN_CHAT = -1009
ADMIN = 42
STRANGER_CHAT = -1500

SHOP = """
CREATE TABLE balances (marketplace TEXT, balance REAL);
INSERT INTO balances VALUES ('wb', 500), ('ozon', 700);
"""


def config_text(shop_url: str, runbook: Path) -> str:
    return f"""
targets:
  shop: "{shop_url}"
detectors:
  - name: cash_balance
    kind: sql
    target: shop
    query: SELECT marketplace, balance FROM balances ORDER BY marketplace
    alert_if: "< -10000"
    severity: critical
    runbook: {runbook}
    labels: {{team: finance}}
  - name: shop_size
    kind: db_size
    target: shop
    alert_if: "> 5GB"
"""


@dataclass
class Harness:
    emulator: BotApiEmulator
    app: OpsBotApp
    shop: Path

    def set_balance(self, marketplace: str, balance: float) -> None:
        sql(self.shop, "UPDATE balances SET balance = ? WHERE marketplace = ?", (balance, marketplace))

    async def sweep(self) -> Any:
        return await self.app.core.sweeper.sweep()

    def cards(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in self.emulator.bot_messages(chat_id) if "#" in m.text and m.reply_to is None and m.buttons]

    async def wait_cards(self, chat_id: int, n: int, timeout: float = 10) -> list[ChatMessage]:
        await self.emulator.wait_for(lambda: len(self.cards(chat_id)) >= n, timeout)
        return self.cards(chat_id)

    async def command(
        self, chat_id: int, text: str, user_id: int = 1001, username: str | None = "alice"
    ) -> ChatMessage:
        """Send a command and return the bot's first answer to it (alert cards, their replies and a forum's
        board skipped)."""
        before = {m.message_id for m in self.emulator.bot_messages(chat_id)}
        self.emulator.send_text(chat_id, text, user_id=user_id, username=username)

        def answers() -> list[ChatMessage]:
            return [
                m
                for m in self.emulator.bot_messages(chat_id)
                if m.message_id not in before
                and m.reply_to is None
                and not CARD.search(m.text)
                and not m.text.startswith("📋 Open incidents")  # a forum's board, posted when it likes
            ]

        await self.emulator.wait_for(answers)
        return answers()[0]

    async def delivered(self, timeout: float = 20) -> None:
        """Wait until the outbox is empty: every row sent or failed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.app.core.outbox.depth():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("outbox not drained")
            await asyncio.sleep(0.05)

    async def press(self, msg: ChatMessage, label: str, user_id: int = 1001, username: str | None = "alice") -> dict:
        query_id = self.emulator.press_button(msg, label, user_id=user_id, username=username)
        await self.emulator.wait_for(lambda: query_id in self.emulator.callback_answers)
        return self.emulator.callback_answers[query_id]


async def start_harness(
    tmp_path: Path,
    emulator: BotApiEmulator,
    config_yaml: str,
    shop: Path,
    clock: Clock = utcnow,
    config_file: Path | None = None,
    **overrides: object,
) -> Harness:
    """A started opsbot (no scheduler: tests sweep when they mean to) with fast retries. `config_file`: the
    config is written there and a reload reads it again (without one, a reload re-reads only settings)."""
    values: dict[str, object] = {
        "bot_token": TOKEN,
        "telegram_api_url": emulator.url,
        "alert_chat_ids": list(ALERT_CHATS),
        "admin_chat_ids": [ADMIN_CHAT],
        "admin_user_ids": [ADMIN],
        "http_port": 0,
    }
    if config_file is not None:
        config_file.write_text(config_yaml, encoding="utf-8")
        values["opsbot_config"] = str(config_file)
    settings = make_settings(tmp_path / "ops.db", **{**values, **overrides})
    app = OpsBotApp(
        settings,
        parse_config(config_yaml),
        clock=clock,
        schedule=False,
        polling_timeout=1,
        config_path=str(config_file) if config_file is not None else None,
        settings_source=lambda: settings,  # a reload re-reads these, not the test process's environment
    )
    await app.start()
    assert app.sender is not None
    app.sender.backoff_base = 0.05
    app.core.remediation.backoff_base = 0.05
    return Harness(emulator, app, shop)
