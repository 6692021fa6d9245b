"""A remediation with `confirm: true` runs only on its ✅ Yes: a single-use token bound to the incident,
action and chat it was asked for, good for 5 minutes and only while the alert still fires. A forged
`r1:yes:<id>` (the old payload) or a made-up token runs nothing, and every refusal is recorded."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator, ChatMessage
from helpers import FakeClock, make_sqlite, sql
from ops.storage.tables import alert_events, remediation_runs

PY = sys.executable
CHAT = ALERT_CHATS[0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def ch(tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock) -> AsyncIterator[Harness]:
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE flags (name TEXT, v INT); INSERT INTO flags VALUES ('size', 1);")
    config = f"""
targets: {{shop: "{shop}"}}
remediations:
  - {{name: vacuum_shop, kind: shell, confirm: true, description: Reclaims free pages,
      command: [{PY}, -c, "print('vacuumed')"]}}
detectors:
  - {{name: size, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'size'", alert_if: "> 0",
      severity: error, remediation: vacuum_shop}}
"""
    h = await start_harness(tmp_path, emulator, config, db, clock=clock, alert_dedup_window_sec=0)
    await h.sweep()
    await h.wait_cards(CHAT, 1)
    yield h
    await h.app.stop()


async def ask(h: Harness, chat: int = CHAT) -> ChatMessage:
    """Press 🛠 Remediate as the admin; the bot's question with ✅ Yes / ✖ Cancel."""
    card = h.cards(chat)[0]
    before = len(h.emulator.bot_messages(chat))
    await h.press(card, "Remediate", user_id=ADMIN, username="admin")
    await h.emulator.wait_for(lambda: len(h.emulator.bot_messages(chat)) > before)
    question = h.emulator.bot_messages(chat)[-1]
    assert question.text.startswith("🛠 Run vacuum_shop for size")
    return question


async def press_data(h: Harness, chat: int, message_id: int, data: str, user_id: int = ADMIN) -> dict:
    query = h.emulator.press(chat, message_id, data, user_id=user_id, username="admin")
    await h.emulator.wait_for(lambda: query in h.emulator.callback_answers)
    return h.emulator.callback_answers[query]


async def runs(h: Harness) -> list[str]:
    await h.app.core.remediation.wait_idle()
    async with h.app.core.db.connect() as conn:
        return list(await conn.scalars(select(remediation_runs.c.status).order_by(remediation_runs.c.id)))


async def refused(h: Harness) -> list[str]:
    async with h.app.core.db.connect() as conn:
        query = select(alert_events.c.detail).where(alert_events.c.event == "refused").order_by(alert_events.c.id)
        return list(await conn.scalars(query))


async def test_a_forged_yes_from_an_admin_runs_nothing(ch: Harness) -> None:
    card = ch.cards(CHAT)[0]
    incident = await ch.app.core.history.open_incident_for("size")
    assert incident is not None
    answer = await press_data(ch, CHAT, card.message_id, f"r1:yes:{incident.id}")
    assert answer["text"] == "This button no longer works."
    answer = await press_data(ch, CHAT, card.message_id, "c1:yes:AAAAAAAAAAAAAAAAAAAAAA")
    assert answer == {"text": "This confirmation is not valid: press 🛠 Remediate again.", "show_alert": True}
    assert await runs(ch) == []
    assert await refused(ch) == ["unknown button", "remediate: unknown confirmation"]


async def test_yes_runs_once_and_only_in_its_chat(ch: Harness) -> None:
    question = await ask(ch)
    yes = question.button("Yes")["callback_data"]
    assert yes.startswith("c1:yes:") and len(yes.encode()) <= 64
    assert question.button("Cancel")["callback_data"] == yes.replace(":yes:", ":no:")
    # The same token pressed in another chat (where the question was never asked) is not valid there.
    other = ALERT_CHATS[1]
    answer = await press_data(ch, other, ch.cards(other)[0].message_id, yes)
    assert answer["text"] == "This confirmation is not valid: press 🛠 Remediate again."
    answer = await ch.press(question, "Yes", user_id=ADMIN, username="admin")
    assert answer["text"] == "vacuum_shop started"
    assert await runs(ch) == ["success"]
    again = await press_data(ch, CHAT, question.message_id, yes)
    assert again == {"text": "This confirmation was already answered.", "show_alert": True}
    assert await runs(ch) == ["success"]
    assert await refused(ch) == ["remediate: confirmation from another chat", "remediate: confirmation already used"]


async def test_cancel_uses_the_confirmation_up(ch: Harness) -> None:
    question = await ask(ch)
    yes = question.button("Yes")["callback_data"]
    assert (await ch.press(question, "Cancel", user_id=ADMIN, username="admin"))["text"] == "Cancelled"
    await ch.emulator.wait_for(lambda: "cancelled by @admin" in ch.emulator.messages[(CHAT, question.message_id)].text)
    answer = await press_data(ch, CHAT, question.message_id, yes)
    assert answer["text"] == "This confirmation was already answered."
    assert await runs(ch) == []


async def test_an_old_yes_after_the_alert_resolved_runs_nothing(ch: Harness) -> None:
    question = await ask(ch)
    sql(ch.shop, "UPDATE flags SET v = 0")
    await ch.sweep()  # resolves
    sql(ch.shop, "UPDATE flags SET v = 1")
    await ch.sweep()  # and fires again: a new incident, whose question was never asked
    answer = await ch.press(question, "Yes", user_id=ADMIN, username="admin")
    assert answer == {"text": "The alert has resolved since: nothing to run.", "show_alert": True}
    assert await runs(ch) == []
    assert await refused(ch) == ["remediate: alert resolved since the question"]


async def test_a_confirmation_expires_after_five_minutes(ch: Harness, clock: FakeClock) -> None:
    question = await ask(ch)
    clock.advance(301)
    answer = await ch.press(question, "Yes", user_id=ADMIN, username="admin")
    assert answer == {"text": "This confirmation has expired: press 🛠 Remediate again.", "show_alert": True}
    assert await runs(ch) == []
    question = await ask(ch)
    clock.advance(299)
    assert (await ch.press(question, "Yes", user_id=ADMIN, username="admin"))["text"] == "vacuum_shop started"
    assert await runs(ch) == ["success"]


async def test_a_non_admins_yes_leaves_the_confirmation_for_an_admin(ch: Harness) -> None:
    question = await ask(ch)
    answer = await ch.press(question, "Yes", user_id=7, username="bob")
    assert answer == {"text": "Only admins can run remediations.", "show_alert": True}
    assert (await ch.press(question, "Yes", user_id=ADMIN, username="admin"))["text"] == "vacuum_shop started"
    assert await runs(ch) == ["success"]


async def test_the_remediate_command_asks_the_same_way(ch: Harness) -> None:
    question = await ch.command(CHAT, "/remediate size", user_id=ADMIN, username="admin")
    assert question.text.startswith("🛠 Run vacuum_shop for size") and question.button("Yes")[
        "callback_data"
    ].startswith("c1:yes:")
    assert (await ch.press(question, "Yes", user_id=ADMIN, username="admin"))["text"] == "vacuum_shop started"
    assert await runs(ch) == ["success"]
