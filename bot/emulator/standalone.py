"""`opsbot emulator` (and `python -m bot.emulator`): the Bot API emulator alone, for a real `opsbot run`.

It starts with a group (#ops-alerts, -1001) and alice's private chat (42), prints what the bot sends,
serves the control API (`bot.emulator.control`) for scripts, and on a terminal lets you type into the
group as alice. Ctrl-C or SIGTERM stops it with exit 0.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sys

from bot.emulator.console import StdinLines, chat_console
from bot.emulator.server import BotApiEmulator
from bot.emulator.transcript import Transcript

DEFAULT_PORT = 8081  # opsbot's own HTTP server takes 8080
# The emulator takes any token of Telegram's shape; this one passes opsbot's BOT_TOKEN check.
TEST_TOKEN = "123456:EMULATOR-any-token-of-this-shape-works"
GROUP, GROUP_TITLE = -1001, "#ops-alerts"
ALICE = (42, "alice")


def run_emulator(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> int:
    try:
        return asyncio.run(_serve(host, port))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 0


async def _serve(host: str, port: int) -> int:
    emulator = BotApiEmulator(host, port, telegram_limits=True, control=True)
    try:
        url = await emulator.start()
    except OSError as exc:
        in_use = exc.errno == errno.EADDRINUSE
        why = "is in use (pick another with --port)" if in_use else f"cannot be used: {exc.strerror}"
        print(f"opsbot emulator: {host}:{port} {why}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    emulator.add_chat(GROUP, "supergroup", GROUP_TITLE)
    emulator.add_chat(ALICE[0], "private")
    transcript = Transcript(emulator, {GROUP: GROUP_TITLE, ALICE[0]: "alice (private chat)"})
    typing = sys.stdin is not None and sys.stdin.isatty()
    say = transcript.line
    say(f"Bot API emulator on {url}: Telegram's Bot API on this machine, to try opsbot without Telegram.")
    say("Run opsbot against it from another terminal (the environment wins over .env):")
    say(f"  TELEGRAM_API_URL={url} BOT_TOKEN={TEST_TOKEN} ALERT_CHAT_IDS={GROUP} ADMIN_USER_IDS={ALICE[0]} opsbot run")
    say(f"Any token of that shape works. Chats: {GROUP} {GROUP_TITLE} (a group), {ALICE[0]} alice (private).")
    say(f'From scripts: GET {url}/_emulator/chats/{GROUP}/messages; POST there {{"text": "/start"}} to write.')
    if typing:
        say(f"Type to write in {GROUP_TITLE} as alice (/start, /health); a button's number presses it.")
    say("What the bot sends appears below. Ctrl-C stops the emulator.")
    waiters = [asyncio.create_task(stop.wait())]
    if typing:
        console = chat_console(emulator, transcript, StdinLines(), GROUP, ALICE)
        waiters.append(asyncio.create_task(console))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await emulator.stop()
    say("emulator stopped")
    return 0
