"""Escalation policies that page people, through the emulator on a controllable clock: an unacknowledged
critical reaches the primary's private chat, then the secondary's, then the admins (again every 30m);
✅ Ack in a private chat edits every copy and stops the policy; 🙋 Escalate now takes the next step at
once; an on-call person who cannot be paged is reported to the admins and the policy goes on; a restart
loses no step and repeats none; every step is an entry of the incident's timeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.callbacks import EscalateCb
from bot.emulator import BotApiEmulator, ChatMessage
from helpers import FakeClock, make_sqlite
from ops.storage.tables import alerts_history, escalation_steps

BOB, CAROL = 201, 202  # on call for primary and secondary
START = FakeClock().now  # when the alert fires
PAGED = "You are paged"

CONFIG = """
targets: {{shop: "{shop}"}}
oncall:
  - {{name: primary, members: [{bob}]}}
  - {{name: secondary, members: [{carol}]}}
escalation:
  critical:
    - {{after: 0m, notify: chats}}
    - {{after: 5m, notify: "oncall:primary"}}
    - {{after: 15m, notify: "oncall:secondary"}}
    - {{after: 30m, notify: admins, repeat: 30m}}
detectors:
  - {{name: cash, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "> 1", severity: critical}}
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def start(tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock) -> Harness:
    shop = tmp_path / "shop.db"
    if not shop.exists():
        make_sqlite(shop, "CREATE TABLE t (v INT); INSERT INTO t VALUES (5);")
    for person in (BOB, CAROL):
        if person not in emulator.chats:
            emulator.add_chat(person, "private")
    config = CONFIG.format(shop=f"sqlite+aiosqlite:///{shop}", bob=BOB, carol=CAROL)
    return await start_harness(tmp_path, emulator, config, shop, clock=clock)


async def meet(h: Harness) -> None:
    """Bob and Carol started the bot in private: they can be paged."""
    await h.app.core.oncall.met(BOB, "bob", "Bob")
    await h.app.core.oncall.met(CAROL, "carol", "Carol")


async def fire(h: Harness) -> int:
    await h.sweep()
    await h.wait_cards(ALERT_CHATS[0], 1)
    async with h.app.core.db.connect() as conn:
        return int((await conn.execute(select(alerts_history.c.id))).scalar_one())


async def at(h: Harness, clock: FakeClock, minutes: float) -> None:
    """The clock at `minutes` after the alert fired, a housekeeping tick, everything delivered."""
    clock.now = START + timedelta(minutes=minutes)
    await h.app.core.housekeeping()
    await h.delivered()


def texts(h: Harness, chat: int) -> list[str]:
    return [m.text for m in h.emulator.bot_messages(chat)]


def escalations(h: Harness, chat: int) -> list[str]:
    return [t for t in texts(h, chat) if t.startswith("⏫")]


def page_of(h: Harness, person: int) -> ChatMessage:
    [page] = h.cards(person)
    return page


