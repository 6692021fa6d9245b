"""Alerts through the emulator: once, with buttons; Ack edits every copy; resolve; reminders."""

from __future__ import annotations

import asyncio

import pytest
from harness import ADMIN, ALERT_CHATS, Harness
from sqlalchemy import select

from bot.handlers import alerts as alerts_handlers
from ops.storage.tables import alert_events


async def test_alert_arrives_once_in_every_alert_chat_with_buttons(harness: Harness) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    for chat in ALERT_CHATS:
        [card] = await harness.wait_cards(chat, 1)
        assert card.text.startswith("🔴 CRITICAL · cash_balance")
        assert "cash_balance[wb] = -12,500" in card.text
        assert "team=finance" in card.text
        labels = [b["text"] for b in card.buttons]
        assert labels == ["✅ Ack", "🔁 Check now", "📖 Runbook", "🔕 Silence 1h", "🔕 Until resolved"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in card.buttons)
    # More sweeps while it still fails send nothing new.
    await harness.sweep()
    await harness.sweep()
    await harness.delivered()
    assert [len(harness.emulator.bot_messages(c)) for c in ALERT_CHATS] == [1, 1]


async def test_ack_edits_the_alert_in_every_chat(harness: Harness) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    await harness.wait_cards(ALERT_CHATS[1], 1)
    answer = await harness.press(card, "Ack", user_id=7, username="bob")
    assert answer["text"] == "Acknowledged"

    def acked() -> bool:
        return all("Acknowledged by @bob at" in harness.cards(c)[0].text for c in ALERT_CHATS)

    await harness.emulator.wait_for(acked)
    for chat in ALERT_CHATS:
        labels = [b["text"] for b in harness.cards(chat)[0].buttons]
        assert "✅ Ack" not in labels and "↩️ Unack" in labels
    again = await harness.press(harness.cards(ALERT_CHATS[1])[0], "Unack", user_id=8, username="carol")
    assert "reminders resume" in again["text"]
    await harness.emulator.wait_for(
        lambda: all("✅ Ack" in harness.cards(c)[0].buttons[0]["text"] for c in ALERT_CHATS)
    )
    async with harness.app.core.db.connect() as conn:
        events = (await conn.execute(select(alert_events.c.event, alert_events.c.actor_id))).all()
    assert ("acknowledged", 7) in events and ("unacknowledged", 8) in events and ("pressed:ack", 7) in events


async def test_resolve_edits_the_card_removes_buttons_and_replies(harness: Harness) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    await harness.wait_cards(ALERT_CHATS[0], 1)
    harness.set_balance("wb", 100)
    await harness.sweep()
    chat = ALERT_CHATS[0]

    def resolved() -> bool:
        msgs = harness.emulator.bot_messages(chat)
        return len(msgs) == 2 and "Resolved after" in msgs[0].text

    await harness.emulator.wait_for(resolved)
    card, reply = harness.emulator.bot_messages(chat)
    assert card.buttons == [] and card.text.startswith("✅ RESOLVED · cash_balance · was CRITICAL")
    assert reply.reply_to == card.message_id and "resolved after" in reply.text


async def test_non_admin_check_now_is_refused_and_admin_runs_it(harness: Harness) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    refused = await harness.press(card, "Check now", user_id=7, username="bob")
    assert refused == {"text": "Only admins can do that.", "show_alert": True}
    done = await harness.press(card, "Check now", user_id=ADMIN, username="admin")
    assert done["show_alert"] and "still failing" in done["text"]
    async with harness.app.core.db.connect() as conn:
        refusals = (await conn.execute(select(alert_events.c.actor_id).where(alert_events.c.event == "refused"))).all()
    assert refusals == [(7,)]


async def test_a_check_slower_than_its_answer_still_puts_its_verdict_on_the_timeline(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    monkeypatch.setattr(alerts_handlers, "CHECK_ANSWER_WITHIN", 0.0)  # every check answers before it ends
    answer = await harness.press(card, "Check now", user_id=ADMIN, username="admin")
    assert "still being checked" in answer["text"]
    log = harness.app.core.incident_log

    async def verdicts() -> list[str]:
        [incident] = await log.open()
        record = await log.get(incident.id)
        assert record is not None
        return [e.detail for e in record.timeline if e.kind == "checked" and e.actor == "@admin"]

    for _ in range(200):
        if await verdicts():
            break
        await asyncio.sleep(0.05)
    [verdict] = await verdicts()
    assert verdict.startswith("still failing: cash_balance")


async def test_runbook_button_sends_the_runbook_rendered(harness: Harness) -> None:
    harness.set_balance("wb", -12500)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    await harness.press(card, "Runbook")
    await harness.emulator.wait_for(lambda: len(harness.emulator.bot_messages(ALERT_CHATS[0])) == 2)
    runbook = harness.emulator.bot_messages(ALERT_CHATS[0])[1]
    assert runbook.html is not None and "<b>Cash balance</b>" in runbook.html and "<pre>" in runbook.html


async def test_a_refire_within_the_dedup_window_replies_in_every_chat_that_had_it(harness: Harness) -> None:
    """Fire → resolve → fire again within ALERT_DEDUP_WINDOW_SEC: the same incident reopens, and the chat's
    last message is no longer the "resolved" reply but one saying it is failing again."""
    harness.set_balance("wb", -12500)
    await harness.sweep()
    harness.set_balance("wb", 100)
    await harness.sweep()
    harness.set_balance("wb", -20000)
    await harness.sweep()

    def told() -> bool:
        return all(len(harness.emulator.bot_messages(c)) == 3 for c in ALERT_CHATS)

    await harness.emulator.wait_for(told)
    await harness.delivered()
    for chat in ALERT_CHATS:
        card, resolved, again = harness.emulator.bot_messages(chat)
        assert "resolved after" in resolved.text
        assert again.reply_to == card.message_id
        assert again.text.startswith("🔁 🔴 cash_balance[wb] is failing again: ")
        assert "-20,000" in again.text
        assert card.text.startswith("🔴 CRITICAL · cash_balance") and "✅ Ack" in card.buttons[0]["text"]
