"""An incident's own forum topic in a chat with topics on (`bot.topics.forums`).

Every outbox row about an alert goes into its incident's topic there (`deliver`): the topic is opened
with the incident's first message in the chat, named after the incident (`🔴 cash_balance · wb`), and
the General topic gets one line linking to it. After each row the topic follows the incident (`follow`):
renamed `👀 …` when acknowledged, `✅ …` and closed when resolved, reopened when it fires again.

- Several replicas: the topic's row is claimed with an insert that fails on conflict; the loser waits
  for the winner's thread id (or takes over a claim its creator abandoned).
- A topic people deleted (`message thread not found`): that message goes to General at once, the row
  goes, and the incident gets a new topic.
- Telegram refusing topics in the chat (no forum, no right) turns them off there (`Forums.fell_back`):
  the row goes as an ordinary message.
- Topic calls run inside the outbox's delivery, so they take the same per-chat budget as its sends
  (`bot.limits.LIMITED_METHODS`), ahead of command answers. Keeping the topic in step never fails the
  row that was delivered: a failed rename is logged and made with the incident's next row.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.render.split import u16
from bot.render.texts import SEVERITY_ICON
from bot.topics.forums import Forums, refused_topics
from ops.duties import describe
from ops.incidents.read import GroupState, IncidentGroup, group_state, groups_of_alerts
from ops.model import IncidentStatus, Severity
from ops.runtime import OpsCore
from ops.storage.topics import TopicStore

log = logging.getLogger(__name__)

NAME_LIMIT = 128  # Telegram's limit on a topic's name
# Telegram's six topic colours, by severity: red, pink, yellow, blue.
COLORS = {
    Severity.critical: 0xFB6F5F,
    Severity.error: 0xFF93B2,
    Severity.warning: 0xFFD67E,
    Severity.info: 0x6FB9F0,
}
CLAIM_WAIT = 5.0  # seconds a replica waits for another's topic creation before giving the row back
CLAIM_STALE = 60.0  # seconds after which an unfinished claim is taken over (its replica died)
CLAIM_POLL = 0.1
ACKED, RESOLVED = "👀", "✅"

Send = Callable[[int | None], Awaitable[list[int]]]


def status_icon(group: IncidentGroup | GroupState) -> str:
    status = group.status
    if status is IncidentStatus.resolved:
        return RESOLVED
    if status is IncidentStatus.acknowledged:
        return ACKED
    return SEVERITY_ICON[group.severity]


def topic_name(group: IncidentGroup | GroupState) -> str:
    """`🔴 cash_balance · wb`: the state's icon and the incident's title, within Telegram's 128 characters."""
    icon = status_icon(group)
    title = " ".join(group.title.split()) or f"incident #{group.id}"
    name = f"{icon} {title}"
    while u16(name) > NAME_LIMIT:
        title = title[:-1]
        name = f"{icon} {title.rstrip()}…"
    return name


def topic_link(chat_id: int, thread_id: int) -> str:
    """A link that opens the topic: t.me/c/ takes the chat's id without Telegram's -100 prefix."""
    internal = str(chat_id).removeprefix("-100").lstrip("-")
    return f"https://t.me/c/{internal}/{thread_id}"


def announcement(group: IncidentGroup | GroupState, chat_id: int, thread_id: int) -> str:
    """The General topic's line about a new incident."""
    return (
        f"{SEVERITY_ICON[group.severity]} Incident #{group.id}: {html.escape(group.title)} · "
        f'<a href="{topic_link(chat_id, thread_id)}">its topic</a>'
    )


def thread_gone(exc: TelegramBadRequest) -> bool:
    return "message thread not found" in exc.message


def _unchanged(exc: TelegramBadRequest) -> bool:
    return "TOPIC_NOT_MODIFIED" in exc.message


def _topic_gone(exc: TelegramBadRequest) -> bool:
    return "TOPIC_ID_INVALID" in exc.message or thread_gone(exc)


