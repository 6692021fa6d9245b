"""A member with no username and Telegram's longest name (64 + 64 characters) can Ack, and the audit rows
of what they press are stored with the name shortened to the column."""

from __future__ import annotations

from harness import ALERT_CHATS, Harness
from sqlalchemy import select

from ops.storage.tables import alert_events, alerts_history

NAMES = ("Ж" * 63 + "a", "b" + "Ω" * 63)  # full name: 129 characters


async def press(h: Harness, label: str) -> dict:
    [card] = h.cards(ALERT_CHATS[0])
    query_id = h.emulator.press_button(card, label, user_id=1777, username=None, names=NAMES)
    await h.emulator.wait_for(lambda: query_id in h.emulator.callback_answers)
    return h.emulator.callback_answers[query_id]


async def test_a_user_with_a_129_character_name_acks_and_is_audited(harness: Harness) -> None:
    h = harness
    h.set_balance("wb", -20000)
    await h.sweep()
    await h.wait_cards(ALERT_CHATS[0], 1)
    refused = await press(h, "Check now")  # not an admin: refused, and the refusal is recorded
    assert refused["text"].startswith("Only admins")
    answer = await press(h, "Ack")
    assert answer["text"] == "Acknowledged"
    async with h.app.core.db.connect() as conn:
        acked_by = await conn.scalar(select(alerts_history.c.acknowledged_by))
        events = (
            await conn.execute(
                select(alert_events.c.event, alert_events.c.actor, alert_events.c.actor_id)
                .where(alert_events.c.actor_id == 1777)
                .order_by(alert_events.c.id)
            )
        ).all()
    assert acked_by is not None and len(acked_by) <= 128 and acked_by.startswith("Ж" * 63 + "a b")
    assert acked_by.endswith("…")
    assert [e for e, _, _ in events] == ["pressed:chk", "refused", "pressed:ack", "acknowledged"]
    assert {a for _, a, _ in events} == {acked_by}
    await h.emulator.wait_for(
        lambda: any(f"Acknowledged by {acked_by}" in m.text for m in h.emulator.bot_messages(ALERT_CHATS[0]))
    )
