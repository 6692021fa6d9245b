"""A running opsbot (real aiogram over real HTTP) against the project's Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, SHOP, STRANGER_CHAT, Harness, config_text, start_harness

from bot.emulator import BotApiEmulator
from helpers import make_sqlite


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
    h = await start_harness(tmp_path, emulator, config_text(shop_url, runbook), shop)
    yield h
    await h.app.stop()