class Topics:
    def __init__(self, bot: Bot, core: OpsCore, forums: Forums) -> None:
        self.bot = bot
        self.core = core
        self.forums = forums
        self.store = TopicStore(core.db)

    async def group_of(self, chat_id: int, alert_ids: list[int]) -> GroupState | None:
        """The one incident these alerts belong to, when the chat has topics on (None: ordinary delivery —
        no topics there, no alert, alerts of several incidents, or alerts from before incidents)."""
        wanted = sorted(set(alert_ids))
        if not wanted or not await self.forums.topics_on(chat_id):
            return None
        async with self.core.db.connect() as conn:
            found = await groups_of_alerts(conn, wanted)
            groups = set(found.values())
            if len(found) != len(wanted) or len(groups) != 1:
                return None
            return await group_state(conn, groups.pop())  # not its alerts: this runs for every message

    async def deliver(
        self, chat_id: int, alert_ids: list[int], send: Send, *, opens: bool = True, silent: bool = False
    ) -> list[int]:
        """`send` the row (or digest) about `alert_ids` into their incident's topic, or to the chat itself
        when it has none; `opens`: it is a message that may open the topic (an edit is not); `silent`: the
        row goes without a sound (quiet hours), and so does the General topic's line about a new topic."""
        group = await self.group_of(chat_id, alert_ids)
        if group is None:
            return await send(None)
        topic = await self.store.get(group.id, chat_id)
        thread = topic.thread_id if topic is not None else None
        if thread is None and opens and group.is_open:
            thread = await self.open(chat_id, group, silent=silent)
        if thread is None:
            return await send(None)
        if topic is not None and topic.closed and group.is_open:
            await self._quietly(self.follow(chat_id, group.id), chat_id)  # it fires again: reopen first
        try:
            ids = await send(thread)
        except TelegramBadRequest as exc:
            if not thread_gone(exc):
                raise
            log.info("chat %s: the topic of incident #%s was deleted; a new one is opened", chat_id, group.id)
            await self.store.drop(group.id, chat_id, thread)
            ids = await send(None)
            if group.is_open:
                await self._quietly(self.open(chat_id, group, silent=silent), chat_id)
            return ids
        await self._quietly(self.follow(chat_id, group.id), chat_id)
        return ids

    async def open(self, chat_id: int, group: GroupState, *, silent: bool = False) -> int | None:
        """The incident's topic in this chat, created now unless another replica has (or is creating) it;
        None when Telegram refuses topics here."""
        name = topic_name(group)
        deadline = asyncio.get_running_loop().time() + CLAIM_WAIT
        while not await self.store.claim(group.id, chat_id, name, self.core.clock(), self.core.replica.value):
            theirs = await self.store.get(group.id, chat_id)
            if theirs is None:
                continue  # released between our insert and our read: claim again
            if theirs.thread_id is not None:
                return theirs.thread_id
            if asyncio.get_running_loop().time() > deadline:
                if await self.store.take_over(group.id, chat_id, self.core.clock() - timedelta(seconds=CLAIM_STALE)):
                    continue
                raise TimeoutError(f"another replica is still opening the topic of incident #{group.id}")
            await asyncio.sleep(CLAIM_POLL)
        try:
            created = await self.bot.create_forum_topic(chat_id, name, icon_color=COLORS[group.severity])
        except TelegramBadRequest as exc:
            await self.store.release(group.id, chat_id)
            if refused_topics(exc):
                self.forums.fell_back(chat_id, exc.message)
                return None
            raise
        except BaseException:
            await self.store.release(group.id, chat_id)
            raise
        thread = created.message_thread_id
        await self.store.opened(group.id, chat_id, thread, created.name or name)
        await self._quietly(self._announce(chat_id, group, thread, silent), chat_id)
        return thread

    async def _announce(self, chat_id: int, group: GroupState, thread_id: int, silent: bool = False) -> None:
        await self.bot.send_message(
            chat_id,
            announcement(group, chat_id, thread_id),
            disable_web_page_preview=True,
            disable_notification=silent or None,
        )

    async def follow(self, chat_id: int, group_id: int) -> None:
        """Bring the topic in line with the incident: its name, and closed while resolved."""
        topic = await self.store.get(group_id, chat_id)
        if topic is None or topic.thread_id is None:
            return
        async with self.core.db.connect() as conn:
            group = await group_state(conn, group_id)
        if group is None:
            return
        thread, closed = topic.thread_id, not group.is_open
        try:
            if not closed and topic.closed:
                await self._closed(chat_id, group_id, thread, False)
            name = topic_name(group)
            if name != topic.name:
                try:
                    await self.bot.edit_forum_topic(chat_id, thread, name=name)
                except TelegramBadRequest as exc:
                    if not _unchanged(exc):
                        raise
                await self.store.set_state(group_id, chat_id, name=name)
            if closed and not topic.closed:
                await self._closed(chat_id, group_id, thread, True)
        except TelegramBadRequest as exc:
            if not _topic_gone(exc):
                raise
            await self.store.drop(group_id, chat_id, thread)

    async def _closed(self, chat_id: int, group_id: int, thread_id: int, closed: bool) -> None:
        try:
            if closed:
                await self.bot.close_forum_topic(chat_id, thread_id)
            else:
                await self.bot.reopen_forum_topic(chat_id, thread_id)
        except TelegramBadRequest as exc:
            if not _unchanged(exc):
                raise
        await self.store.set_state(group_id, chat_id, closed=closed)

    async def _quietly(self, work: Awaitable[object], chat_id: int) -> None:
        """Topic upkeep after (or beside) a delivery: its failure is logged, never the row's."""
        try:
            await work
        except Exception as exc:
            log.warning("chat %s: incident topic upkeep failed: %s", chat_id, describe(exc))
