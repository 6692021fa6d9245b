"""Every command answers in a configured chat, with usage lines for bad arguments, and reveals
nothing in a chat that is not configured."""

from __future__ import annotations

import asyncio

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, STRANGER_CHAT, TOKEN, Harness

COMMANDS = [
    "/help",
    "/health",
    "/alerts",
    "/alerts critical 5",
    "/slo",
    "/slo 30",
    "/detectors",
    "/ack 1",
    "/incidents",
    "/incident 1",
    "/note 1 hello",
    "/postmortem 1",
    "/stats",
    "/sweep",
]


async def test_commands_are_registered_with_telegram(harness: Harness) -> None:
    await harness.emulator.wait_for(lambda: harness.emulator.commands)  # the poller sets them as it starts
    names = [c["command"] for c in harness.emulator.commands]
    assert names == [
        "start",
        "help",
        "health",
        "alerts",
        "slo",
        "oncall",
        "ack",
        "incidents",
        "incident",
        "note",
        "postmortem",
        "stats",
        "detectors",
        "remediate",
        "runbook",
        "remediations",
        "silence",
        "silences",
        "unsilence",
        "sweep",
        "backtest",
        "reload",
        "console",
    ]


async def test_start_in_an_unconfigured_chat_gives_its_id_and_nothing_else(harness: Harness) -> None:
    answer = await harness.command(STRANGER_CHAT, "/start")
    assert str(STRANGER_CHAT) in answer.text and "ALERT_CHAT_IDS" in answer.text
    assert "cash_balance" not in answer.text


@pytest.mark.parametrize("command", COMMANDS)
async def test_unconfigured_chat_gets_no_answer(harness: Harness, command: str) -> None:
    harness.emulator.send_text(STRANGER_CHAT, command)
    harness.emulator.send_text(ALERT_CHATS[0], "/help")  # a marker: once answered, the first was handled
    await harness.emulator.wait_for(lambda: harness.emulator.bot_messages(ALERT_CHATS[0]))
    await asyncio.sleep(0.1)
    assert harness.emulator.bot_messages(STRANGER_CHAT) == []


async def test_button_press_from_an_unconfigured_chat_reveals_nothing(harness: Harness) -> None:
    harness.set_balance("wb", -20000)
    await harness.sweep()
    card = (await harness.wait_cards(ALERT_CHATS[0], 1))[0]
    harness.emulator.messages[(STRANGER_CHAT, 99)] = type(card)(
        STRANGER_CHAT, 99, card.text, card.html, True, None, card.reply_markup
    )
    query = harness.emulator.press(STRANGER_CHAT, 99, card.button("Ack")["callback_data"])
    await harness.emulator.wait_for(lambda: query in harness.emulator.callback_answers)
    assert harness.emulator.callback_answers[query]["text"] is None
    incident = await harness.app.core.incidents.get(1)
    assert incident is not None and incident.status.value == "firing"


async def test_health_lists_every_detector_and_the_view_counts(harness: Harness) -> None:
    harness.set_balance("wb", -20000)
    await harness.sweep()
    answer = await harness.command(ALERT_CHATS[0], "/health")
    assert "cash_balance · FIRING" in answer.text and "shop_size · ok" in answer.text
    assert "Alerts last hour: 1" in answer.text and "critical (24h): 1" in answer.text


async def test_alerts_lists_incidents_sent_to_this_chat_and_pages(harness: Harness) -> None:
    for i in range(12):
        harness.set_balance("wb", -20000 - i)
        await harness.sweep()
        harness.set_balance("wb", 5)
        await harness.sweep()
    await harness.delivered()  # the answer below is the next message, not a reply still queued
    page = await harness.command(ALERT_CHATS[0], "/alerts")
    # Fire/resolve within the dedup window reopens one incident: flapping does not page again.
    assert "1–1 of 1" in page.text
    admin_page = await harness.command(ADMIN_CHAT, "/alerts critical 5")
    assert "of 1" in admin_page.text
    stranger_view = await harness.command(ADMIN, "/alerts", user_id=ADMIN, username="admin")
    assert "cash_balance[wb]" in stranger_view.text


