"""A forum topic per incident, through the emulator: a storm of related alerts is one incident in one
topic; the topic follows the incident (👀 acked, ✅ resolved and closed, reopened when it fires again);
a deleted topic is replaced; the pinned board of open incidents stays within Telegram's limits; and a
chat that is no forum, or where the bot may not manage topics, gets what it always got."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from harness import Harness, start_harness

from bot.emulator import BotApiEmulator, ChatMessage
from bot.topics.board import EDIT_EVERY
from helpers import make_sqlite, sql

FORUM = -1001  # an alert chat of the emulator fixture, made a forum by the tests that want one
KEYS = [f"k{i:03d}" for i in range(500)]


def config(url: str, *, group_by: list[str] | None = None) -> str:
    route = (
        f"\nroutes:\n  - {{match: {{team: payments}}, chats: [{FORUM}], group_by: {group_by}}}\n" if group_by else ""
    )
    return f"""
targets: {{shop: "{url}"}}
detectors:
  - {{name: queue_lag, kind: sql, target: shop, query: "SELECT k, v FROM lag ORDER BY k", alert_if: "< 0",
      severity: critical, labels: {{team: payments}}}}
{route}"""


def make_shop(tmp_path: Path, n: int) -> tuple[Path, str]:
    path = tmp_path / "lag.db"
    rows = ", ".join(f"('{k}', 5)" for k in KEYS[:n])
    return path, make_sqlite(path, f"CREATE TABLE lag (k TEXT, v REAL); INSERT INTO lag VALUES {rows};")


def fail(path: Path, keys: list[str], value: float = -5) -> None:
    for key in keys:
        sql(path, "UPDATE lag SET v = ? WHERE k = ?", (value, key))


@pytest.fixture
async def start(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Callable[..., object]]:
    """Start opsbot with FORUM as its only alert chat, `n` keys in the shop, and these settings."""
    started: list[Harness] = []

    async def go(n: int = 3, group_by: list[str] | None = None, **overrides: object) -> Harness:
        path, url = make_shop(tmp_path, n)
        h = await start_harness(
            tmp_path, emulator, config(url, group_by=group_by), path, **{"alert_chat_ids": [FORUM], **overrides}
        )
        started.append(h)
        return h

    yield go
    for h in started:
        await h.app.stop()


def general(emulator: BotApiEmulator) -> list[ChatMessage]:
    """What the bot posted in the General topic, but the board (pinned, or posted and about to be)."""
    return [
        m
        for m in emulator.topic_messages(FORUM, None)
        if m.from_bot and not m.pinned and not m.text.startswith("📋 Open incidents")
    ]


async def wait_topic(emulator: BotApiEmulator, prefix: str, closed: bool | None = None) -> None:
    def seen() -> bool:
        return any(t.name.startswith(prefix) and (closed is None or t.closed == closed) for t in emulator.topics(FORUM))

    await emulator.wait_for(seen)


async def test_a_storm_of_related_alerts_is_one_incident_in_one_topic(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    emulator.make_forum(FORUM)
    h: Harness = await start(30, group_by=["team"], group_wait_sec=1)  # type: ignore[misc]
    fail(h.shop, KEYS[:30])
    await h.sweep()
    await h.delivered()

    [topic] = emulator.topics(FORUM)
    assert topic.name == "🔴 queue_lag · k000" and topic.icon_color == 0xFB6F5F and not topic.closed
    assert len(emulator.calls_to("createForumTopic")) == 1
    [digest] = emulator.topic_messages(FORUM, topic.thread_id)
    assert "30 alerts at once" in digest.text
    [line] = general(emulator)
    assert "Incident #1: queue_lag · k000" in line.text
    assert line.html is not None and f'href="https://t.me/c/1/{topic.thread_id}"' in line.html
    # The pinned board lists the one open incident.
    await emulator.wait_for(lambda: emulator.pinned(FORUM))
    [board] = emulator.pinned(FORUM)
    assert "Open incidents: 1" in board.text and "#1 queue_lag · k000" in board.text


async def test_the_topic_follows_the_incident(start: Callable[..., object], emulator: BotApiEmulator) -> None:
    emulator.make_forum(FORUM)
    h: Harness = await start(3)  # type: ignore[misc]
    fail(h.shop, ["k001"])
    await h.sweep()
    await h.delivered()
    [topic] = emulator.topics(FORUM)
    assert topic.name == "🔴 queue_lag · k001"
    [card] = emulator.topic_messages(FORUM, topic.thread_id)
    assert card.buttons and card.thread_id == topic.thread_id

    await h.press(card, "Ack")
    await wait_topic(emulator, "👀 queue_lag · k001", closed=False)

    fail(h.shop, ["k001"], 5)
    await h.sweep()
    await wait_topic(emulator, "✅ queue_lag · k001", closed=True)
    await h.delivered()
    assert "resolved" in emulator.topic_messages(FORUM, topic.thread_id)[-1].text.lower()

    fail(h.shop, ["k001"])  # fires again within the dedup window: the same incident, its topic reopens
    await h.sweep()
    await wait_topic(emulator, "🔴 queue_lag · k001", closed=False)
    await h.delivered()
    assert [t.thread_id for t in emulator.topics(FORUM)] == [topic.thread_id]
    assert len(emulator.calls_to("createForumTopic")) == 1
    assert len(general(emulator)) == 1  # the one line that announced the incident


@pytest.mark.parametrize("forum", [False, True], ids=["group", "forum-without-the-right"])
async def test_without_a_forum_or_the_right_nothing_changes(
    start: Callable[..., object], emulator: BotApiEmulator, forum: bool
) -> None:
    if forum:
        emulator.make_forum(FORUM, topic_right=False)
    h: Harness = await start(3)  # type: ignore[misc]
    fail(h.shop, ["k000", "k002"])
    await h.sweep()
    await h.delivered()
    cards = await h.wait_cards(FORUM, 2)
    assert all(m.thread_id is None for m in emulator.bot_messages(FORUM))
    fail(h.shop, ["k000"], 5)
    await h.sweep()
    await h.delivered()
    assert emulator.calls_to("createForumTopic") == [] and emulator.calls_to("editForumTopic") == []
    assert len(cards) == 2 and "RESOLVED" in cards[0].text  # its card, redrawn as resolved

    answer = await h.command(FORUM, "/start")
    if forum:
        assert "“Manage topics”" in answer.text
    else:
        assert "Manage topics" not in answer.text
    await asyncio.sleep(2.5)  # a board tick or more: none is sent
    assert emulator.pinned(FORUM) == [] and emulator.calls_to("pinChatMessage") == []


async def test_start_in_a_forum_with_the_right_gives_no_hint(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    emulator.make_forum(FORUM)
    h: Harness = await start(3)  # type: ignore[misc]
    answer = await h.command(FORUM, "/start")
    assert "/ack" in answer.text and "Manage topics" not in answer.text


async def test_a_deleted_topic_is_replaced(start: Callable[..., object], emulator: BotApiEmulator) -> None:
    emulator.make_forum(FORUM)
    h: Harness = await start(5, group_by=["team"])  # type: ignore[misc]
    fail(h.shop, ["k000"])
    await h.sweep()
    await h.delivered()
    [first] = emulator.topics(FORUM)
    emulator.delete_topic(FORUM, first.thread_id)

    fail(h.shop, ["k001"])  # joins the same incident: its card finds the topic gone
    await h.sweep()
    await h.delivered()
    [second] = emulator.topics(FORUM)
    assert second.thread_id != first.thread_id and second.name == "🔴 queue_lag · k000"
    lines = general(emulator)
    assert any("queue_lag" in m.text and "k001" in m.text and m.buttons for m in lines)  # the card, in General
    assert sum("Incident #1" in m.text for m in lines) == 2  # announced again, with the new topic's link

    fail(h.shop, ["k002"])
    await h.sweep()
    await h.delivered()
    [card] = emulator.topic_messages(FORUM, second.thread_id)
    assert "k002" in card.text


async def test_a_board_sent_but_not_yet_pinned_when_the_leader_stops_is_pinned_by_the_next(
    start: Callable[..., object], emulator: BotApiEmulator, tmp_path: Path
) -> None:
    """A leader stopping (or losing its database connection) between the board's send and its pin: the
    next leader pins that board, not another (seen in CI: a board sent, never pinned, as its text was current)."""
    emulator.make_forum(FORUM)
    h: Harness = await start(3)  # type: ignore[misc]
    pin = emulator.fail("pinChatMessage", "hang", hang_seconds=60, chat_id=FORUM)
    fail(h.shop, ["k000"])
    await h.sweep()
    await emulator.wait_for(lambda: pin.hits, timeout=30)
    await h.app.stop()
    emulator.clear_faults()
    restarted = await start_harness(tmp_path, emulator, config(f"sqlite+aiosqlite:///{h.shop}"), h.shop)
    try:
        [board] = await emulator.wait_for(lambda: emulator.pinned(FORUM), timeout=30)
        sent = [m for m in emulator.topic_messages(FORUM, None) if m.text.startswith("📋 Open incidents")]
        assert [m.message_id for m in sent] == [board.message_id]
    finally:
        await restarted.app.stop()


@pytest.mark.parametrize("fault", ["forbidden", "server_error"])
async def test_one_chat_refusing_its_board_leaves_the_others_boards_current(
    start: Callable[..., object], emulator: BotApiEmulator, fault: str
) -> None:
    """Boards are edited chat by chat (-1002 before -1001): the bot kicked from one chat, or Telegram
    failing there, does not stop the other chat's board from following its incidents."""
    other = -1002
    emulator.make_forum(FORUM)
    emulator.make_forum(other)
    h: Harness = await start(3, alert_chat_ids=[FORUM, other])  # type: ignore[misc]
    seconds = [0.0]
    h.app.boards.clock = lambda: seconds[0]  # type: ignore[union-attr]  # the boards' EDIT_EVERY, controlled
    fail(h.shop, ["k000"])
    await h.sweep()
    await h.delivered()

    def pinned(chat: int) -> bool:
        seconds[0] += 1  # the boards' clock moves while we wait: a first board the limits put off is retried
        return bool(emulator.pinned(chat))

    for chat in (FORUM, other):
        await emulator.wait_for(lambda c=chat: pinned(c), timeout=30)
    emulator.fail("editMessageText", fault, times=10**6, chat_id=other)
    fail(h.shop, ["k001"])
    await h.sweep()
    await h.delivered()
    seconds[0] += EDIT_EVERY + 1
    await emulator.wait_for(lambda: "Open incidents: 2" in emulator.pinned(FORUM)[0].text)
    assert "Open incidents: 1" in emulator.pinned(other)[0].text


