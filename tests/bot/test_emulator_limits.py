"""The emulator's Telegram-limits mode: 429 with retry_after past Telegram's flood limits."""

from __future__ import annotations

import aiohttp
import pytest

from bot.emulator import BotApiEmulator
from bot.emulator.limits import FloodLimits

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"


def test_per_chat_bursts_of_three_then_one_per_second() -> None:
    limits = FloodLimits()
    assert [limits.check(7, 0.0) for _ in range(3)] == [None, None, None]
    assert limits.check(7, 0.1) == 1
    assert limits.check(8, 0.1) is None  # another chat is not held up
    assert limits.check(7, 1.2) is None
    assert (limits.accepted, limits.refused) == (5, 1)


def test_twenty_per_minute_in_a_group_and_thirty_per_second_overall() -> None:
    limits = FloodLimits()
    for n in range(20):
        assert limits.check(-100, n * 1.0) is None
    assert limits.check(-100, 20.0) == 40  # the first of the 20 leaves the window at 60 s
    assert limits.check(-100, 60.5) is None
    overall = FloodLimits()
    assert all(overall.check(chat, 0.0) is None for chat in range(1, 31))
    assert overall.check(31, 0.5) == 1


async def test_the_http_answer_is_telegrams_429() -> None:
    emulator = BotApiEmulator(telegram_limits=True)
    await emulator.start()
    emulator.add_chat(-100)
    try:
        async with aiohttp.ClientSession() as http:
            answers = []
            for _ in range(4):
                async with http.post(
                    f"{emulator.url}/bot{TOKEN}/sendMessage", json={"chat_id": -100, "text": "hi"}
                ) as resp:
                    answers.append((resp.status, await resp.json()))
        assert [status for status, _ in answers] == [200, 200, 200, 429]
        assert answers[3][1]["parameters"] == {"retry_after": 1}
        assert emulator.limits is not None and (emulator.limits.accepted, emulator.limits.refused) == (3, 1)
    finally:
        await emulator.stop()


async def test_text_is_measured_as_telegram_measures_it() -> None:
    """In UTF-16 code units (an emoji is two) of the text after its HTML is parsed (`&amp;` is one);
    an entity with nothing in it is dropped, as Telegram's parser drops it, and a message with no text
    left is refused as empty."""
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_chat(-100)
    cases = [
        ("🔥" * 2048, 200, ""),
        ("🔥" * 2049, 400, "Bad Request: message is too long"),
        ("&amp;" * 4096, 200, ""),
        ("a" * 4097, 400, "Bad Request: message is too long"),
        ("<b>runbook</b>\n<pre></pre>", 200, ""),
        ("<pre></pre>", 400, "Bad Request: message text is empty"),
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for text, status, description in cases:
                async with http.post(
                    f"{emulator.url}/bot{TOKEN}/sendMessage",
                    json={"chat_id": -100, "text": text, "parse_mode": "HTML"},
                ) as resp:
                    body = await resp.json()
                    assert (resp.status, body.get("description", "")) == (status, description), text[:20]
    finally:
        await emulator.stop()
