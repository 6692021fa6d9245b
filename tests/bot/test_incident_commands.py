"""Incidents in the chat: /incidents lists the open ones a chat may see, /incident shows one with its
timeline (paged under 4096 characters, whatever people wrote), /note and people's replies to a card or
messages in the incident's topic join the timeline, /postmortem sends the draft as a file, /stats and the
weekly report show MTTA and MTTR."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness

from bot.emulator import BotApiEmulator, ChatMessage
from bot.emulator.html_check import utf16_len
from bot.render.split import TELEGRAM_LIMIT
from helpers import FakeClock, make_sqlite
from ops.detectors.memory import remember
from ops.incidents.timeline import Entry
from ops.model import Actor

CHAT, OTHER_CHAT = ALERT_CHATS
START = datetime(2026, 11, 23, 12, 0, 0)  # a Monday: the weekly report is due next Monday 09:00
PAGE = re.compile(r"page (\d+) of (\d+)")


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def route_chats() -> list[int]:
    """The chats cash_balance's route sends to (a test parametrizes it for two)."""
    return [CHAT]


@pytest.fixture
async def h(
    tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock, route_chats: list[int]
) -> AsyncIterator[Harness]:
    db = tmp_path / "shop.db"
    shop = make_sqlite(
        db,
        "CREATE TABLE balances (marketplace TEXT, balance REAL);"
        "INSERT INTO balances VALUES ('wb', 500), ('ozon', 700), ('ym', 900);",
    )
    config = f"""
targets: {{shop: "{shop}"}}
routes:
  - {{match: {{detector: cash_balance}}, chats: [{", ".join(map(str, route_chats))}], group_by: [detector], group_window: 1h}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT marketplace, balance FROM balances",
      alert_if: "< 0", severity: critical}}
slos:
  - {{name: cash, objective: 99, window: 7d, sli: {{detector: cash_balance}}}}
slo_report: "mon 09:00"
"""
    emulator.keep_files = True  # /postmortem's file is read back
    harness = await start_harness(tmp_path, emulator, config, db, clock=clock)
    limiter = harness.app.limiter  # many commands in one chat: no need to wait a second between answers
    limiter.per_chat_interval = 0
    limiter.group_per_minute = 10**9
    limiter.global_per_second = 10**9
    yield harness
    await harness.app.stop()


async def fire(h: Harness, *marketplaces: str) -> tuple[int, list[ChatMessage]]:
    """These marketplaces go negative: one sweep, their cards in CHAT, the incident they share."""
    for mp in marketplaces:
        h.set_balance(mp, -5)
    await h.sweep()
    cards = await h.wait_cards(CHAT, len(marketplaces))
    [incident] = await h.app.core.incident_log.open()
    return incident.id, cards


async def until(check: Callable[[], Any], timeout: float = 10) -> Any:
    """Wait for an async condition (what the bot records without answering)."""
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
    return found


async def entries(h: Harness, incident_id: int, kind: str) -> list[Entry]:
    record = await h.app.core.incident_log.get(incident_id)
    assert record is not None
    return [e for e in record.timeline if e.kind == kind]


async def test_grouped_alerts_are_one_incident_with_their_timeline(h: Harness) -> None:
    incident_id, cards = await fire(h, "wb", "ozon")
    listed = (await h.command(CHAT, "/incidents")).text
    assert "Open incidents · 1" in listed and f"#{incident_id} · cash_balance" in listed
    assert "2 alerts" in listed and "not acknowledged" in listed
    assert "none open" in (await h.command(OTHER_CHAT, "/incidents")).text  # no alert of it went there
    assert f"#{incident_id}" in (await h.command(ADMIN_CHAT, "/incidents")).text  # admins see all

    await h.press(cards[0], "Ack")
    shown = (await h.command(CHAT, f"/incident {incident_id}")).text
    assert f"Incident #{incident_id} · cash_balance" in shown and "Severity: CRITICAL" in shown
    assert "status: acknowledged" in shown and "Acknowledged by @alice at 12:00 UTC" in shown
    assert "Alerts · 2" in shown and "cash_balance[wb]" in shown and "cash_balance[ozon]" in shown
    for step in ("joined · cash_balance", "fired · cash_balance", "notified · cash_balance", "acknowledged"):
        assert step in shown, step
    assert "opened the incident" in shown and "grouped" in shown  # the second alert joined the first's
    assert "notified · cash_balance here" in shown
    assert "acked by @alice" in (await h.command(CHAT, "/incidents")).text


