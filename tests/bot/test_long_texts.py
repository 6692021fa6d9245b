"""Nothing accepted may be undeliverable: texts Telegram would refuse as too long (counted in UTF-16 units
after parsing, as the emulator counts like Telegram) are built to fit, and a "message is too long" that
still comes back is answered by rendering shorter, never by dropping the notification. A runbook with an
empty code fence renders no empty entity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from harness import ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from bot.emulator.html_check import utf16_len
from helpers import make_sqlite
from ops.storage.tables import outbox

TOKEN = "am-secret-token"


@pytest.fixture
async def bridge(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    path = tmp_path / "shop.db"
    url = make_sqlite(path, "CREATE TABLE t (v INT); INSERT INTO t VALUES (1);")
    empty = tmp_path / "empty.md"
    empty.write_text("```\n```\n", encoding="utf-8")
    fenced = tmp_path / "fenced.md"
    fenced.write_text("# Fix the feed\n```sh\n```\nthen retry the import\n", encoding="utf-8")
    config = f"""
targets: {{shop: "{url}"}}
detectors:
  - {{name: feed, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "< 0", runbook: {fenced}}}
  - {{name: lane, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "< 0", runbook: {empty}}}
"""
    h = await start_harness(tmp_path, emulator, config, path, alertmanager_webhook_token=TOKEN)
    yield h
    await h.app.stop()


async def post_alerts(h: Harness, alerts: list[dict]) -> None:
    payload = {"version": "4", "status": "firing", "receiver": "opsbot", "alerts": alerts}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{h.app.http_port}/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


def am_alert(fingerprint: str, summary: str, **labels: str) -> dict:
    return {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "severity": "critical", **labels},
        "annotations": {"summary": summary},
        "fingerprint": fingerprint,
    }


async def failed_rows(h: Harness) -> list[str]:
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(select(outbox.c.last_error).where(outbox.c.status == "failed"))
        return [r.last_error for r in rows]


async def test_an_alertmanager_summary_of_2400_fire_emoji_is_delivered_whole(bridge: Harness) -> None:
    h = bridge
    await post_alerts(h, [am_alert("9f1c2a7b0c1d2e3f", "🔥" * 2400)])
    await h.delivered()
    assert await failed_rows(h) == []
    for chat in ALERT_CHATS:
        [card] = h.cards(chat)
        replies = [m for m in h.emulator.bot_messages(chat) if m.reply_to == card.message_id]
        assert utf16_len(card.text) <= 4096
        assert card.text.count("🔥") + sum(m.text.count("🔥") for m in replies) == 2400


async def test_a_storm_of_emoji_keys_goes_out_as_digests(tmp_path: Path, emulator: BotApiEmulator) -> None:
    path = tmp_path / "storm.db"
    keys = [f"{n:02d}" + "🔥" * 150 for n in range(30)]  # 150 characters: as long as a key is stored
    rows = ", ".join(f"('{k}', -5)" for k in keys)
    url = make_sqlite(path, f"CREATE TABLE s (k TEXT, v REAL); INSERT INTO s VALUES {rows};")
    config = f"""
targets: {{shop: "{url}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM s", alert_if: "< 0", severity: critical}}
"""
    h = await start_harness(tmp_path, emulator, config, path, group_wait_sec=1)
    try:
        await h.sweep()
        await h.delivered()
        assert await failed_rows(h) == []
        for chat in ALERT_CHATS:
            [digest] = h.emulator.bot_messages(chat)
            assert "30 alerts at once" in digest.text and digest.text.count("#") == 31  # 30 lines + /ack #…
    finally:
        await h.app.stop()


async def test_message_is_too_long_is_answered_by_rendering_shorter(bridge: Harness) -> None:
    """Were Telegram to count a little differently from us, its 400 "message is too long" makes the sender
    render the notification again, shorter — the card, its continuation, its edits — and never drop it."""
    h = bridge
    h.emulator.text_limit = 2500
    # 3,801 characters: under the 4,000 an incident keeps of a message, over the lowered limit
    await post_alerts(h, [am_alert("0a0b0c0d0e0f0102", "ж" * 1900 + "\n" + "щ" * 1900)])
    await h.delivered(timeout=60)  # one message per second per chat: the refused tries count too
    assert await failed_rows(h) == []
    chat = ALERT_CHATS[0]
    [card] = h.cards(chat)
    replies = [m for m in h.emulator.bot_messages(chat) if m.reply_to == card.message_id]
    assert sum(m.text.count("ж") for m in [card, *replies]) == 1900  # all of the message, none twice
    assert sum(m.text.count("щ") for m in [card, *replies]) == 1900
    assert all(utf16_len(m.text) <= 2500 for m in [card, *replies])
    answer = await h.press(card, "Ack")  # the card is edited: rendered for the smaller limit again
    assert answer["text"] == "Acknowledged"
    await h.delivered(timeout=60)
    assert "Acknowledged by" in h.emulator.messages[(chat, card.message_id)].text
    assert await failed_rows(h) == []


async def test_a_runbook_with_an_empty_code_fence_is_sent(bridge: Harness) -> None:
    h = bridge
    chat = ALERT_CHATS[0]
    answer = await h.command(chat, "/runbook feed")
    assert "Fix the feed" in answer.text and "then retry the import" in answer.text
    assert answer.html is not None and "<pre></pre>" not in answer.html
    empty = await h.command(chat, "/runbook lane")
    assert empty.text == "lane's runbook is empty."
