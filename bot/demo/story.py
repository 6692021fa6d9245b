"""The demo: a real opsbot (aiogram, scheduler, outbox, database) talking to the local Bot API emulator.

The story: alerts arrive with buttons; a non-admin's admin-only press is refused; alice acks one;
she asks /health, /alerts and /slo and draws the chart; she presses 🛠 Remediate on the broken feed
and its alert resolves. The transcript and the chart are saved in the demo's folder.

Ctrl-C (or SIGTERM) stops it at once at any point: the play is cancelled, everything started is
stopped, and it exits 130 (0 in --interactive, where Ctrl-C is a way to leave).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.app import OpsBotApp
from bot.demo.workspace import (
    DEMO_EVERY,
    DemoError,
    Workspace,
    after_migrations,
    create_workspace,
    postgres_server,
    prepare_directory,
)
from bot.emulator import BotApiEmulator
from bot.emulator.console import StdinLines, chat_console
from bot.emulator.transcript import Tee, Transcript, Writer
from ops.config import OpsConfig, load_config
from ops.settings import Settings

log = logging.getLogger(__name__)
DEMO_TOKEN = "100000:DEMO-local-emulator-token-never-sent-out"  # only ever sent to the local emulator
ALERTS, ADMINS = -1001, -1002
ALICE, BOB = 42, 77
LEAVE_WAIT = 5.0  # seconds the demo's leftover tasks get to end after the bot stopped
STEP_TIMEOUT = 25.0
DEFAULT_DIR, DEFAULT_EXAMPLE = "./opsbot-demo", "marketplace"
EXIT_INTERRUPTED = 130
TRANSCRIPT_FILE = "transcript.txt"


@dataclass
class _Run:
    """What the demo has made so far, for the closing summary (also after a Ctrl-C)."""

    directory: Path
    interactive: bool
    example: str
    out: Writer
    workspace: Workspace | None = None
    transcript: Transcript | None = None
    saved: list[Path] = field(default_factory=list)


def run_demo(
    directory: str = DEFAULT_DIR,
    interactive: bool = False,
    example: str = DEFAULT_EXAMPLE,
    postgres: str | None = None,
) -> int:
    try:
        folder = prepare_directory(Path(directory))
        server = postgres_server(postgres)
        return asyncio.run(_demo(folder, interactive, example, server, given_dir=directory))
    except DemoError as exc:
        print(f"opsbot demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the demo's own handling was in place
        return EXIT_INTERRUPTED


async def _demo(directory: Path, interactive: bool, example: str, postgres: str | None, given_dir: str) -> int:
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl-C while stopping: leave now
            os._exit(EXIT_INTERRUPTED)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    with (directory / TRANSCRIPT_FILE).open("w", encoding="utf-8") as transcript_file:
        run = _Run(directory, interactive, example, Tee(sys.stdout, transcript_file))
        print(f"opsbot demo — the {example} example, in {directory} (Ctrl-C stops it).", file=run.out, flush=True)
        play = asyncio.create_task(_play(run, postgres))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({play, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not play.done():
            play.cancel()
        try:
            code = await play
        except (asyncio.CancelledError, Exception) as exc:
            if not stop.is_set():
                raise
            if not isinstance(exc, asyncio.CancelledError):  # something half-started when Ctrl-C came
                log.debug("the demo stopped half-way", exc_info=True)
            print("\nopsbot demo: stopped.", file=run.out, flush=True)
            code = 0 if interactive else EXIT_INTERRUPTED
        _summary(run, given_dir)
    await _leave(code)
    return code


async def _leave(code: int) -> None:
    """The bot has stopped and the summary is out: give what is left a moment to end, then leave even if
    something still runs (`asyncio.run` would wait for every task, and one that swallows its cancellation
    held the demo's exit for more than 30 s on a busy machine)."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    if others:
        _, pending = await asyncio.wait(others, timeout=LEAVE_WAIT)
        if pending:
            log.debug("leaving with %d task(s) still running: %s", len(pending), [t.get_name() for t in pending])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


async def _play(run: _Run, postgres: str | None) -> int:
    workspace = run.workspace = await create_workspace(run.directory, run.example, postgres)
    try:
        return await _with_bot(run, workspace)
    finally:
        await workspace.close()


def _settings(emulator: BotApiEmulator, workspace: Workspace) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=DEMO_TOKEN,
        telegram_api_url=emulator.url,
        database_url=workspace.database_url,
        alert_chat_ids=[ALERTS],
        admin_chat_ids=[ADMINS],  # notify_admin remediations (escalate_to_admins) post here
        admin_user_ids=[ALICE],
        http_port=0,
        sweep_interval_sec=60,
        group_threshold=0,  # the story presses buttons on each alert's own card, so no storm digests here
    )