async def test_a_reply_to_a_card_joins_the_timeline_and_the_postmortem(h: Harness, emulator: BotApiEmulator) -> None:
    incident_id, cards = await fire(h, "wb", "ozon")
    emulator.send_text(CHAT, "wb payouts are late again, checking the bank", reply_to=cards[0].message_id)
    await until(lambda: entries(h, incident_id, "message"))
    emulator.send_text(CHAT, "unrelated chatter")  # neither a reply nor in a topic: not the incident's

    said = await until(lambda: _at_least(h, incident_id, 1))
    assert [(e.actor, e.detail, e.chat_id) for e in said] == [
        ("@alice", "wb payouts are late again, checking the bank", CHAT),
    ]
    # A command is still a command, answered and not kept (a message in the incident's topic:
    # tests/bot/test_incident_topics.py).

    shown = (await h.command(CHAT, f"/incident {incident_id}")).text
    assert "@alice (message): wb payouts are late again, checking the bank" in shown
    assert "unrelated chatter" not in shown and f"/incident {incident_id}" not in shown

    document = await h.command(CHAT, f"/postmortem {incident_id}")
    assert document.kind == "document" and document.filename == f"incident-{incident_id}-postmortem.md"
    assert document.text.startswith(f"📝 Postmortem draft · incident #{incident_id}") and "\n" not in document.text
    assert document.content is not None
    draft = document.content.decode("utf-8")
    assert draft.startswith(f"# Postmortem: incident #{incident_id} — cash_balance")
    assert "## Notes from people" in draft
    assert "— @alice: wb payouts are late again, checking the bank" in draft


@pytest.mark.parametrize("route_chats", [[CHAT, OTHER_CHAT]])
async def test_a_postmortem_names_no_other_chat(h: Harness, emulator: BotApiEmulator) -> None:
    """Cards went to two chats; the draft /postmortem sends one of them keeps the other's id to itself,
    yet keeps what people wrote there. The API and admins see every chat."""
    incident_id, _ = await fire(h, "wb")
    [elsewhere] = await h.wait_cards(OTHER_CHAT, 1)
    emulator.send_text(OTHER_CHAT, "the bank confirmed the outage", reply_to=elsewhere.message_id)
    await until(lambda: entries(h, incident_id, "message"))
    assert (await h.command(OTHER_CHAT, f"/note {incident_id} ticket 4711 opened")).text.startswith("📝 Noted")

    document = await h.command(CHAT, f"/postmortem {incident_id}")
    assert document.content is not None
    draft = document.content.decode("utf-8")
    assert str(OTHER_CHAT) not in draft and str(CHAT) not in draft
    assert "**notified** `cash_balance` the chat it was drafted for" in draft
    assert "**notified** `cash_balance` another chat" in draft
    assert "— @alice: the bank confirmed the outage" in draft and "— @alice: ticket 4711 opened" in draft

    seen_by_all = await h.command(ADMIN_CHAT, f"/postmortem {incident_id}")
    assert seen_by_all.content is not None
    admins = seen_by_all.content.decode("utf-8")
    assert f"chat {CHAT}" in admins and f"chat {OTHER_CHAT}" in admins
    api = await h.app.core.postmortems.draft(incident_id)
    assert api is not None and f"chat {OTHER_CHAT}" in api


