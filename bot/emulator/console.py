"""Typing into an emulated chat from the terminal: `opsbot demo --interactive` and `opsbot emulator`."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Awaitable, Callable

from bot.emulator.server import BotApiEmulator
from bot.emulator.transcript import Transcript

QUIT = ("quit", "exit", "q")


class StdinLines:
    """Lines typed on stdin, read by a daemon thread with `os.read`: Ctrl-C never waits for Enter, and
    leaving does not wait for the thread (asyncio's default executor would, until a line arrives)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._read, name="stdin-lines", daemon=True).start()

    async def get(self) -> str | None:
        """The next line, or None at the end of the input."""
        return await self._queue.get()

    def _put(self, item: str | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody listens any more
            pass

    def _read(self) -> None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):  # no stdin at all
            self._put(None)
            return
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._put(line.decode(errors="replace"))
        if pending:
            self._put(pending.decode(errors="replace"))
        self._put(None)


async def chat_console(
    emulator: BotApiEmulator,
    transcript: Transcript,
    lines: StdinLines,
    chat_id: int,
    user: tuple[int, str],
    extra: Callable[[str], Awaitable[bool]] | None = None,
) -> None:
    """Until 'quit' or the end of input: a number presses that button, `extra` may take a word of its
    own (the demo's 'fix'), anything else is said in `chat_id` by `user` (id, username)."""
    user_id, username = user
    while True:
        line = await lines.get()
        if line is None or line.strip().lower() in QUIT:
            return
        text = line.strip()
        if not text:
            continue
        if text.isdigit():
            button = transcript.buttons.get(int(text))
            if button is None or (button.chat_id, button.message_id) not in emulator.messages:
                transcript.line(f"  no button {text}")
                continue
            transcript.note(f"{username} presses {button.label}")
            emulator.press(button.chat_id, button.message_id, button.data, user_id=user_id, username=username)
        elif extra is not None and await extra(text):
            continue
        else:
            transcript.say(username, text, chat_id)
            emulator.send_text(chat_id, text, user_id=user_id, username=username)