def _config(workspace: Workspace, settings: Settings) -> OpsConfig:
    config = load_config(workspace.config, env={**settings.config_env(), **os.environ, **workspace.env})
    return config.model_copy(
        update={"detectors": [d.model_copy(update={"every": DEMO_EVERY}) for d in config.detectors]}
    )


async def _with_bot(run: _Run, workspace: Workspace) -> int:
    emulator = BotApiEmulator(keep_files=True)  # keeps the chart's bytes, so it can be saved
    await emulator.start()
    app: OpsBotApp | None = None
    try:
        emulator.add_chat(ALERTS, "supergroup", "#ops-alerts")
        emulator.make_forum(ALERTS)  # topics on: each incident gets a topic of its own, the board is pinned
        emulator.add_chat(ADMINS, "supergroup", "#ops-admins")
        emulator.add_chat(ALICE, "private")
        settings = _settings(emulator, workspace)
        config = _config(workspace, settings)
        names = {ALERTS: "#ops-alerts", ADMINS: "#ops-admins", ALICE: "alice (private chat)"}
        transcript = run.transcript = Transcript(emulator, names, run.out, files_dir=run.directory)
        transcript.line(f"{len(config.detectors)} detectors watch it; alice is an admin, bob is not.")
        transcript.line(f"Telegram is the local Bot API emulator at {emulator.url}; the team chat is #ops-alerts.")
        transcript.line(f"Time-lapse: every detector runs every {DEMO_EVERY:g} s.")
        app = OpsBotApp(settings, config, polling_timeout=2)
        # A time-lapse: minutes of a team's chat in seconds, so Telegram's 20 messages a minute per group
        # (topics opened, renamed and closed, the board, the cards) are a time-lapse's minute too.
        app.limiter.group_per_minute = 60
        await app.core.migrate()
        await after_migrations(workspace)
        await app.start()
        if run.interactive:
            await _interactive(emulator, transcript, workspace)
        else:
            await _story(emulator, transcript, workspace, config)
    finally:
        if app is not None:
            await app.stop()
        await emulator.stop()
    return 0


def _summary(run: _Run, given_dir: str) -> None:
    out = run.out
    print("\nDemo files:", file=out)
    print(f"  folder      {run.directory.resolve()}", file=out)
    print(f"  transcript  {(run.directory / TRANSCRIPT_FILE).resolve()}", file=out)
    if run.transcript is not None:
        for path in run.transcript.saved:
            label = "chart" if path.suffix == ".png" else "file"  # the SLO chart, or a /postmortem draft
            print(f"  {label:<11} {path.resolve()}", file=out)
    workspace = run.workspace
    if workspace is not None:
        print(f"  config      {workspace.config}", file=out)
        print(f"  data        {workspace.target_url.split('@')[-1]}", file=out)
        opsbot_db = workspace.database_url.removeprefix("sqlite+aiosqlite:///")
        print(f"  opsbot db   {opsbot_db}  (alerts, events, outbox, check results)", file=out)
        print(f"  runbooks    {workspace.config.parent.parent / 'runbooks'}", file=out)
    if not run.interactive:
        again = ["opsbot demo --interactive"]
        if run.example != DEFAULT_EXAMPLE:
            again.append(f"--example {run.example}")
        if given_dir != DEFAULT_DIR:
            again.append(f"--dir {given_dir}")
        print(f"Drive it yourself: {' '.join(again)}", file=out)
    out.flush()