async def _at_least(h: Harness, incident_id: int, n: int) -> list[Entry]:
    found = await entries(h, incident_id, "message")
    return found if len(found) >= n else []


async def test_a_captioned_photo_replying_to_a_card_keeps_its_caption(h: Harness) -> None:
    """The emulator's people send only text: the photo comes as Telegram would deliver it."""
    incident_id, cards = await fire(h, "wb")
    chat = {"id": CHAT, "type": "supergroup", "title": "x"}
    bot = {"id": 0, "is_bot": True, "first_name": "opsbot", "username": "opsbot"}
    update = {
        "update_id": 900_001,
        "message": {
            "message_id": 900_001,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": 1001, "is_bot": False, "first_name": "Alice", "username": "alice"},
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 10, "height": 10}],
            "caption": "the bank's status page, 12:03",
            "reply_to_message": {"message_id": cards[0].message_id, "date": 0, "chat": chat, "from": bot, "text": "x"},
        },
    }
    assert h.app.dp is not None and h.app.bot is not None
    await h.app.dp.feed_update(h.app.bot, Update.model_validate(update, context={"bot": h.app.bot}))
    [entry] = await entries(h, incident_id, "message")
    assert (entry.actor, entry.detail) == ("@alice", "the bank's status page, 12:03")


async def test_a_note_from_an_admins_private_chat_appears(h: Harness) -> None:
    incident_id, _ = await fire(h, "wb")
    confirmed = await h.command(ADMIN, f"/note {incident_id} paged the bank's on-call\nticket 4711", user_id=ADMIN)
    assert confirmed.text == f"📝 Noted on incident #{incident_id}."
    refused = await h.command(OTHER_CHAT, f"/note {incident_id} I should not see this one")
    assert refused.text.startswith(f"No incident {incident_id} here.")
    shown = (await h.command(CHAT, f"/incident {incident_id}")).text
    assert "(note): paged the bank's on-call\nticket 4711" in shown
    [note] = await entries(h, incident_id, "note")
    assert (note.chat_id, note.detail) == (ADMIN, "paged the bank's on-call\nticket 4711")
    assert "I should not see this one" not in shown


HOSTILE = ["<b>🔥&amp;é" * 500, "&" * 5000, "🔥" * 4000, "k" * 6000, "</code><pre>" * 400]


async def test_a_200_entry_hostile_timeline_pages_under_the_limit(h: Harness, emulator: BotApiEmulator) -> None:
    incident_id, _ = await fire(h, "wb")
    log = h.app.core.incident_log
    for n in range(200):
        name = HOSTILE[n % len(HOSTILE)][:300]
        assert await log.note(incident_id, Actor(1000 + n, name), f"{n:03d} " + HOSTILE[n % len(HOSTILE)], CHAT)
    first = await h.command(CHAT, f"/incident {incident_id}")
    match = PAGE.search(first.text)
    assert match is not None and match.group(1) == "1"
    pages = int(match.group(2))
    assert pages > 10 and [b["text"] for b in first.buttons] == ["▶"]
    seen = [first.text]
    for page in range(2, pages + 1):
        await h.press(emulator.messages[(CHAT, first.message_id)], "▶")
        msg = await emulator.wait_for(lambda p=page: _on_page(emulator, first, p))
        seen.append(msg.text)
    assert [b["text"] for b in emulator.messages[(CHAT, first.message_id)].buttons] == ["◀"]
    for call in emulator.calls_to("editMessageText") + emulator.calls_to("sendMessage"):
        assert call.status == 200, call.description
        assert utf16_len(call.params["text"]) <= TELEGRAM_LIMIT  # the raw HTML, never shorter than shown
    notes = [int(m) for text in seen for m in re.findall(r"\(note\): (\d{3}) ", text)]
    assert notes == list(range(200))  # every entry, in order, on exactly one page
    await h.press(emulator.messages[(CHAT, first.message_id)], "◀")
    assert await emulator.wait_for(lambda: _on_page(emulator, first, pages - 1))