async def test_alerts_paging_buttons(harness: Harness) -> None:
    harness.app.settings.alert_dedup_window_sec = 0
    for i in range(4):
        harness.set_balance("wb", -20000 - i)
        await harness.sweep()
        harness.set_balance("wb", 5)
        await harness.sweep()
    first = await harness.command(ADMIN_CHAT, "/alerts 3")
    assert "1–3 of 4" in first.text and [b["text"] for b in first.buttons] == ["Older ▶"]
    await harness.press(first, "Older")
    await harness.emulator.wait_for(
        lambda: "4–4 of 4" in harness.emulator.messages[(ADMIN_CHAT, first.message_id)].text
    )
    assert [b["text"] for b in harness.emulator.messages[(ADMIN_CHAT, first.message_id)].buttons] == ["◀ Newer"]


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/alerts bogus", "Usage: /alerts"),
        ("/alerts critical 500", "Usage: /alerts"),
        ("/alerts 1 2 3", "Usage: /alerts"),
        ("/slo x", "Usage: /slo"),
        ("/slo 0", "Usage: /slo"),
        ("/slo 91", "Usage: /slo"),
        ("/ack", "Usage: /ack"),
        ("/ack <b>", "Usage: /ack"),
        ("/ack 99999", "No alert 99999 here. Usage: /ack"),  # /ack takes an alert's id, not an incident's
        # Digits are ASCII digits: "²" is no number (int() refuses it) and "٥" is not 5.
        ("/ack ²", "Usage: /ack"),
        ("/ack ٥", "Usage: /ack"),
        ("/alerts ²", "Usage: /alerts"),
        ("/alerts ٥", "Usage: /alerts"),
        ("/remediations ²", "Usage: /remediations"),
        ("/unsilence ²", "Usage: /unsilence"),
        ("/slo ²", "Usage: /slo"),
        ("/slo ٥", "Usage: /slo"),
        ("/nonsense", "Unknown command"),
    ],
)
async def test_bad_arguments_get_one_usage_line(harness: Harness, command: str, usage: str) -> None:
    answer = await harness.command(ALERT_CHATS[0], command)
    assert usage in answer.text and "Traceback" not in answer.text and TOKEN not in answer.text


async def test_help_says_alerts_lists_alerts(harness: Harness) -> None:
    """/alerts lists alerts (cards say `alert 17 · incident #3`); incidents are /incidents'."""
    text = (await harness.command(ALERT_CHATS[0], "/help")).text
    assert "Recent alerts: /alerts [severity] [N]" in text and "Recent incidents" not in text


async def test_slo_reports_compliance_per_day(harness: Harness) -> None:
    await harness.sweep()
    harness.set_balance("wb", -20000)
    await harness.sweep()
    answer = await harness.command(ALERT_CHATS[0], "/slo 3")
    assert "last 3 day(s)" in answer.text
    assert "cash_balance: 75.00% of 4 checks" in answer.text and "shop_size: 100.00% of 2 checks" in answer.text


async def test_ack_command_and_sweep_is_for_admins(harness: Harness) -> None:
    harness.set_balance("wb", -20000)
    await harness.sweep()
    await harness.wait_cards(ALERT_CHATS[0], 1)
    answer = await harness.command(ALERT_CHATS[0], "/ack 1", user_id=5, username="dave")
    assert answer.text.startswith("Acknowledged")
    await harness.emulator.wait_for(lambda: "Acknowledged by @dave" in harness.cards(ALERT_CHATS[0])[0].text)
    refused = await harness.command(ALERT_CHATS[0], "/sweep", user_id=5)
    assert refused.text == "Only admins can run /sweep."
    done = await harness.command(ALERT_CHATS[0], "/sweep", user_id=ADMIN, username="admin")
    assert "Sweep: 3 checks, 1 failing" in done.text


async def test_detectors_lists_the_config(harness: Harness) -> None:
    answer = await harness.command(ALERT_CHATS[1], "/detectors")
    assert "cash_balance · sql · every 5m" in answer.text and "shop_size · db_size" in answer.text
