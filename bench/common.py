"""Shared pieces of the benchmarks: percentiles, a work directory, an opsbot wired to an emulator."""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bot.app import OpsBotApp
from bot.emulator import BotApiEmulator
from ops.config import parse_config
from ops.settings import Settings

TOKEN = "123456:BENCH-token-abcdefghijklmnopqrstu"
# The hourly rollup the engine keeps as it writes results, for history a benchmark writes by hand.
ROLLUP = (
    "INSERT INTO ops_check_hourly (detector, hour, total, good) SELECT detector, "
    "strftime('%Y-%m-%d %H:00:00.000000', ts), COUNT(*), SUM(ok) FROM ops_check_results "
    "GROUP BY detector, strftime('%Y-%m-%d %H:00:00.000000', ts)"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"opsbot-bench-{name}-"))


def make_table(path: Path, rows: Iterable[tuple[str, float]]) -> str:
    """A SQLite target with table t(k, v): what the sql detectors of a benchmark read."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v REAL)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", list(rows))
    conn.commit()
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


def settings_for(work: Path, emulator: BotApiEmulator | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "_env_file": None,
        "bot_token": TOKEN if emulator is not None else "",
        "telegram_api_url": emulator.url if emulator is not None else "https://api.telegram.org",
        "database_url": f"sqlite+aiosqlite:///{work / 'ops.db'}",
        "http_port": 0,
        "alert_dedup_window_sec": 300,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def start_opsbot(work: Path, emulator: BotApiEmulator | None, config: str, **overrides: object) -> OpsBotApp:
    app = OpsBotApp(settings_for(work, emulator, **overrides), parse_config(config, env={}), schedule=False)
    await app.start()
    return app


def visible(ids_by_chat: dict[int, set[str]], emulator: BotApiEmulator) -> dict[int, set[str]]:
    """Per chat, the ids that appear in a message Telegram accepted there (a truncated one shows fewer)."""
    seen: dict[int, set[str]] = {chat: set() for chat in ids_by_chat}
    pattern = re.compile(r"[a-z0-9_]+")
    for call in emulator.calls:
        if call.method != "sendMessage" or call.status != 200:
            continue
        chat = int(call.params["chat_id"])
        if chat in seen:
            words = set(pattern.findall(str(call.params.get("text", ""))))
            seen[chat] |= ids_by_chat[chat] & words
    return seen
