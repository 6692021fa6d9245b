"""SIGKILL `opsbot run` in the middle of a 500-alert storm, start it again: every alert arrives (alone or
in a digest), and only the one message in flight at the kill may arrive twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from harness import TOKEN

from bot.emulator import BotApiEmulator
from helpers import database_url, write_storm_config

CHATS = [-2001, -2002, -2003, -2004]
KEYS = 500
KEY = re.compile(r"\bmp\d{3}\b")


def start_bot(
    tmp_path: Path, emulator: BotApiEmulator, log_name: str, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": database_url(tmp_path / "ops.db"),
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": ",".join(map(str, CHATS)),
        "HTTP_PORT": "0",
        **(extra or {}),
    }
    log = open(tmp_path / log_name, "wb")  # closed by the OS with the process
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=log, cwd=tmp_path)


async def test_sigkill_mid_delivery_then_restart_delivers_everything_once(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    for chat in CHATS:
        emulator.add_chat(chat)
    write_storm_config(tmp_path, KEYS)

    def accepted() -> list[tuple[int, str]]:
        return [(int(c.params["chat_id"]), str(c.params["text"])) for c in emulator.calls_to("sendMessage", ok=True)]

    def covered() -> set[tuple[int, str]]:
        return {(chat, key) for chat, text in accepted() for key in KEY.findall(text)}

    first = start_bot(tmp_path, emulator, "first.log")
    try:
        await emulator.wait_for(lambda: len(accepted()) >= 6, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert len(covered()) < len(CHATS) * KEYS, "the kill came too late to test anything"

    second = start_bot(tmp_path, emulator, "second.log")
    try:
        await emulator.wait_for(lambda: len(covered()) == len(CHATS) * KEYS, timeout=60)
        await asyncio.sleep(1.5)  # anything extra would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
    messages = Counter(accepted())
    assert sum(n - 1 for n in messages.values()) <= 1, "more than the one message in flight repeated"
    assert len(messages) <= len(CHATS) * -(-KEYS // 30) + 1  # a storm goes as digests, not 2,000 cards
    for chat in CHATS:  # every alert once per chat, but for the one repeated message
        keys = Counter(key for (c, text), n in messages.items() if c == chat for key in KEY.findall(text))
        assert set(keys) == {f"mp{i:03d}" for i in range(KEYS)}
    log = (tmp_path / "second.log").read_text()
    assert TOKEN not in log and TOKEN not in (tmp_path / "first.log").read_text()