async def test_a_critical_unacked_climbs_primary_secondary_admins_then_admins_every_30m(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await fire(h)
        await at(h, clock, 4.9)
        assert texts(h, BOB) == [] and texts(h, CAROL) == [] and texts(h, ADMIN_CHAT) == []
        await at(h, clock, 5)
        page = page_of(h, BOB)
        assert PAGED in page.text and "on call for primary" in page.text and "unacknowledged for 5m" in page.text
        assert [b["text"] for b in page.buttons][:3] == ["✅ Ack", "🔁 Check now", "🙋 Escalate now"]
        assert texts(h, CAROL) == [] and texts(h, ADMIN_CHAT) == []
        await at(h, clock, 14)
        assert texts(h, CAROL) == []
        await at(h, clock, 15)
        assert PAGED in page_of(h, CAROL).text and "on call for secondary" in page_of(h, CAROL).text
        assert texts(h, ADMIN_CHAT) == []
        await at(h, clock, 30)
        [admin_card] = h.cards(ADMIN_CHAT)
        assert PAGED not in admin_card.text and "Escalate now" not in str(admin_card.buttons)
        assert escalations(h, ADMIN_CHAT) == ["⏫ Unacknowledged for 30m"]
        await at(h, clock, 45)
        assert escalations(h, ADMIN_CHAT) == ["⏫ Unacknowledged for 30m"]
        await at(h, clock, 60)
        assert escalations(h, ADMIN_CHAT) == ["⏫ Unacknowledged for 30m", "⏫ Unacknowledged for 1h"]
        # nothing twice: one page each, one card per group, nothing else to the people
        assert len(texts(h, BOB)) == 1 and len(texts(h, CAROL)) == 1 and len(h.cards(ADMIN_CHAT)) == 1
        assert all(len(h.cards(c)) == 1 and escalations(h, c) == [] for c in ALERT_CHATS)
    finally:
        await h.app.stop()


async def test_ack_in_a_private_chat_edits_every_copy_and_stops_the_policy(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await fire(h)
        for minutes in (5, 15, 30):
            await at(h, clock, minutes)
        answer = await h.press(page_of(h, BOB), "Ack", user_id=BOB, username="bob")
        assert answer["text"] == "Acknowledged"
        copies = (*ALERT_CHATS, BOB, CAROL, ADMIN_CHAT)
        await emulator.wait_for(lambda: all("Acknowledged by @bob" in h.cards(c)[0].text for c in copies))
        assert all("Escalate now" not in str(h.cards(c)[0].buttons) for c in copies)
        before = {c: texts(h, c) for c in copies}
        await at(h, clock, 90)  # the admins' repeat (60m) and anything else: not after an ack
        assert {c: texts(h, c) for c in copies} == before
    finally:
        await h.app.stop()


async def test_escalate_now_takes_the_next_step_at_once(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        alert = await fire(h)
        await at(h, clock, 5)
        # not on the group's card, and a forged press there by someone never paged is refused
        assert all("Escalate now" not in str(h.cards(c)[0].buttons) for c in ALERT_CHATS)
        group_card = h.cards(ALERT_CHATS[0])[0]
        query = emulator.press(ALERT_CHATS[0], group_card.message_id, EscalateCb(incident_id=alert).pack())
        await emulator.wait_for(lambda: query in emulator.callback_answers)
        assert emulator.callback_answers[query]["text"].startswith("Only the person paged for it")
        assert texts(h, CAROL) == []

        clock.now = START + timedelta(minutes=6)
        answer = await h.press(page_of(h, BOB), "Escalate now", user_id=BOB, username="bob")
        assert answer["text"] == "Escalated: step 3, oncall:secondary → @carol"
        await h.emulator.wait_for(lambda: h.cards(CAROL))
        assert "unacknowledged for 6m" in page_of(h, CAROL).text
        await at(h, clock, 15)  # step 3's own time: already taken
        assert len(texts(h, CAROL)) == 1 and texts(h, ADMIN_CHAT) == []
        await at(h, clock, 30)  # the next step keeps its time
        assert len(h.cards(ADMIN_CHAT)) == 1
        answer = await h.press(page_of(h, CAROL), "Escalate now", user_id=CAROL, username="carol")
        assert answer["text"] == "Its escalation policy has no step left."
    finally:
        await h.app.stop()


async def test_an_unpageable_person_is_reported_to_the_admins_and_the_policy_goes_on(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await h.app.core.oncall.blocked(CAROL)  # Carol blocked the bot
        await fire(h)
        await at(h, clock, 5)
        await at(h, clock, 15)
        assert texts(h, CAROL) == []
        # (The admins may also have the on-call report of who cannot be paged: `⚠️ … cannot be paged`.)
        [told] = [t for t in texts(h, ADMIN_CHAT) if t.startswith("📟")]
        assert told.startswith("📟 @carol (on call for secondary) cannot be paged: they have blocked the bot.")
        await at(h, clock, 30)
        assert len(h.cards(ADMIN_CHAT)) == 1 and escalations(h, ADMIN_CHAT) == ["⏫ Unacknowledged for 30m"]
        async with h.app.core.db.connect() as conn:
            rows = (await conn.execute(select(escalation_steps).order_by(escalation_steps.c.step))).all()
        assert [(r.step, r.target) for r in rows] == [
            (1, "chats"),
            (2, "oncall:primary"),
            (3, "oncall:secondary"),
            (4, "admins"),
        ]
        assert '"failed": "blocked"' in rows[2].detail
    finally:
        await h.app.stop()


async def test_a_restart_in_the_middle_loses_no_step_and_repeats_none(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await fire(h)
        await at(h, clock, 5)
        assert len(texts(h, BOB)) == 1
    finally:
        await h.app.stop()
    clock.now = START + timedelta(minutes=20)  # down for a while: Carol's step fell due meanwhile
    h = await start(tmp_path, emulator, clock)
    try:
        await at(h, clock, 20)
        assert len(texts(h, BOB)) == 1  # not paged again
        assert len(texts(h, CAROL)) == 1 and "unacknowledged for 20m" in page_of(h, CAROL).text
        await at(h, clock, 21)
        assert len(texts(h, CAROL)) == 1 and texts(h, ADMIN_CHAT) == []
    finally:
        await h.app.stop()
    h = await start(tmp_path, emulator, clock)
    try:
        await at(h, clock, 30)
        assert escalations(h, ADMIN_CHAT) == ["⏫ Unacknowledged for 30m"]
        assert (len(texts(h, BOB)), len(texts(h, CAROL))) == (1, 1)
    finally:
        await h.app.stop()


async def test_every_step_is_an_entry_of_the_incidents_timeline(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock
) -> None:
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        alert = await fire(h)
        await at(h, clock, 5)
        clock.now = START + timedelta(minutes=7)
        await h.press(page_of(h, BOB), "Escalate now", user_id=BOB, username="bob")
        await h.delivered()
        await at(h, clock, 30)
        async with h.app.core.db.connect() as conn:
            group = (await conn.execute(select(alerts_history.c.group_id).where(alerts_history.c.id == alert))).scalar()
        record = await h.app.core.incident_log.get(group)
        assert record is not None
        steps = [(e.kind, e.actor, e.detail.split(";")[0]) for e in record.timeline if "escala" in e.kind]
        assert steps == [
            ("escalated", None, "step 2: oncall:primary → @bob after 5m"),
            ("escalate_now", "@bob", "step 3: oncall:secondary"),
            ("escalated", None, "step 3: oncall:secondary → @carol after 7m, escalated now by @bob"),
            ("escalated", None, "step 4: admins → 1 admin chat(s) after 30m"),
        ]
        await h.command(ADMIN, f"/incident {group}", user_id=ADMIN, username="admin")
        shown = texts(h, ADMIN)[-1]
        assert "🙋" in shown and "step 2: oncall:primary → @bob" in shown
    finally:
        await h.app.stop()
