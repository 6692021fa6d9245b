"""Fuzz every command's arguments and arbitrary callback_data, from configured and unknown chats,
through the real dispatcher and the real bot against the emulator: no exception escapes a handler,
every reply is accepted by Telegram (so fits 4096 characters and parses), no traceback or token
reaches a chat, and forged callback_data changes nothing."""

from __future__ import annotations

import itertools
import logging
import re
import time

import pytest
from aiogram.types import Update
from harness import ADMIN, ALERT_CHATS, STRANGER_CHAT, TOKEN, Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMANDS = [
    "/start",
    "/help",
    "/health",
    "/alerts",
    "/slo",
    "/ack",
    "/detectors",
    "/sweep",
    "/remediate",
    "/runbook",
    "/remediations",
    "/silence",
    "/silences",
    "/unsilence",
    "/incidents",
    "/incident",
    "/note",
    "/postmortem",
    "/stats",
    "/oncall",
    "/nonsense",
]
ARG = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "critical",
            "999999999999999999999",
            "-1",
            "#",
            "#zzzz",
            "#a1b2",
            "1h",
            "0",
            "90d",
            "a=b",
            "<b>",
            "&amp;",
            "cash_balance",
            "slo:x",
            "7d",
            "1 2 3",
        ]
    ),
)
FORGED = st.one_of(
    st.text(max_size=64),
    st.from_regex(r"\A(a1|r1|z1|p1|s1|i1):[a-z]{0,5}:-?[0-9]{0,12}(:[0-9]{0,5})?\Z"),
    st.from_regex(r"\Ac1:(yes|no|[a-z]{0,4}):[A-Za-z0-9_:-]{0,40}\Z"),  # confirmations: made-up tokens
)
VALID_ACTIONS = re.compile(r"^(a1:(ack|unack|rb|chk)|r1:ask|z1:(1h|res)):\d+$|^p1:|^s1:")
_ids = itertools.count(10_000)


def message_update(chat_id: int, user_id: int, text: str) -> dict:
    chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": "x"}
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": chat,
            "text": text,
            "from": {"id": user_id, "is_bot": False, "first_name": "F", "username": "fuzzer"},
        },
    }


def callback_update(chat_id: int, user_id: int, data: str, message_id: int) -> dict:
    chat = {"id": chat_id, "type": "supergroup", "title": "x"}
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "chat_instance": "ci",
            "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "F"},
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "text": "card",
                "from": {"id": 123456, "is_bot": True, "first_name": "opsbot"},
            },
        },
    }


@pytest.fixture
async def fuzz(harness: Harness, caplog: pytest.LogCaptureFixture):
    harness.app.limiter.per_chat_interval = 0  # the fuzzer sends far faster than any chat would
    harness.app.limiter.group_per_minute = 10**9
    harness.app.limiter.global_per_second = 10**9
    harness.set_balance("wb", -20000)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    caplog.set_level(logging.ERROR, logger="bot.app")
    return harness, card, caplog


async def feed(h: Harness, update: dict) -> None:
    assert h.app.dp is not None and h.app.bot is not None
    await h.app.dp.feed_update(h.app.bot, Update.model_validate(update, context={"bot": h.app.bot}))


def assert_clean(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if "handler failed" in r.getMessage()], caplog.text
    refused = [c for c in h.emulator.calls if c.status != 200 and c.method != "getUpdates"]
    assert refused == [], [(c.method, c.description) for c in refused]
    for (_chat, _), msg in h.emulator.messages.items():
        if msg.from_bot:
            assert "Traceback" not in msg.text and TOKEN not in msg.text and "Something went wrong" not in msg.text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(COMMANDS),
    st.lists(ARG, max_size=3),
    st.sampled_from([ALERT_CHATS[0], STRANGER_CHAT, ADMIN]),
    st.sampled_from([ADMIN, 7]),
)
async def test_fuzz_commands(fuzz, command: str, args: list[str], chat: int, user: int) -> None:
    h, _, caplog = fuzz
    await feed(h, message_update(chat, user, " ".join([command, *args])))
    assert_clean(h, caplog)
    assert not [m for m in h.emulator.bot_messages(STRANGER_CHAT) if "not configured" not in m.text]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(FORGED, st.sampled_from([ALERT_CHATS[0], STRANGER_CHAT]), st.sampled_from([ADMIN, 7]))
async def test_fuzz_callback_data_changes_nothing(fuzz, data: str, chat: int, user: int) -> None:
    h, card, caplog = fuzz
    if VALID_ACTIONS.match(data) and chat != STRANGER_CHAT:
        data = "a1:ack:999999"  # a real action on a real alert is not a forgery; aim at a missing one
    await feed(h, callback_update(chat, user, data, card.message_id))
    assert_clean(h, caplog)
    incident = await h.app.core.incidents.get(1)
    assert incident is not None and incident.status.value == "firing" and incident.muted is None
    assert await h.app.core.remediation.recent_runs() == []