def _on_page(emulator: BotApiEmulator, first: ChatMessage, page: int) -> ChatMessage | None:
    msg = emulator.messages[(CHAT, first.message_id)]
    match = PAGE.search(msg.text)
    return msg if match is not None and int(match.group(1)) == page else None


async def test_stats_and_the_weekly_report_show_mtta_and_mttr(h: Harness, clock: FakeClock) -> None:
    assert "Overall: 0 incidents · MTTA — (0 acked) · MTTR — (0 resolved)" in (await h.command(CHAT, "/stats")).text
    incident_id, cards = await fire(h, "wb", "ozon")
    clock.advance(120)
    await h.press(cards[0], "Ack")
    clock.advance(3900 - 120)
    h.set_balance("wb", 500)
    h.set_balance("ozon", 700)
    await h.sweep()
    await until(lambda: _resolved(h, incident_id))

    stats = (await h.command(CHAT, "/stats")).text
    assert "Response times · last 7 days" in stats
    assert "Overall: 1 incident · MTTA 2m (1 acked) · MTTR 1h 5m (1 resolved)" in stats
    assert "• cash_balance: 2 alerts · MTTA 2m (1 acked) · MTTR 1h 5m (2 resolved)" in stats
    assert "last 1 day" in (await h.command(CHAT, "/stats 1d")).text
    for bad in ("/stats forever", "/stats 0", "/stats 91", "/stats 1 2"):
        assert (await h.command(CHAT, bad)).text == "Usage: /stats [days] — days from 1 to 90, default 7"

    # The weekly report, due Monday 09:00 a week after the incident, covers the week before it.
    await remember(h.app.core.db, "slo_report", "", START, {"armed": True})
    clock.now = datetime(2026, 11, 30, 9, 1)
    assert await h.app.core.report.maybe_send() is True
    await h.delivered()
    for chat in ALERT_CHATS:
        [report] = [m for m in h.emulator.bot_messages(chat) if m.text.startswith("🗓 Weekly SLO report")]
        assert "⏱ Response times · 2026-11-23 to 2026-11-30" in report.text
        assert "Overall: 1 incident · MTTA 2m (1 acked) · MTTR 1h 5m (1 resolved)" in report.text
        assert "• cash_balance: 2 alerts · MTTA 2m (1 acked) · MTTR 1h 5m (2 resolved)" in report.text
    # A week later nothing started in the week: the section says so with its counts.
    assert "Overall: 0 incidents" in (await h.command(CHAT, "/stats 1")).text


async def _resolved(h: Harness, incident_id: int) -> bool:
    record = await h.app.core.incident_log.get(incident_id)
    return record is not None and not record.incident.is_open


BAD_INPUT = [
    ("/incident", "Usage: /incident <id>"),
    ("/incident abc", "Usage: /incident <id>"),
    ("/incident 1 2", "Usage: /incident <id>"),
    ("/incident 999", "No incident 999 here. Usage: /incident <id>"),
    ("/incident ²", "Usage: /incident <id>"),
    ("/note", "Usage: /note <id> <text>"),
    ("/note 1", "Usage: /note <id> <text>"),
    ("/note abc text", "Usage: /note <id> <text>"),
    ("/note 999 text", "No incident 999 here. Usage: /note <id> <text>"),
    ("/postmortem x", "Usage: /postmortem <id>"),
    ("/postmortem", "Usage: /postmortem <id>"),
    ("/postmortem 999", "No incident 999 here. Usage: /postmortem <id>"),
]


async def test_bad_input_gets_one_clear_line(h: Harness) -> None:
    await fire(h, "wb")
    for command, starts in BAD_INPUT:
        answer = await h.command(CHAT, command)
        assert answer.text.startswith(starts) and "\n" not in answer.text, (command, answer.text)