async def _say(emulator: BotApiEmulator, transcript: Transcript, text: str, user: int = ALICE) -> None:
    name = "alice" if user == ALICE else "bob"
    transcript.say(name, text, ALERTS)
    before = len(emulator.bot_messages(ALERTS))
    emulator.send_text(ALERTS, text, user_id=user, username=name)
    await emulator.wait_for(lambda: len(emulator.bot_messages(ALERTS)) > before, STEP_TIMEOUT)


async def _press(
    emulator: BotApiEmulator, transcript: Transcript, label: str, on: str, user: int = ALICE, under: str = ""
) -> None:
    """Press the newest `label` button on a message containing `on` (an alert's detector, say)."""
    name = "alice" if user == ALICE else "bob"
    button = transcript.find(label, on)
    transcript.note(f"{name} presses {button.label} under {under or f'the {on} alert'}")
    query = emulator.press(button.chat_id, button.message_id, button.data, user_id=user, username=name)
    await emulator.wait_for(lambda: query in emulator.callback_answers, STEP_TIMEOUT)


async def _story(emulator: BotApiEmulator, transcript: Transcript, workspace: Workspace, config: OpsConfig) -> None:
    ack, fixed = workspace.story["ack"], workspace.story["fix"]
    transcript.note("opsbot starts its detectors; some of them find something wrong...")

    def cards() -> set[str]:
        return {m.text.split("\n")[0] for m in emulator.bot_messages(ALERTS) if m.buttons}

    def posted(predicate: Callable[[str], bool]) -> Callable[[], bool]:
        return lambda: any(predicate(m.text) for m in emulator.bot_messages(ALERTS))

    # In a forum each incident costs its topic, a line in General and the card, at one message a second
    # in the chat (Telegram's limit): the first cards take a few seconds each.
    first_cards = STEP_TIMEOUT + 4.0 * workspace.expected_cards
    await emulator.wait_for(lambda: len(cards()) >= workspace.expected_cards, first_cards)
    await asyncio.sleep(1.2)
    await _press(emulator, transcript, "Check now", ack, user=BOB)
    await _press(emulator, transcript, "Ack", ack)
    await emulator.wait_for(posted(lambda text: "Acknowledged by @alice" in text), STEP_TIMEOUT)
    for command in ("/health", "/alerts", "/slo 3"):
        await _say(emulator, transcript, command)
    if config.slos:
        await _press(emulator, transcript, "Chart", "🎯 SLOs · window", under="the SLO answer")
        await emulator.wait_for(lambda: any(m.kind == "photo" for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT)
    detector = config.detector(fixed)
    if detector is not None and detector.remediation:
        transcript.note(f"{fixed} is still failing; alice asks opsbot to repair it")
        await _press(emulator, transcript, "Remediate", fixed)
    else:
        detector_name = await workspace.fix()
        transcript.note(f"someone repairs what {fixed} watches")
        await _press(emulator, transcript, "Check now", detector_name)
    await emulator.wait_for(
        lambda: any("resolved after" in m.text and m.reply_to for m in emulator.bot_messages(ALERTS)), STEP_TIMEOUT
    )
    await asyncio.sleep(0.3)
    transcript.note("that's the story: every message above went through real aiogram, HTTP and the database.")


async def _interactive(emulator: BotApiEmulator, transcript: Transcript, workspace: Workspace) -> None:
    transcript.line(
        "\nYou are alice (an admin) in #ops-alerts. Type a command (/help, /health, /alerts, /slo, /ack 1, /sweep),"
        f"\na button's number to press it, 'fix' to repair what {workspace.story['fix']} watches, or 'quit'."
    )

    async def fix(text: str) -> bool:
        if text.lower() != "fix":
            return False
        detector = await workspace.fix()
        transcript.note(f"repaired; press 🔁 Check now under {detector} or wait for its next run")
        return True

    await chat_console(emulator, transcript, StdinLines(), ALERTS, (ALICE, "alice"), fix)
