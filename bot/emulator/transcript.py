"""Prints what happens in the emulator as a chat transcript, numbers buttons for pressing, and saves
the photos and documents the bot sends (the demo's chart) when the emulator keeps their bytes."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bot.emulator.server import BotApiEmulator, Call, ChatMessage


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class Tee:
    """Writes to several streams at once: the terminal and the transcript file."""

    def __init__(self, *streams: Writer) -> None:
        self.streams = streams

    def write(self, text: str, /) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@dataclass(frozen=True)
class NumberedButton:
    chat_id: int
    message_id: int
    label: str
    data: str


class Transcript:
    def __init__(
        self,
        emulator: BotApiEmulator,
        chat_names: dict[int, str],
        out: Writer = sys.stdout,
        *,
        files_dir: Path | None = None,
    ) -> None:
        self.emulator = emulator
        self.chat_names = chat_names
        self.out = out
        self.files_dir = files_dir  # where sent photos and documents are saved (needs keep_files)
        self.saved: list[Path] = []
        self.buttons: dict[int, NumberedButton] = {}
        self._next = 1
        emulator.listeners.append(self._on_call)

    def _chat(self, chat_id: int) -> str:
        return self.chat_names.get(chat_id, str(chat_id))

    def line(self, text: str = "") -> None:
        """A line of the narration, outside any chat."""
        print(text, file=self.out, flush=True)

    def say(self, who: str, text: str, chat_id: int) -> None:
        self._print(f"{who} → {self._chat(chat_id)}", text)

    def note(self, text: str) -> None:
        print(f"\n  ·· {text}", file=self.out, flush=True)

    def _print(self, head: str, body: str, buttons: str = "") -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"\n[{stamp}] {head}", file=self.out)
        for line in body.splitlines() or [""]:
            wrapped = textwrap.wrap(line, 96) or [""]
            for part in wrapped:
                print(f"    {part}", file=self.out)
        if buttons:
            print(f"    {buttons}", file=self.out)
        self.out.flush()

    def _number(self, msg: ChatMessage) -> str:
        shown = []
        for button in msg.buttons:
            if "callback_data" not in button:  # a link (url, web_app): opened, not pressed
                link = button.get("url") or (button.get("web_app") or {}).get("url", "")
                shown.append(f"[{button['text']} ↗ {link}]")
                continue
            n = self._next
            self._next += 1
            self.buttons[n] = NumberedButton(msg.chat_id, msg.message_id, button["text"], button["callback_data"])
            shown.append(f"[{n} {button['text']}]")
        return " ".join(shown)

    def _on_call(self, call: Call, message: ChatMessage | None) -> None:
        if call.status == 499:  # the bot hung up itself (a long poll ended at shutdown): not Telegram's doing
            return
        if call.status == 400 and ("message is not modified" in call.description or "NOT_MODIFIED" in call.description):
            return  # an edit that changed nothing: Telegram says so, and nothing in the chat changes
        if call.status != 200:
            self._print(f"Telegram refused {call.method} ({call.status})", call.description)
            return
        if message is None:
            if call.method == "answerCallbackQuery" and call.params.get("text"):
                popup = "popup" if str(call.params.get("show_alert")).lower() == "true" else "toast"
                self._print(f"opsbot ({popup})", str(call.params["text"]))
            elif (topic_change := self._topic_change(call)) is not None:
                self._print(*topic_change)
            return
        chat = self._chat(message.chat_id) + self._topic(message)
        if call.method == "editMessageText":
            self._print(f"opsbot edited message {message.message_id} in {chat}", message.text, self._number(message))
        elif call.method == "sendMessage":
            reply = f" (reply to {message.reply_to})" if message.reply_to else ""
            self._print(f"opsbot → {chat}, message {message.message_id}{reply}", message.text, self._number(message))
        elif call.method in ("sendPhoto", "sendDocument"):
            saved = self._save(message)
            where = f", saved as {saved}" if saved else ""
            caption = f"\n{message.text}" if message.text else ""
            shown = f"[{message.kind}: {message.filename}, {message.file_size} bytes{where}]{caption}"
            self._print(f"opsbot → {chat}", shown)

    def _topic(self, message: ChatMessage) -> str:
        """` › topic name` for a message in a forum topic."""
        chat = self.emulator.chats.get(message.chat_id)
        topic = chat.topics.get(message.thread_id) if chat is not None and message.thread_id else None
        return f" › {topic.name}" if topic is not None else ""

    def _topic_change(self, call: Call) -> tuple[str, str] | None:
        """What a person sees of the bot's topic and pin calls, as a line (None: nothing to show)."""
        try:
            chat_id = int(call.params.get("chat_id", 0))
        except (TypeError, ValueError):
            return None
        chat = self._chat(chat_id)
        thread = call.params.get("message_thread_id")
        forum = self.emulator.chats.get(chat_id)
        topic = forum.topics.get(int(thread)) if forum is not None and thread else None
        name = topic.name if topic is not None else str(thread)
        match call.method:
            case "createForumTopic":
                return f"opsbot opened a topic in {chat}", str(call.params.get("name", ""))
            case "editForumTopic":
                return f"opsbot renamed a topic in {chat}", name
            case "closeForumTopic":
                return f"opsbot closed a topic in {chat}", name
            case "reopenForumTopic":
                return f"opsbot reopened a topic in {chat}", name
            case "pinChatMessage":
                pinned = self.emulator.messages.get((chat_id, int(call.params.get("message_id", 0))))
                return f"opsbot pinned message {call.params.get('message_id')} in {chat}", (
                    pinned.text.split("\n")[0] if pinned is not None else ""
                )
        return None

    def _save(self, message: ChatMessage) -> Path | None:
        if self.files_dir is None or message.content is None:
            return None
        name = Path(message.filename or f"{message.kind}-{message.message_id}").name
        path = self.files_dir / name
        n = 2
        while path in self.saved:  # a second chart in one run does not overwrite the first
            path = self.files_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        path.write_bytes(message.content)
        self.saved.append(path)
        return path

    def find(self, label: str, text_part: str) -> NumberedButton:
        """The newest numbered button with this label on a message that contains `text_part`."""
        for n in sorted(self.buttons, reverse=True):
            b = self.buttons[n]
            msg = self.emulator.messages.get((b.chat_id, b.message_id))
            if msg is not None and label in b.label and text_part in msg.text:
                return b
        raise KeyError(f"no {label!r} button on a message with {text_part!r}")