async def test_the_board_stays_within_the_limits_in_a_storm(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    emulator.make_forum(FORUM)
    h: Harness = await start(500, group_wait_sec=0.5)  # type: ignore[misc]
    limiter = h.app.limiter  # Telegram's limits loosened: the board's own 10 s is what is tested
    limiter.per_chat_interval, limiter.group_per_minute, limiter.global_per_second = 0.01, 100_000, 100_000
    fail(h.shop, KEYS)
    await h.sweep()
    await emulator.wait_for(lambda: emulator.pinned(FORUM), timeout=30)
    [board] = emulator.pinned(FORUM)
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.5 * EDIT_EVERY
    n = 0
    while loop.time() < end:  # the storm goes on: alerts resolve and fire, the board has news every second
        fail(h.shop, KEYS[n * 10 : n * 10 + 10], 5)
        await h.sweep()
        n += 1
        await asyncio.sleep(1)
    edits = [c for c in emulator.calls_to("editMessageText") if int(c.params["message_id"]) == board.message_id]
    assert len(edits) >= 2
    starts = [c.at for c in edits]
    assert all(b - a >= EDIT_EVERY for a, b in itertools.pairwise(starts)), starts
    assert len(board.text) <= 4096 and re.search(r"… and \d+ more$", board.text)
    shown = re.match(r"📋 Open incidents: (\d+)", board.text)
    assert shown is not None and 500 - 10 * n <= int(shown[1]) < 500  # the news, at most 10 s late
    assert emulator.pinned(FORUM) == [board] and len(emulator.calls_to("pinChatMessage")) == 1
    assert all(m.thread_id is None for m in emulator.bot_messages(FORUM))  # storm digests of many: General
    assert emulator.calls_to("createForumTopic") == []


async def test_what_people_write_in_the_topic_joins_the_timeline_and_the_postmortem(
    start: Callable[..., object], emulator: BotApiEmulator
) -> None:
    emulator.keep_files = True  # /postmortem's file is read back
    emulator.make_forum(FORUM)
    h: Harness = await start(3)  # type: ignore[misc]
    fail(h.shop, ["k002"])
    await h.sweep()
    await h.delivered()
    [topic] = emulator.topics(FORUM)  # opened by the bot for incident #1

    emulator.send_text(FORUM, "restarting the consumer of k002", message_thread_id=topic.thread_id, username="bob")
    log = h.app.core.incident_log

    async def said() -> bool:
        record = await log.get(1)
        return record is not None and any(e.kind == "message" for e in record.timeline)

    for _ in range(200):
        if await said():
            break
        await asyncio.sleep(0.05)
    shown = (await h.command(FORUM, "/incident 1")).text
    assert "@bob (message): restarting the consumer of k002" in shown
    document = await h.command(FORUM, "/postmortem 1")
    assert document.content is not None
    assert "— @bob: restarting the consumer of k002" in document.content.decode("utf-8")
