"""A running opsbot (real aiogram over real HTTP) against the project's Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, SHOP, STRANGER_CHAT, TOKEN, Harness, config_text

from bot.app import OpsBotApp
from bot.emulator import BotApiEmulator
from helpers import make_settings, make_sqlite
from ops.config import parse_config


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator()
    await emu.start()
    for chat in (*ALERT_CHATS, ADMIN_CHAT, STRANGER_CHAT):
        emu.add_chat(chat)
    emu.add_chat(ADMIN, "private")
    emu.add_chat(1001, "private")
    yield emu
    await emu.stop()


@pytest.fixture
async def harness(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    shop = tmp_path / "shop.db"
    shop_url = make_sqlite(shop, SHOP)
    runbook = tmp_path / "cash-balance.md"
    runbook.write_text("# Cash balance\n\n## Diagnosis\n```sql\nSELECT * FROM balances;\n```\n", encoding="utf-8")
    settings = make_settings(
        tmp_path / "ops.db",
        bot_token=TOKEN,
        telegram_api_url=emulator.url,
        alert_chat_ids=list(ALERT_CHATS),
        admin_chat_ids=[ADMIN_CHAT],
        admin_user_ids=[ADMIN],
        http_port=0,
    )
    app = OpsBotApp(settings, parse_config(config_text(shop_url, runbook)), schedule=False, polling_timeout=1)
    await app.start()
    assert app.sender is not None
    app.sender.backoff_base = 0.05
    yield Harness(emulator, app, shop)
    await app.stop()
