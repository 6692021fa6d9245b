"""SIGKILL `opsbot run` in the middle of delivery, start it again: every alert arrives, and only the
one message in flight at the kill may arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from harness import TOKEN

from bot.emulator import BotApiEmulator
from helpers import make_sqlite

CHATS = [-2001, -2002, -2003, -2004, -2005, -2006, -2007, -2008]
KEYS = 5


def start_bot(tmp_path: Path, emulator: BotApiEmulator, log_name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}",
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": ",".join(map(str, CHATS)),
        "HTTP_PORT": "0",
    }
    log = open(tmp_path / log_name, "wb")  # closed by the OS with the process
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=log, cwd=tmp_path)


async def test_sigkill_mid_delivery_then_restart_delivers_everything_once(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    for chat in CHATS:
        emulator.add_chat(chat)
    values = ", ".join(f"('mp{i}', -50000)" for i in range(KEYS))
    shop = make_sqlite(tmp_path / "shop.db", f"CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES {values};")
    (tmp_path / "opsbot.yaml").write_text(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: critical, every: 1h}}
""",
        encoding="utf-8",
    )

    def accepted() -> list[tuple[int, str]]:
        return [
            (int(c.params["chat_id"]), str(c.params["text"]).split("\n")[1])
            for c in emulator.calls_to("sendMessage", ok=True)
        ]

    first = start_bot(tmp_path, emulator, "first.log")
    try:
        await emulator.wait_for(lambda: len(accepted()) >= 12, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = len(accepted())
    assert at_kill < len(CHATS) * KEYS, "the kill came too late to test anything"

    second = start_bot(tmp_path, emulator, "second.log")
    try:
        await emulator.wait_for(lambda: len(set(accepted())) == len(CHATS) * KEYS, timeout=40)
        await asyncio.sleep(1.5)  # anything extra would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
    counts = Counter(accepted())
    assert len(counts) == len(CHATS) * KEYS
    repeated = {k: n for k, n in counts.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) <= 1, repeated
    log = (tmp_path / "second.log").read_text()
    assert TOKEN not in log and TOKEN not in (tmp_path / "first.log").read_text()
