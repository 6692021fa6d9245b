"""The demo: a real opsbot (aiogram, scheduler, outbox, database) talking to the local Bot API emulator.

The story: alerts arrive with buttons; a non-admin's admin-only press is refused; alice acks one;
she asks /health, /alerts and /slo; something is repaired and its alert resolves.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.app import OpsBotApp
from bot.demo.transcript import Transcript
from bot.demo.workspace import DEMO_EVERY, DemoError, Workspace, after_migrations, create_workspace, postgres_from_env
from bot.emulator import BotApiEmulator
from ops.config import load_config
from ops.settings import Settings

DEMO_TOKEN = "100000:DEMO-local-emulator-token"  # only ever sent to the local emulator
ALERTS = -1001
ALICE, BOB = 42, 77
STEP_TIMEOUT = 25.0


def run_demo(
    directory: str = "./opsbot-demo",
    interactive: bool = False,
    example: str = "marketplace",
    postgres: str | None = None,
) -> int:
    try:
        return asyncio.run(_demo(Path(directory), interactive, example, postgres or postgres_from_env()))
    except DemoError as exc:
        print(f"opsbot demo: {exc}", file=sys.stderr)
        return 2


async def _demo(directory: Path, interactive: bool, example: str, postgres: str | None) -> int:
    workspace = await create_workspace(directory, example, postgres)
    try:
        return await _play(workspace, interactive)
    finally:
        await workspace.close()


async def _play(workspace: Workspace, interactive: bool) -> int:
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_chat(ALERTS, "supergroup", "#ops-alerts")
    emulator.add_chat(ALICE, "private")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=DEMO_TOKEN,
        telegram_api_url=emulator.url,
        database_url=workspace.database_url,
        alert_chat_ids=[ALERTS],
        admin_chat_ids=[],
        admin_user_ids=[ALICE],
        http_port=0,
        sweep_interval_sec=60,
        group_threshold=0,  # the story presses buttons on each alert's own card, so no storm digests here
    )
    config = load_config(workspace.config, env={**settings.config_env(), **os.environ, **workspace.env})
    config = config.model_copy(
        update={"detectors": [d.model_copy(update={"every": DEMO_EVERY}) for d in config.detectors]}
    )
    transcript = Transcript(emulator, {ALERTS: "#ops-alerts", ALICE: "alice (private chat)"})
    print(f"opsbot demo — the {workspace.name} example, watched by {len(config.detectors)} detectors.")
    print(f"Telegram is the local Bot API emulator at {emulator.url}; the team chat is #ops-alerts.")
    print(f"Time-lapse: every detector runs every {DEMO_EVERY:g} s.")
    app = OpsBotApp(settings, config, polling_timeout=2)
    await app.core.migrate()
    await after_migrations(workspace)
    await app.start()
    try:
        if interactive:
            await _interactive(emulator, transcript, workspace)
        else:
            await _story(emulator, transcript, workspace)
    finally:
        await app.stop()
        await emulator.stop()
    print("\nDemo files:")
    print(f"  workspace   {workspace.directory.resolve()}")
    print(f"  config      {workspace.config}")
    print(f"  data        {workspace.target_url.split('@')[-1]}")
    opsbot_db = workspace.database_url.removeprefix("sqlite+aiosqlite:///")
    print(f"  opsbot db   {opsbot_db}  (alerts, events, outbox, check results)")
    print(f"  runbooks    {workspace.config.parent / 'runbooks'}")
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


async def _story(emulator: BotApiEmulator, transcript: Transcript, workspace: Workspace) -> None:
    ack, fixed = workspace.story["ack"], workspace.story["fix"]
    transcript.note("opsbot starts its detectors; some of them find something wrong...")

    def cards() -> set[str]:
        return {m.text.split("\n")[0] for m in emulator.bot_messages(ALERTS) if m.buttons}

    await emulator.wait_for(lambda: len(cards()) >= workspace.expected_cards, STEP_TIMEOUT)
    await asyncio.sleep(1.2)
    await _press(emulator, transcript, "Check now", ack, user=BOB)
    await _press(emulator, transcript, "Ack", ack)
    await emulator.wait_for(
        lambda: any("Acknowledged by @alice" in m.text for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT
    )
    for command in ("/health", "/alerts", "/slo 3"):
        await _say(emulator, transcript, command)
    detector = await workspace.fix()
    transcript.note(f"someone repairs what {fixed} watches")
    await _press(emulator, transcript, "Check now", detector)
    await emulator.wait_for(
        lambda: any("resolved after" in m.text and m.reply_to for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT
    )
    await asyncio.sleep(0.3)
    transcript.note("that's the story: every message above went through real aiogram, HTTP and the database.")


async def _interactive(emulator: BotApiEmulator, transcript: Transcript, workspace: Workspace) -> None:
    print(
        "\nYou are alice (an admin) in #ops-alerts. Type a command (/help, /health, /alerts, /slo, /ack 1, /sweep),"
        f"\na button's number to press it, 'fix' to repair what {workspace.story['fix']} watches, or 'quit'."
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
            detector = await workspace.fix()
            transcript.note(f"repaired; press 🔁 Check now under {detector} or wait for its next run")
        else:
            transcript.say("alice", text, ALERTS)
            emulator.send_text(ALERTS, text, user_id=ALICE, username="alice")
