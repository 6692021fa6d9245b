"""Alert storms through the emulator: one digest per chat, Ack all, paged Details, each alert still
ackable alone; and an outage of the Bot API (5xx or hanging, 10 minutes on a controllable clock)
after which every notification arrives, in order per chat, none twice."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ALERT_CHATS, STRANGER_CHAT, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import FakeClock, make_sqlite, sql
from ops.storage.tables import alerts_history

CRITICAL_KEYS = [f"c{i:02d}" for i in range(8)]
ERROR_KEYS = [f"l{i:02d}" for i in range(4)]
STORM_CONFIG = """
targets: {{shop: "{url}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM storm WHERE k LIKE 'c%'",
      alert_if: "< 0", severity: critical}}
  - {{name: queue_lag, kind: sql, target: shop, query: "SELECT k, v FROM storm WHERE k LIKE 'l%'",
      alert_if: "< 0", severity: error}}
"""


def make_shop(tmp_path: Path, failing: list[str]) -> tuple[Path, str]:
    path = tmp_path / "storm.db"
    rows = ", ".join(f"('{k}', {-5 if k in failing else 5})" for k in CRITICAL_KEYS + ERROR_KEYS)
    return path, make_sqlite(path, f"CREATE TABLE storm (k TEXT, v REAL); INSERT INTO storm VALUES {rows};")


def set_value(path: Path, key: str, value: float) -> None:
    sql(path, "UPDATE storm SET v = ? WHERE k = ?", (value, key))


async def incidents(h: Harness) -> dict[str, tuple[int, str, str]]:
    """key → (incident id, short fingerprint, status)"""
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(select(alerts_history).order_by(alerts_history.c.id))
        return {r.key: (r.id, r.fingerprint[:8], r.status) for r in rows}


@pytest.fixture
async def storm(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    path, url = make_shop(tmp_path, CRITICAL_KEYS + ERROR_KEYS)
    h = await start_harness(tmp_path, emulator, STORM_CONFIG.format(url=url), path, group_wait_sec=1)
    yield h
    await h.app.stop()


async def test_a_storm_is_one_digest_per_chat_with_every_alert_in_it(storm: Harness) -> None:
    h = storm
    await h.sweep()
    await h.delivered()
    known = await incidents(h)
    assert len(known) == 12
    for chat in ALERT_CHATS:
        [digest] = h.emulator.bot_messages(chat)
        assert "12 alerts at once" in digest.text
        assert "🔴 8 critical" in digest.text and "🟠 4 error" in digest.text
        for key, (_, fp, _) in known.items():
            assert re.search(rf"· {key} · #{fp}$", digest.text, re.M), key
        assert [b["text"] for b in digest.buttons] == ["✅ Ack all", "📋 Details"]
        assert len(digest.text) <= 4096
    assert h.app.core.metrics.outbox_digests_total._value.get() == 2


async def test_details_pages_ack_one_ack_all(storm: Harness) -> None:
    h = storm
    await h.sweep()
    await h.delivered()
    known = await incidents(h)
    chat, other = ALERT_CHATS
    [digest] = h.emulator.bot_messages(chat)

    await h.press(digest, "Details")
    assert digest.text.startswith("📋 Details 1/3 · 12 alerts")
    assert [b["text"] for b in digest.buttons][-2:] == ["↩ Summary", "▶"]
    await h.press(digest, "▶")
    assert digest.text.startswith("📋 Details 2/3")
    on_page = [k for k in known if f"#{known[k][1]}" in digest.text]
    assert len(on_page) == 5

    # One alert acked alone from the page: the page redraws to show it, the other chat's digest too.
    first = on_page[0]
    answer = await h.press(digest, f"#{known[first][1]}")
    assert answer["text"] == "Acknowledged"
    await h.delivered()
    assert "👀 acked by @alice" in digest.text and digest.text.startswith("📋 Details 2/3")
    [other_digest] = h.emulator.bot_messages(other)
    assert re.search(rf"#{known[first][1]} 👀$", other_digest.text, re.M)

    # /ack from the other chat works for an alert that only ever arrived in a digest.
    second = on_page[1]
    reply = await h.command(other, f"/ack #{known[second][1]}")
    assert reply.text.startswith("Acknowledged")

    await h.press(digest, "Summary")
    answer = await h.press(digest, "Ack all", user_id=ADMIN, username="boss")
    assert answer["text"] == "Acknowledged 10 alert(s)"
    assert {status for _, _, status in (await incidents(h)).values()} == {"acknowledged"}
    assert digest.text.count("👀") == 12 and "Ack all" not in str(digest.buttons)
    answer = await h.press(digest, "Details")
    assert not answer.get("text")  # just a page turn


async def test_a_digest_button_from_another_chat_changes_nothing(storm: Harness) -> None:
    h = storm
    await h.sweep()
    await h.delivered()
    [digest] = h.emulator.bot_messages(ALERT_CHATS[0])
    data = digest.button("Ack all")["callback_data"]
    for chat in (ALERT_CHATS[1], STRANGER_CHAT):  # a configured chat with its own digest; a stranger
        [theirs] = h.emulator.bot_messages(ALERT_CHATS[1])
        query = h.emulator.press(chat, theirs.message_id, data) if chat != STRANGER_CHAT else None
        if query is None:
            msg = h.emulator.send_text(chat, "hello")
            query = h.emulator.press(chat, msg.message_id, data)
        await h.emulator.wait_for(lambda q=query: q in h.emulator.callback_answers)
        assert "Acknowledged" not in str(h.emulator.callback_answers[query].get("text"))
    assert {status for _, _, status in (await incidents(h)).values()} == {"firing"}


async def test_a_few_alerts_still_go_one_by_one(tmp_path: Path, emulator: BotApiEmulator) -> None:
    path, url = make_shop(tmp_path, CRITICAL_KEYS[:3])
    h = await start_harness(tmp_path, emulator, STORM_CONFIG.format(url=url), path, group_wait_sec=0.5)
    try:
        await h.sweep()
        await h.delivered()
        assert len(h.cards(ALERT_CHATS[0])) == 3 and h.app.core.metrics.outbox_digests_total._value.get() == 0
    finally:
        await h.app.stop()


@pytest.mark.parametrize("fault", ["server_error", "hang"])
async def test_ten_minutes_without_telegram_then_everything_in_order_once(
    tmp_path: Path, emulator: BotApiEmulator, fault: str
) -> None:
    clock = FakeClock()
    path, url = make_shop(tmp_path, CRITICAL_KEYS[:3])
    h = await start_harness(tmp_path, emulator, STORM_CONFIG.format(url=url), path, clock=clock)
    h.app.sender.request_timeout = 0.2  # a hanging call counts as failed after this long
    h.app.sender.limiter.per_chat_interval = 0.1  # the per-chat pace is tested elsewhere; order is tested here
    for method in ("sendMessage", "editMessageText"):
        emulator.fail(method, fault, times=10**6, hang_seconds=1)
    try:
        await h.sweep()  # c00, c01, c02 fire
        for minute in range(1, 11):
            clock.advance(60)
            if minute == 3:
                set_value(path, "c00", 5)  # resolves during the outage
                await h.sweep()
            if minute == 6:
                set_value(path, "c03", -5)  # a new one fires during the outage
                await h.sweep()
            h.app.sender.wake()
            await asyncio.sleep(0.3)
        assert not emulator.calls_to("sendMessage", ok=True)
        assert len(emulator.calls_to("sendMessage", ok=False)) >= 4  # it kept trying, with backoff
        emulator.clear_faults()
        for _ in range(100):  # time moves on past each backoff (a call hanging at the recovery fails too)
            if not await h.app.core.outbox.depth():
                break
            clock.advance(61)
            h.app.sender.wake()
            await asyncio.sleep(0.2)
        await h.delivered(timeout=1)
        for chat in ALERT_CHATS:
            texts = [m.text for m in emulator.bot_messages(chat)]
            assert len(texts) == 5, texts
            # Each card shows the incident as it is when it finally goes: c00 has resolved meanwhile.
            assert [t.split("\n")[0] for t in texts[:3]] == [
                "✅ RESOLVED · cash_balance · was CRITICAL",
                "🔴 CRITICAL · cash_balance",
                "🔴 CRITICAL · cash_balance",
            ]
            assert ["key: c00" in texts[0], "key: c01" in texts[1], "key: c02" in texts[2]] == [True] * 3
            assert "cash_balance[c00]" in texts[3] and "resolved after 3m" in texts[3]
            assert "key: c03" in texts[4] and texts[4].startswith("🔴 CRITICAL")
    finally:
        await h.app.stop()


async def test_a_flapping_alert_is_told_once_in_the_chat_then_quiet(tmp_path: Path, emulator: BotApiEmulator) -> None:
    path, url = make_shop(tmp_path, [])
    h = await start_harness(
        tmp_path,
        emulator,
        STORM_CONFIG.format(url=url),
        path,
        alert_dedup_window_sec=0,
        flap_threshold=3,
        flap_settle="10m",
    )
    h.app.sender.limiter.per_chat_interval = 0.05  # the per-chat pace is tested elsewhere
    chat = ALERT_CHATS[0]
    try:
        for n in range(8):  # c00 fails, passes, fails, … : the 4th change starts flapping
            set_value(path, "c00", -5 if n % 2 == 0 else 5)
            await h.sweep()
            await h.delivered()
        texts = [m.text for m in emulator.bot_messages(chat)]
        flapping = [t for t in texts if "is flapping" in t]
        assert len(flapping) == 1, texts
        assert (
            "〰️" in flapping[0] and "4 state changes in 30m" in flapping[0] and "holds one state for 10m" in flapping[0]
        )
        assert texts[-1] == flapping[0]  # nothing after it, though c00 changed state four more times
        assert len([t for t in texts if t.startswith("🔴 CRITICAL")]) <= 2
    finally:
        await h.app.stop()
