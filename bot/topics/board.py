"""The pinned board of a forum chat with topics on: one message listing its open incidents (severity,
#id linking to the incident's topic, title, age, who acknowledged it), sent and pinned once, then
edited in place as it changes.

A duty of the leader (`tick` every `TICK` seconds). Per chat at most one edit every `EDIT_EVERY`
seconds, whatever the storm (the edits go through the rate limiter like any message, after the
outbox's alerts); never over Telegram's 4096 characters (the list ends with "… and N more"). The
message id is stored (`ops_boards`), so a restarted or new leader edits the same message; a board
deleted by hand is sent and pinned again.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from bot.delivery.transport import edit_target_gone, not_modified
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.topics.forums import Forums
from bot.topics.topics import status_icon, topic_link
from ops.duties import describe
from ops.incidents.read import IncidentGroup, load_groups, open_group_ids
from ops.runtime import OpsCore
from ops.storage.topics import BoardStore, TopicStore, alerts_in_chat

log = logging.getLogger(__name__)

TICK = 2.0  # seconds between looks at the open incidents
EDIT_EVERY = 10.0  # seconds: at most one edit of a chat's board this often
TITLE_CHARS = 80  # of an incident's title on its line


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _line(group: IncidentGroup, now: datetime, link: str | None) -> str:
    title = " ".join(group.title.split())
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1] + "…"
    ref = f'<a href="{link}">#{group.id}</a>' if link else f"#{group.id}"
    line = f"{status_icon(group)} {ref} {html.escape(title)} · {age(group.opened_at, now)}"
    if group.acknowledged_by:
        line += f" · acked by {html.escape(group.acknowledged_by)}"
    return line


def board_text(groups: list[IncidentGroup], now: datetime, links: dict[int, str], limit: int = TELEGRAM_LIMIT) -> str:
    """The board: open incidents, most severe first then oldest, within `limit` UTF-16 units (of its
    HTML, so of what Telegram shows too)."""
    if not groups:
        return "📋 <b>Open incidents</b>\n\nNone ✅"
    ordered = sorted(groups, key=lambda g: (-g.severity.rank, g.opened_at, g.id))
    head = f"📋 <b>Open incidents: {len(ordered)}</b>\n"
    lines = [_line(g, now, links.get(g.id)) for g in ordered]
    text = head + "\n".join(lines)
    if u16(text) <= limit:
        return text
    shown: list[str] = []
    size = u16(head)
    for n, line in enumerate(lines):
        more = f"\n… and {len(lines) - n} more"
        if size + u16(line) + 1 + u16(f"\n… and {len(lines) - n - 1} more") > limit:
            return head + "\n".join(shown) + more
        shown.append(line)
        size += u16(line) + 1
    return head + "\n".join(shown)


class Boards:
    def __init__(self, bot: Bot, core: OpsCore, forums: Forums, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.core = core
        self.forums = forums
        self.clock = clock
        self.store = BoardStore(core.db)
        self.topics = TopicStore(core.db)
        self._edited: dict[int, float] = {}  # chat → when (this clock) its board was last sent or edited
        self._unpinned: set[int] = set()  # chats whose board's late pin failed (logged once until it works)
        self._failing: set[int] = set()  # chats whose last board update failed (logged once until it works)

    async def tick(self) -> None:
        chats = self.forums.on()
        if not chats:
            return
        async with self.core.db.connect() as conn:
            groups = await load_groups(conn, await open_group_ids(conn))
        open_groups = [g for g in groups.values() if g.is_open]
        for chat_id in chats:
            # Each chat on its own: the bot kicked from one, or Telegram failing or slow there, leaves the
            # others' boards current; the chat is tried again next tick.
            try:
                await self.update(chat_id, open_groups)
            except (TelegramAPIError, TimeoutError) as exc:
                if chat_id not in self._failing:
                    log.warning("chat %s: the board of open incidents: %s", chat_id, describe(exc))
                self._failing.add(chat_id)
            else:
                self._failing.discard(chat_id)

    async def update(self, chat_id: int, open_groups: list[IncidentGroup]) -> None:
        """Edit (or first send) this chat's board if it changed and its last edit is `EDIT_EVERY` ago."""
        board = await self.store.get(chat_id)
        if board is not None and board.message_id is not None and not board.pinned:
            # Sent by a leader that stopped before it pinned it. Failing here (Telegram down or slow) does
            # not hold up the board's edits: the pin is tried again next tick.
            try:
                await self._pin(chat_id, board.message_id)
            except (TelegramAPIError, TimeoutError) as exc:
                if chat_id not in self._unpinned:
                    log.warning("chat %s: the board is not pinned yet: %s", chat_id, describe(exc))
                self._unpinned.add(chat_id)
            else:
                self._unpinned.discard(chat_id)
        now = self.core.clock()
        if chat_id not in self._edited and board is not None and board.edited_at is not None:
            ago = (now - board.edited_at).total_seconds()  # a new leader: the last edit still counts
            self._edited[chat_id] = self.clock() - max(0.0, min(ago, EDIT_EVERY))
        if self.clock() - self._edited.get(chat_id, float("-inf")) < EDIT_EVERY:
            return
        async with self.core.db.connect() as conn:
            shown = await alerts_in_chat(conn, chat_id, [a.id for g in open_groups for a in g.alerts if a.is_open])
        mine = [g for g in open_groups if any(a.id in shown for a in g.alerts)]
        if board is None and not mine:
            return  # no board until the chat's first incident
        threads = await self.topics.threads(chat_id, [g.id for g in mine])
        links = {gid: topic_link(chat_id, thread) for gid, thread in threads.items()}
        text = board_text(mine, now, links)
        if board is not None and board.message_id is not None:
            if text == board.text:
                return
            try:
                await self.bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=board.message_id, disable_web_page_preview=True
                )
            except TelegramBadRequest as exc:
                if not_modified(exc):
                    await self._saved(chat_id, board.message_id, text)
                    return
                if not edit_target_gone(exc):
                    raise
                log.info("chat %s: the board was deleted; sending a new one", chat_id)
            else:
                await self._saved(chat_id, board.message_id, text)
                return
        msg = await self.bot.send_message(chat_id, text, disable_web_page_preview=True, disable_notification=True)
        await self._saved(chat_id, msg.message_id, text, pinned=False)
        await self._pin(chat_id, msg.message_id)

    async def _pin(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.pin_chat_message(chat_id, message_id, disable_notification=True)
        except TelegramBadRequest as exc:  # no right to pin (or the board is gone): the board is still there
            log.warning("chat %s: could not pin the board: %s", chat_id, describe(exc))
        await self.store.pinned(chat_id, message_id)

    async def _saved(self, chat_id: int, message_id: int, text: str, *, pinned: bool | None = None) -> None:
        self._edited[chat_id] = self.clock()
        await self.store.save(chat_id, message_id, text, self.core.clock(), pinned=pinned)
