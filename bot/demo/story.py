"""The demo: a real opsbot (aiogram, scheduler, outbox, SQLite) talking to the local Bot API emulator.

The story: alerts arrive with buttons; a non-admin's admin-only press is refused; alice acks the
critical one; she asks /health, /alerts and /slo; the sales feed is repaired and its alert resolves.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.app import OpsBotApp
from bot.demo.transcript import Transcript
from bot.demo.workspace import create_workspace, fix_sales_feed
from bot.emulator import BotApiEmulator
from ops.config import load_config
from ops.settings import Settings

DEMO_TOKEN = "100000:DEMO-local-emulator-token"  # only ever sent to the local emulator
ALERTS = -1001
ALICE, BOB = 42, 77
STEP_TIMEOUT = 25.0


def run_demo(directory: str = "./opsbot-demo", interactive: bool = False) -> int:
    return asyncio.run(_demo(Path(directory), interactive))


async def _demo(directory: Path, interactive: bool) -> int:
    workspace = create_workspace(directory)
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_chat(ALERTS, "supergroup", "#ops-alerts")
    emulator.add_chat(ALICE, "private")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=DEMO_TOKEN,
        telegram_api_url=emulator.url,
        database_url=f"sqlite+aiosqlite:///{workspace['database'].resolve()}",
        alert_chat_ids=[ALERTS],
        admin_chat_ids=[],
        admin_user_ids=[ALICE],
        http_port=0,
        sweep_interval_sec=60,
    )
    config = load_config(workspace["config"], env={**settings.config_env(), **os.environ})
    transcript = Transcript(emulator, {ALERTS: "#ops-alerts", ALICE: "alice (private chat)"})
    print(f"opsbot demo — a marketplace back office watched by {len(config.detectors)} detectors.")
    print(f"Telegram is the local Bot API emulator at {emulator.url}; the team chat is #ops-alerts.")
    app = OpsBotApp(settings, config, polling_timeout=2)
    await app.start()
    try:
        if interactive:
            await _interactive(emulator, transcript, workspace["shop"])
        else:
            await _story(emulator, transcript, workspace["shop"])
    finally:
        await app.stop()
        await emulator.stop()
    print("\nDemo files:")
    print(f"  workspace   {workspace['dir'].resolve()}")
    print(f"  config      {workspace['config'].resolve()}")
    print(f"  shop data   {workspace['shop'].resolve()}")
    print(f"  opsbot db   {workspace['database'].resolve()}  (alerts, events, outbox, check results)")
    print(f"  runbooks    {(workspace['dir'] / 'runbooks').resolve()}")
    if not interactive:
        print("Drive it yourself: opsbot demo --interactive")
    return 0


async def _say(emulator: BotApiEmulator, transcript: Transcript, text: str, user: int = ALICE) -> None:
    name = "alice" if user == ALICE else "bob"
    transcript.say(name, text, ALERTS)
    before = len(emulator.bot_messages(ALERTS))
    emulator.send_text(ALERTS, text, user_id=user, username=name)
    await emulator.wait_for(lambda: len(emulator.bot_messages(ALERTS)) > before, STEP_TIMEOUT)


async def _press(emulator: BotApiEmulator, transcript: Transcript, label: str, on: str, user: int = ALICE) -> None:
    name = "alice" if user == ALICE else "bob"
    button = transcript.find(label, on)
    transcript.note(f"{name} presses {button.label} under the {on} alert")
    query = emulator.press(button.chat_id, button.message_id, button.data, user_id=user, username=name)
    await emulator.wait_for(lambda: query in emulator.callback_answers, STEP_TIMEOUT)


async def _story(emulator: BotApiEmulator, transcript: Transcript, shop: Path) -> None:
    transcript.note("opsbot starts its detectors; three of them find something wrong...")

    def cards() -> set[str]:
        return {m.text.split("\n")[0] for m in emulator.bot_messages(ALERTS) if m.buttons}

    await emulator.wait_for(lambda: len(cards()) >= 3, STEP_TIMEOUT)
    await asyncio.sleep(1.2)
    await _press(emulator, transcript, "Check now", "cash_balance", user=BOB)
    await _press(emulator, transcript, "Ack", "cash_balance")
    await emulator.wait_for(
        lambda: any("Acknowledged by @alice" in m.text for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT
    )
    for command in ("/health", "/alerts", "/slo 3"):
        await _say(emulator, transcript, command)
    transcript.note("the sales feed is repaired: fresh sales land in shop.db")
    fix_sales_feed(shop)
    await _press(emulator, transcript, "Check now", "sales_freshness")
    await emulator.wait_for(
        lambda: any("resolved after" in m.text and m.reply_to for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT
    )
    await asyncio.sleep(0.3)
    transcript.note("that's the story: every message above went through real aiogram, HTTP and SQLite.")


async def _interactive(emulator: BotApiEmulator, transcript: Transcript, shop: Path) -> None:
    print(
        "\nYou are alice (an admin) in #ops-alerts. Type a command (/help, /health, /alerts, /slo, /ack 1, /sweep),"
        "\na button's number to press it, 'fix' to repair the sales feed, or 'quit'."
    )
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip().lower() in ("quit", "exit", "q"):
            return
        text = line.strip()
        if not text:
            continue
        if text.isdigit():
            button = transcript.buttons.get(int(text))
            if button is None or (button.chat_id, button.message_id) not in emulator.messages:
                print(f"  no button {text}")
                continue
            transcript.note(f"alice presses {button.label}")
            emulator.press(button.chat_id, button.message_id, button.data, user_id=ALICE, username="alice")
        elif text.lower() == "fix":
            fix_sales_feed(shop)
            transcript.note("the sales feed is repaired; press 🔁 Check now on sales_freshness or wait a minute")
        else:
            transcript.say("alice", text, ALERTS)
            emulator.send_text(ALERTS, text, user_id=ALICE, username="alice")
