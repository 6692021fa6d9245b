"""Telegram misbehaving: 429 bursts, 5xx spells, hangs, kicked chats. Nothing lost, nothing twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from harness import ALERT_CHATS, Harness
from sqlalchemy import select, update

from ops.notify.types import AlertCard
from ops.storage.outbox import enqueue
from ops.storage.tables import alerts_history, outbox


def cards_per_incident(harness: Harness, chat: int) -> Counter[str]:
    return Counter(m.text.split("\n")[1] for m in harness.cards(chat))


async def test_a_429_burst_is_honoured_and_loses_nothing(harness: Harness) -> None:
    harness.emulator.fail("sendMessage", "retry_after", times=3, retry_after=1)
    harness.set_balance("wb", -20000)
    harness.set_balance("ozon", -30000)
    await harness.sweep()
    for chat in ALERT_CHATS:
        await harness.wait_cards(chat, 2, timeout=15)
    await harness.delivered()
    for chat in ALERT_CHATS:
        assert set(cards_per_incident(harness, chat).values()) == {1}
    assert len(harness.emulator.calls_to("sendMessage", ok=False)) == 3
    assert harness.app.core.metrics.telegram_retry_after_total._value.get() == 3
    # Each 429 was waited out in its chat: no retry to that chat sooner than retry_after.
    calls = harness.emulator.calls_to("sendMessage")
    for refused in (c for c in calls if c.status == 429):
        chat = refused.params["chat_id"]
        later = [c.at for c in calls if c.status == 200 and c.params["chat_id"] == chat and c.at > refused.at]
        assert min(later) - refused.at >= 0.95


async def test_a_5xx_spell_and_a_hang_retry_with_backoff(harness: Harness) -> None:
    harness.emulator.fail("sendMessage", "server_error", times=4, chat_id=ALERT_CHATS[0])
    harness.emulator.fail("sendMessage", "hang", times=1, hang_seconds=2, chat_id=ALERT_CHATS[1])
    harness.app.sender.request_timeout = 0.5
    harness.set_balance("wb", -20000)
    await harness.sweep()
    for chat in ALERT_CHATS:
        [card] = await harness.wait_cards(chat, 1, timeout=15)
        assert "cash_balance[wb]" in card.text
    await harness.delivered()
    async with harness.app.core.db.connect() as conn:
        rows = (await conn.execute(select(outbox.c.chat_id, outbox.c.status, outbox.c.attempts))).all()
    assert sorted(rows, reverse=True) == [(ALERT_CHATS[0], "sent", 5), (ALERT_CHATS[1], "sent", 2)]


async def test_a_kicked_chat_fails_its_row_and_holds_up_no_other_chat(harness: Harness) -> None:
    harness.emulator.block(ALERT_CHATS[0])
    harness.set_balance("wb", -20000)
    await harness.sweep()
    await harness.wait_cards(ALERT_CHATS[1], 1)
    await harness.emulator.wait_for(lambda: harness.emulator.calls_to("sendMessage", ok=False))
    await harness.delivered()
    async with harness.app.core.db.connect() as conn:
        row = (
            await conn.execute(select(outbox.c.status, outbox.c.last_error).where(outbox.c.chat_id == ALERT_CHATS[0]))
        ).one()
    assert row.status == "failed" and "kicked" in row.last_error
    # Later rows for the kicked chat (the resolve) fail on their own too; the other chat gets its edit.
    harness.set_balance("wb", 5)
    await harness.sweep()
    await harness.emulator.wait_for(
        lambda: (
            "Resolved after" in harness.cards(ALERT_CHATS[1])[0].text
            if harness.cards(ALERT_CHATS[1])
            else len(harness.emulator.bot_messages(ALERT_CHATS[1])) == 2
        )
    )


async def test_a_very_long_message_is_split_and_never_rejected(harness: Harness) -> None:
    long_key = "mp-" + "x" * 150
    harness.set_balance("wb", -20000)
    await harness.sweep()
    await harness.delivered()
    # A detector message of 12,000 characters with markup-like text in it.
    async with harness.app.core.db.begin() as conn:
        await conn.execute(update(alerts_history).values(message="<line> & more\n" * 900, key=long_key))
        await enqueue(conn, [ALERT_CHATS[1]], AlertCard(), harness.app.core.clock(), 1)
    harness.app.sender.wake()
    await harness.delivered()
    msgs = harness.emulator.bot_messages(ALERT_CHATS[1])
    assert len(msgs) >= 5
    assert not harness.emulator.calls_to("sendMessage", ok=False)
    assert all(len(m.text) <= 4096 for m in msgs)
    shown = "".join(m.text for m in msgs[1:])
    assert shown.count("<line> & more") == 900
    assert all(m.reply_to == msgs[1].message_id for m in msgs[2:])


async def test_a_reminder_says_how_long_it_has_been_firing(harness: Harness) -> None:
    harness.set_balance("wb", -20000)
    await harness.sweep()
    [card] = await harness.wait_cards(ALERT_CHATS[0], 1)
    now = harness.app.core.clock()
    async with harness.app.core.db.begin() as conn:
        await conn.execute(
            update(alerts_history).values(
                created_at=now - timedelta(hours=4, minutes=10),
                last_notified_at=now - timedelta(hours=4, minutes=10),
            )
        )
    assert (await harness.app.core.pipeline.tick()).reminded == [1]
    await harness.emulator.wait_for(lambda: len(harness.emulator.bot_messages(ALERT_CHATS[0])) == 2)
    reminder = harness.emulator.bot_messages(ALERT_CHATS[0])[1]
    assert "still firing for 4h 10m" in reminder.text and reply_to(reminder) == card.message_id
    assert card.text.split("\n")[0] not in reminder.text.split("\n")[0] or "⏰" in reminder.text


def reply_to(msg) -> int | None:
    return msg.reply_to
