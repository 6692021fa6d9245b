"""The emulator's forum topics and pins, seen through a real aiogram Bot: what Telegram answers, and what
a person in the chat would see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import BufferedInputFile

from bot.emulator import BotApiEmulator

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"
FORUM = -1001
GROUP = -1002
RED = 0xFB6F5F


async def _bot(emulator: BotApiEmulator) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.url)))


@pytest.fixture
async def world() -> AsyncIterator[tuple[BotApiEmulator, Bot]]:
    emulator = BotApiEmulator(control=True)
    await emulator.start()
    emulator.make_forum(FORUM)
    emulator.add_chat(GROUP)
    bot = await _bot(emulator)
    yield emulator, bot
    await bot.session.close()
    await emulator.stop()


async def test_get_chat_tells_a_forum_from_a_group(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    forum, group = await bot.get_chat(FORUM), await bot.get_chat(GROUP)
    assert (forum.type, forum.is_forum) == ("supergroup", True)
    assert (group.type, group.is_forum) == ("supergroup", None)
    me = await bot.get_chat_member(FORUM, 123456)
    assert me.status == "administrator" and me.can_manage_topics is True  # type: ignore[union-attr]
    emulator.revoke_topic_right(FORUM)
    me = await bot.get_chat_member(FORUM, 123456)
    assert me.can_manage_topics is False  # type: ignore[union-attr]


async def test_a_topic_is_created_renamed_closed_and_reopened(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    topic = await bot.create_forum_topic(FORUM, "🔴 cash_balance · wb", icon_color=RED)
    assert (topic.name, topic.icon_color) == ("🔴 cash_balance · wb", RED)
    card = await bot.send_message(FORUM, "cash_balance fired", message_thread_id=topic.message_thread_id)
    assert (card.message_thread_id, card.is_topic_message) == (topic.message_thread_id, True)
    assert card.reply_to_message is not None and card.reply_to_message.forum_topic_created is not None
    assert card.reply_to_message.forum_topic_created.name == "🔴 cash_balance · wb"

    assert await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="👀 cash_balance · wb") is True
    assert await bot.close_forum_topic(FORUM, topic.message_thread_id) is True
    [seen] = emulator.topics(FORUM)
    assert (seen.name, seen.icon_color, seen.closed) == ("👀 cash_balance · wb", RED, True)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(FORUM, topic.message_thread_id)
    assert await bot.reopen_forum_topic(FORUM, topic.message_thread_id) is True
    assert not emulator.topics(FORUM)[0].closed
    with pytest.raises(TelegramBadRequest, match="TOPIC_ID_INVALID"):
        await bot.close_forum_topic(FORUM, 9999)

    photo = await bot.send_photo(
        FORUM, BufferedInputFile(b"\x89PNG....", "graph.png"), message_thread_id=topic.message_thread_id
    )
    assert photo.message_thread_id == topic.message_thread_id
    assert [m.text for m in emulator.topic_messages(FORUM, topic.message_thread_id)] == ["cash_balance fired", ""]
    general = await bot.send_message(FORUM, "new incident")
    assert general.message_thread_id is None and emulator.topic_messages(FORUM, None)[-1].text == "new incident"


async def test_sends_to_a_missing_closed_or_deleted_topic_fail_as_telegram_does(
    world: tuple[BotApiEmulator, Bot],
) -> None:
    emulator, bot = world
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(FORUM, "x", message_thread_id=777)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(FORUM, "x", message_thread_id=1)  # the General topic is no thread to name

    # A closed topic takes messages only from its creator and from those with the right.
    theirs = emulator.add_topic(FORUM, "people's topic", closed=True)
    emulator.revoke_topic_right(FORUM)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(FORUM, "x", message_thread_id=theirs.thread_id)
    emulator.grant_topic_right(FORUM)
    assert (await bot.send_message(FORUM, "x", message_thread_id=theirs.thread_id)).message_thread_id

    topic = await bot.create_forum_topic(FORUM, "incident 7")
    card = await bot.send_message(FORUM, "card", message_thread_id=topic.message_thread_id)
    emulator.delete_topic(FORUM, topic.message_thread_id)
    assert [t.name for t in emulator.topics(FORUM)] == ["people's topic"]
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(FORUM, "resolved", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("card, edited", chat_id=FORUM, message_id=card.message_id)


async def test_without_the_right_or_a_forum_topics_are_refused(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    with pytest.raises(TelegramBadRequest, match="Bad Request: the chat is not a forum"):
        await bot.create_forum_topic(GROUP, "incident")
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(GROUP, "x", message_thread_id=5)

    own = await bot.create_forum_topic(FORUM, "made while allowed")
    theirs = emulator.add_topic(FORUM, "a person's topic")
    emulator.revoke_topic_right(FORUM)
    with pytest.raises(TelegramBadRequest, match="Bad Request: not enough rights to create a topic"):
        await bot.create_forum_topic(FORUM, "incident")
    with pytest.raises(TelegramBadRequest, match="Bad Request: not enough rights to edit the topic"):
        await bot.edit_forum_topic(FORUM, theirs.thread_id, name="mine now")
    with pytest.raises(TelegramBadRequest, match="Bad Request: not enough rights to close or open the topic"):
        await bot.close_forum_topic(FORUM, theirs.thread_id)
    # Its own topic the bot may still rename and close, as the Bot API docs say.
    assert await bot.edit_forum_topic(FORUM, own.message_thread_id, name="✅ made while allowed")
    assert await bot.close_forum_topic(FORUM, own.message_thread_id)
    assert [(t.name, t.closed) for t in emulator.topics(FORUM)] == [
        ("✅ made while allowed", True),
        ("a person's topic", False),
    ]


async def test_pins(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    board = await bot.send_message(FORUM, "open incidents: none")
    assert await bot.pin_chat_message(FORUM, board.message_id, disable_notification=True) is True
    assert [m.message_id for m in emulator.pinned(FORUM)] == [board.message_id]
    with pytest.raises(TelegramBadRequest, match="message to pin not found"):
        await bot.pin_chat_message(FORUM, 4242)
    assert await bot.unpin_chat_message(FORUM, message_id=board.message_id) is True
    assert emulator.pinned(FORUM) == []
    with pytest.raises(TelegramBadRequest, match="message to unpin not found"):
        await bot.unpin_chat_message(FORUM, message_id=board.message_id)


async def test_a_persons_reply_in_a_topic_reaches_the_bot(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    topic = await bot.create_forum_topic(FORUM, "incident 3")
    card = await bot.send_message(FORUM, "card", message_thread_id=topic.message_thread_id)
    # A bot's reply without message_thread_id lands in the replied message's topic.
    answer = await bot.send_message(FORUM, "noted", reply_to_message_id=card.message_id)
    assert answer.message_thread_id == topic.message_thread_id

    emulator.send_text(FORUM, "restarted the exporter", message_thread_id=topic.message_thread_id)
    emulator.send_text(FORUM, "looks fine now", reply_to=card.message_id, user_id=1002, username="bob")
    updates = await bot.get_updates(timeout=0)
    written, replied = updates[-2].message, updates[-1].message
    assert written is not None and replied is not None
    assert (written.text, written.message_thread_id, written.is_topic_message) == (
        "restarted the exporter",
        topic.message_thread_id,
        True,
    )
    assert written.reply_to_message is not None and written.reply_to_message.forum_topic_created is not None
    assert replied.message_thread_id == topic.message_thread_id
    assert replied.reply_to_message is not None and replied.reply_to_message.message_id == card.message_id
    assert [m.text for m in emulator.topic_messages(FORUM, topic.message_thread_id)] == [
        "card",
        "noted",
        "restarted the exporter",
        "looks fine now",
    ]


async def test_the_control_api_shows_and_sets_topics(world: tuple[BotApiEmulator, Bot]) -> None:
    emulator, bot = world
    topic = await bot.create_forum_topic(FORUM, "incident 9", icon_color=RED)
    async with aiohttp.ClientSession(base_url=emulator.url) as http:
        async with http.get(f"/_emulator/chats/{FORUM}/topics") as resp:
            assert await resp.json() == [
                {"message_thread_id": topic.message_thread_id, "name": "incident 9", "icon_color": RED, "closed": False}
            ]
        body = {"text": "on it", "message_thread_id": topic.message_thread_id}
        async with http.post(f"/_emulator/chats/{FORUM}/messages", json=body) as resp:
            assert resp.status == 201 and (await resp.json())["thread_id"] == topic.message_thread_id
        async with http.post(
            f"/_emulator/chats/{FORUM}/messages", json={"text": "x", "message_thread_id": 404}
        ) as resp:
            assert resp.status == 404
        async with http.post(f"/_emulator/chats/{GROUP}/forum", json={"is_forum": True, "topic_right": False}) as resp:
            assert resp.status == 200
        async with http.delete(f"/_emulator/chats/{FORUM}/topics/{topic.message_thread_id}") as resp:
            assert resp.status == 204
        async with http.get("/_emulator/chats") as resp:
            chats = {c["id"]: c for c in await resp.json()}
    assert (chats[GROUP]["is_forum"], chats[GROUP]["topic_right"]) == (True, False)
    assert emulator.topics(FORUM) == []
    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(GROUP, "x")


async def test_creating_a_topic_counts_against_the_flood_limits() -> None:
    """A topic's creation posts a message into the group, so it spends the chat's burst like a send."""
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    emulator.make_forum(FORUM)
    bot = await _bot(emulator)
    try:
        await bot.create_forum_topic(FORUM, "one")
        await bot.create_forum_topic(FORUM, "two")
        await bot.send_message(FORUM, "three")
        with pytest.raises(TelegramRetryAfter):
            await bot.create_forum_topic(FORUM, "four")
        assert emulator.limits is not None and (emulator.limits.accepted, emulator.limits.refused) == (3, 1)
    finally:
        await bot.session.close()
        await emulator.stop()
