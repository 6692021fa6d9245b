"""Quiet hours through the emulator, on a controllable clock: in a `silent` chat a warning at night makes
no sound and a critical does; `info` is silent everywhere; a `hold` chat gets nothing at night and one
`🌅 Overnight` digest at 08:00 Berlin (resolved alerts listed as resolved, Ack from the digest); a
restart in the night loses and repeats nothing; a forum chat opens no topic for what it holds."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest
from harness import ALERT_CHATS, Harness, start_harness

from bot.emulator import BotApiEmulator, ChatMessage
from helpers import FakeClock, make_sqlite, sql

SILENT_CHAT, HOLD_CHAT = ALERT_CHATS
NIGHT = datetime(2026, 1, 14, 22, 0)  # 23:00 in Berlin (CET)
MORNING = datetime(2026, 1, 15, 7, 0)  # 08:00 in Berlin
RULES = f"""
quiet_hours:
  - {{chats: [{SILENT_CHAT}], when: "22:00-08:00", tz: Europe/Berlin, mode: silent}}
  - {{chats: [{HOLD_CHAT}], when: "22:00-08:00", tz: Europe/Berlin, below: critical, mode: hold}}
"""


def config(url: str, rules: str = RULES) -> str:
    return f"""
targets: {{shop: "{url}"}}
detectors:
  - {{name: disk_usage, kind: sql, target: shop, query: "SELECT k, v FROM m WHERE k LIKE 'w%' ORDER BY k",
      alert_if: "< 0", severity: warning}}
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM m WHERE k LIKE 'c%' ORDER BY k",
      alert_if: "< 0", severity: critical}}
  - {{name: backup_age, kind: sql, target: shop, query: "SELECT k, v FROM m WHERE k LIKE 'i%' ORDER BY k",
      alert_if: "< 0", severity: info}}
{rules}"""


def fail(h: Harness, keys: list[str], value: float = -5) -> None:
    for key in keys:
        sql(h.shop, "UPDATE m SET v = ? WHERE k = ?", (value, key))


@pytest.fixture
async def start(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Callable[..., object]]:
    """Start opsbot on `clock` (a new app on the same database each time it is called)."""
    path = tmp_path / "shop.db"
    url = make_sqlite(
        path,
        "CREATE TABLE m (k TEXT, v REAL); "
        + "".join(f"INSERT INTO m VALUES ('{k}', 5);" for k in ("w1", "w2", "w3", "c1", "i1")),
    )
    started: list[Harness] = []

    async def go(clock: FakeClock, rules: str = RULES, **overrides: object) -> Harness:
        settings = {"alert_repeat_interval_sec": 0, **overrides}
        h = await start_harness(tmp_path, emulator, config(url, rules), path, clock=clock, **settings)
        started.append(h)
        return h

    yield go
    await started[-1].app.stop()  # the ones before it were stopped by the test, for a restart


def quiet_total(h: Harness, mode: str) -> float:
    return h.app.core.metrics.notifications_quiet_total.labels(mode)._value.get()


def texts(messages: list[ChatMessage]) -> str:
    return "\n".join(m.text for m in messages)


async def test_silent_chat_at_night_warning_without_sound_critical_loud(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    clock = FakeClock(NIGHT)
    h: Harness = await start(clock)  # type: ignore[misc]
    fail(h, ["w1", "c1"])
    await h.sweep()
    await h.delivered()
    cards = await h.wait_cards(SILENT_CHAT, 2)
    by_name = {("disk" if "disk_usage" in c.text else "cash"): c for c in cards}
    assert by_name["disk"].silent and not by_name["cash"].silent
    sends = [c.params for c in emulator.calls_to("sendMessage") if str(c.params.get("chat_id")) == str(SILENT_CHAT)]
    assert sorted(str(p.get("disable_notification")).lower() for p in sends) == ["none", "true"]

    fail(h, ["w1"], 5)  # resolved in the night: the reply is silent too
    await h.sweep()
    await h.delivered()
    [resolved] = [m for m in emulator.bot_messages(SILENT_CHAT) if m.reply_to == by_name["disk"].message_id]
    assert resolved.silent and "resolved" in resolved.text.lower()
    assert quiet_total(h, "silent") == 2

    clock.now = MORNING  # 08:00 Berlin: the night is over
    fail(h, ["w2"])
    await h.sweep()
    await h.delivered()
    [card] = [c for c in h.cards(SILENT_CHAT) if "w2" in c.text]
    assert not card.silent


async def test_info_is_silent_everywhere_by_default(start: Callable[..., object], emulator: BotApiEmulator) -> None:
    noon = FakeClock(datetime(2026, 1, 14, 11, 0))
    h: Harness = await start(noon, rules="", alert_min_severity="info")  # type: ignore[misc]  # no rules anywhere
    fail(h, ["i1", "w1"])
    await h.sweep()
    await h.delivered()
    for chat in ALERT_CHATS:
        cards = await h.wait_cards(chat, 2)
        assert {("info" if "backup_age" in c.text else "warning"): c.silent for c in cards} == {
            "info": True,
            "warning": False,
        }


async def test_hold_overnight_then_one_digest_in_the_morning_across_a_restart(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    clock = FakeClock(NIGHT)
    h: Harness = await start(clock)  # type: ignore[misc]
    fail(h, ["w1", "w2", "w3"])
    await h.sweep()
    await h.delivered()
    await h.wait_cards(SILENT_CHAT, 3)  # the silent chat got them, without a sound
    assert emulator.bot_messages(HOLD_CHAT) == []
    assert await h.app.core.outbox.held_count() == 3 and quiet_total(h, "hold") == 3

    clock.now = datetime(2026, 1, 15, 1, 0)  # 02:00 Berlin: w3 resolves
    fail(h, ["w3"], 5)
    await h.sweep()
    await h.delivered()
    assert emulator.bot_messages(HOLD_CHAT) == []

    # A restart in the night: a new app on the same database.
    await h.app.stop()
    clock.now = datetime(2026, 1, 15, 3, 0)
    h = await start(clock)  # type: ignore[misc]
    await h.delivered()
    assert emulator.bot_messages(HOLD_CHAT) == []
    silent_before = len(emulator.bot_messages(SILENT_CHAT))

    clock.now = MORNING
    h.app.sender.wake()  # type: ignore[union-attr]
    [digest] = await emulator.wait_for(lambda: emulator.bot_messages(HOLD_CHAT))
    await h.delivered()
    assert digest.text.startswith("🌅 Overnight: 2 warnings, 1 resolved")
    assert not digest.silent and len(digest.text) <= 4096
    lines = digest.text.split("\n")
    still = lines[lines.index("🔔 Still open (2)") + 1 : lines.index("✅ Resolved overnight (1)")]
    heads = [line for line in still if line.startswith("🟡 WARNING · disk_usage")]
    assert len(heads) == 2 and all("w3" not in line for line in still), digest.text
    assert re.match(r"🟡 WARNING · disk_usage · w1 · #\w{8} · since 22:00 UTC$", heads[0]), digest.text
    assert re.search(r"^✅ warning · disk_usage · w3 · #\w{8} · after ", digest.text, re.M)
    assert [b["text"] for b in digest.buttons] == ["✅ Ack all", "📋 Details"]

    # Nothing else: no card of a held alert, nothing repeated in the silent chat, nothing left held.
    assert emulator.bot_messages(HOLD_CHAT) == [digest]
    assert len(emulator.bot_messages(SILENT_CHAT)) == silent_before
    assert await h.app.core.outbox.held_count() == 0

    # Operators Ack in the morning, from the digest.
    answer = await h.press(digest, "Ack all")
    assert answer["text"] == "Acknowledged 2 alert(s)"
    assert digest.text.count("👀") == 2 and "Ack all" not in str(digest.buttons)

    # Another restart: the digest is not posted again.
    await h.app.stop()
    h = await start(clock)  # type: ignore[misc]
    await h.delivered()
    assert emulator.bot_messages(HOLD_CHAT) == [digest]


async def test_a_critical_in_a_hold_chat_goes_loud_at_night(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    clock = FakeClock(NIGHT)
    h: Harness = await start(clock)  # type: ignore[misc]
    fail(h, ["w1", "c1"])
    await h.sweep()
    await h.delivered()
    [card] = await h.wait_cards(HOLD_CHAT, 1)
    assert "cash_balance" in card.text and not card.silent
    assert await h.app.core.outbox.held_count() == 1


async def test_a_forum_chat_holds_without_opening_topics(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    emulator.make_forum(HOLD_CHAT)
    clock = FakeClock(NIGHT)
    h: Harness = await start(clock)  # type: ignore[misc]
    fail(h, ["w1", "w2"])
    await h.sweep()
    await h.delivered()
    assert emulator.topics(HOLD_CHAT) == [] and emulator.calls_to("createForumTopic") == []

    fail(h, ["c1"])  # a critical at night: its own topic, loud
    await h.sweep()
    await h.delivered()
    [topic] = emulator.topics(HOLD_CHAT)
    assert topic.name.startswith("🔴 cash_balance")
    [card] = emulator.topic_messages(HOLD_CHAT, topic.thread_id)
    assert not card.silent

    clock.now = MORNING
    h.app.sender.wake()  # type: ignore[union-attr]
    await emulator.wait_for(lambda: any("Overnight" in m.text for m in emulator.bot_messages(HOLD_CHAT)))
    await h.delivered()
    [digest] = [m for m in emulator.bot_messages(HOLD_CHAT) if "Overnight" in m.text]
    assert digest.text.startswith("🌅 Overnight: 2 warnings") and digest.thread_id is None  # General
    assert len(emulator.topics(HOLD_CHAT)) == 1  # the held alerts opened none in the night
