"""Silences through the emulator: the buttons (admins only), /silence, /silences, /unsilence."""

from __future__ import annotations

from harness import ADMIN, ALERT_CHATS, Harness


async def test_silence_buttons_are_for_admins_and_edit_every_copy(harness: Harness) -> None:
    harness.set_balance("wb", -20000)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    await harness.wait_cards(ALERT_CHATS[1], 1)
    refused = await harness.press(card, "Silence 1h", user_id=7, username="bob")
    assert refused == {"text": "Only admins can silence alerts.", "show_alert": True}
    answer = await harness.press(card, "Silence 1h", user_id=ADMIN, username="admin")
    assert answer["text"] == "Silenced for 1h (silence 1)"
    await harness.emulator.wait_for(
        lambda: all("🔕 Silenced (silence 1)" in harness.cards(c)[0].text for c in ALERT_CHATS)
    )
    assert all("🔕 Silence 1h" not in [b["text"] for b in harness.cards(c)[0].buttons] for c in ALERT_CHATS)


async def test_silence_commands(harness: Harness) -> None:
    chat = ALERT_CHATS[0]
    assert (
        await harness.command(chat, "/silence cash_balance 2h", user_id=7)
    ).text == "Only admins can silence alerts."
    made = await harness.command(chat, "/silence cash_balance 2h deploy window", user_id=ADMIN, username="admin")
    assert made.text == "🔕 Silence 1: cash_balance for 2h — deploy window (0 open alert(s) muted)"
    harness.set_balance("wb", -20000)
    await harness.sweep()
    await harness.delivered()
    assert harness.cards(chat) == []  # silenced: recorded, nothing sent
    listing = await harness.command(chat, "/silences")
    assert "1 · cash_balance · for 1h 59m more · by @admin · deploy window" in listing.text
    for bad in ("/silence", "/silence cash_balance", "/silence nosuch 1h", "/silence cash_balance 10s", "/unsilence x"):
        answer = await harness.command(chat, bad, user_id=ADMIN, username="admin")
        assert "Usage: /" in answer.text
    ended = await harness.command(chat, "/unsilence 1", user_id=ADMIN, username="admin")
    assert ended.text == "🔔 Silence 1 ended (1 alert(s) still firing are back)."
    await harness.wait_cards(chat, 1)  # the alert that fired while silenced now arrives, once
    assert (await harness.command(chat, "/silences")).text == "🔕 No active silences."
