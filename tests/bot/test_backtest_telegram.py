"""/backtest through the emulator: admins only; a replay answers with its chart and summary, runs as a task
of its own (a second /backtest meanwhile is told so, other commands are answered), and sends nothing else."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, SHOP, Harness, start_harness

from bench.backtest import SERIES_KIND, LevelSeries, define_series_kind
from bot.emulator import BotApiEmulator
from helpers import FakeClock, make_sqlite, sql
from ops.config import DetectorBase, detector_kinds
from ops.detectors import Check
from ops.detectors.base import result
from ops.model import CheckResult, CheckStatus

NOW = datetime(2026, 11, 23, 12, 0)
GATE = "gated_series"


class Gate:
    """Holds a replay's reading of its range until the test opens it: a replay under way, for sure."""

    opened: asyncio.Event | None = None


@pytest.fixture
def kinds() -> Iterator[None]:
    define_series_kind()

    class GatedDetector(DetectorBase):
        kind: Literal["gated_series"] = "gated_series"

    class GatedCheck(Check[GatedDetector]):
        def history(self) -> timedelta:
            return timedelta(hours=1)

        async def fetch_range(self, since: datetime, until: datetime) -> dict[str, Any]:
            assert Gate.opened is not None
            await Gate.opened.wait()
            return {}

        def evaluate(self, series: dict[str, LevelSeries], until: datetime) -> list[CheckResult]:
            return [result(self.config, "", CheckStatus.ok, "fine")]

        async def check(self) -> list[CheckResult]:
            return [result(self.config, "", CheckStatus.ok, "fine")]

    yield
    detector_kinds.unregister(SERIES_KIND)
    detector_kinds.unregister(GATE)


@pytest.fixture
async def bt(tmp_path: Path, emulator: BotApiEmulator, kinds: None) -> AsyncIterator[Harness]:
    shop = tmp_path / "shop.db"
    url = make_sqlite(shop, SHOP + "CREATE TABLE demand (ts TEXT, value REAL);")
    at, rows = NOW - timedelta(days=8), []
    while at <= NOW:  # hourly orders, 1000 an hour but for a six-hour stall five days ago
        low = NOW - timedelta(days=5) <= at < NOW - timedelta(days=5, hours=-6)
        rows.append((at.strftime("%Y-%m-%d %H:%M:%S"), 50.0 if low else 1000.0 + at.hour))
        at += timedelta(hours=1)
    for row in rows:
        sql(shop, "INSERT INTO demand VALUES (?, ?)", row)
    config = f"""
targets:
  shop: "{url}"
detectors:
  - name: cash_balance
    kind: sql
    target: shop
    query: SELECT marketplace, balance FROM balances ORDER BY marketplace
    alert_if: "< -10000"
  - name: demand
    kind: series_level
    target: shop
    query: SELECT ts, value FROM demand WHERE ts > :since AND ts <= :until ORDER BY ts
    every: 1h
    history: 1d
    alert_if: "< 300"
  - {{name: slow, kind: gated_series, every: 1h}}
"""
    Gate.opened = asyncio.Event()
    h = await start_harness(tmp_path, emulator, config, shop, clock=FakeClock(NOW))
    h.emulator.keep_files = True
    yield h
    Gate.opened.set()
    await h.app.stop()


def photos(h: Harness, chat: int) -> list[Any]:
    return [m for m in h.emulator.bot_messages(chat) if m.kind == "photo"]


async def test_an_admin_gets_the_chart_the_summary_and_the_episodes(bt: Harness) -> None:
    first = await bt.command(ADMIN_CHAT, "/backtest demand 7d", user_id=ADMIN)
    assert first.text == "🧪 Replaying demand over the last 7d… the chart comes when it is done."
    await bt.emulator.wait_for(lambda: len(photos(bt, ADMIN_CHAT)) == 1, 30)
    photo = photos(bt, ADMIN_CHAT)[0]
    assert photo.text.splitlines() == [
        "🧪 Backtest · demand (series_level)",
        "2026-11-16 12:00 → 2026-11-23 12:00 UTC, every 1h: 169 runs",
        "🔴 1 episode, firing 6h (3.6% of the time), 1 page, 1.0 pages/week",
        "Replayed through the alert rules (for, dedup, flapping); nothing was sent.",
    ]
    assert photo.content is not None and photo.content.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    width, height = Image.open(io.BytesIO(photo.content)).size
    assert width >= 900 and height >= 300
    await bt.emulator.wait_for(lambda: "Episodes" in bt.emulator.bot_messages(ADMIN_CHAT)[-1].text, 10)
    episodes = bt.emulator.bot_messages(ADMIN_CHAT)[-1].text.splitlines()
    assert episodes == [
        "Episodes (fired → resolved, UTC)",
        "• 11-18 12:00 → 11-18 18:00 (6h) · peak 50",
        "  demand = 50 (alert if < 300)",
    ]
    await bt.delivered()
    for chat in ALERT_CHATS:  # the replay fired, and nobody was told: its database is not the bot's
        assert bt.emulator.bot_messages(chat) == []


async def test_only_admins_and_mistakes_are_one_line(bt: Harness) -> None:
    refused = await bt.command(ALERT_CHATS[0], "/backtest demand")
    assert refused.text == "Only admins can run /backtest."
    said = {
        "/backtest": "Usage: /backtest <detector> [window]",
        "/backtest demand forever": "Usage: /backtest <detector> [window]",
        "/backtest demand 181d": "Usage: /backtest <detector> [window]",
        "/backtest deman": "⚠️ no detector 'deman'; did you mean 'demand'?",
        "/backtest cash_balance": "⚠️ cash_balance: its query does not use :until, so it cannot be asked about",
    }
    for command, start in said.items():
        answer = await bt.command(ADMIN_CHAT, command, user_id=ADMIN)
        assert answer.text.startswith(start), (command, answer.text)
        assert len(answer.text.splitlines()) == 1
    assert photos(bt, ADMIN_CHAT) == []


async def test_a_second_backtest_while_one_runs_is_told_and_the_bot_goes_on(bt: Harness) -> None:
    assert Gate.opened is not None
    first = await bt.command(ADMIN_CHAT, "/backtest slow 1d", user_id=ADMIN)
    assert first.text.startswith("🧪 Replaying slow over the last 1d")
    second = await bt.command(ADMIN_CHAT, "/backtest demand 7d", user_id=ADMIN)
    assert second.text == "A backtest is already running; send /backtest again once it has answered."
    helped = await bt.command(ADMIN_CHAT, "/help", user_id=ADMIN)  # the event loop is not held by the replay
    assert "/backtest" in helped.text
    assert photos(bt, ADMIN_CHAT) == []
    Gate.opened.set()
    await bt.emulator.wait_for(lambda: len(photos(bt, ADMIN_CHAT)) == 1, 30)
    assert "✅ nothing fired" in photos(bt, ADMIN_CHAT)[0].text
    again = await bt.command(ADMIN_CHAT, "/backtest demand 1d", user_id=ADMIN)
    assert again.text.startswith("🧪 Replaying demand")
