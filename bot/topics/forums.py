"""Which alert chats get a topic per incident: a forum supergroup (getChat `is_forum`) where the bot may
manage topics (its getChatMember: `can_manage_topics`, or it is the creator).

Each process asks Telegram for itself and keeps the answer in memory: read the first time a chat is
delivered to (and for every alert chat by the `forums` duty at start), asked again every
`REFRESH_EVERY` seconds, and dropped at once when Telegram refuses a topic (`the chat is not a forum`,
`not enough rights to create a topic`): that chat then gets today's ordinary messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramNotFound

from ops.duties import describe

log = logging.getLogger(__name__)

REFRESH_EVERY = 300.0  # seconds an answer is trusted
RETRY_UNANSWERED = 30.0  # seconds before asking again when Telegram did not answer
PROBE_TIMEOUT = 10  # seconds a getChat or getChatMember may take
REFUSALS = ("the chat is not a forum", "not enough rights to create a topic")
RIGHT_NAME = "Manage topics"


@dataclass(frozen=True)
class ForumState:
    is_forum: bool
    can_manage_topics: bool

    @property
    def topics(self) -> bool:
        return self.is_forum and self.can_manage_topics


ORDINARY = ForumState(False, False)


async def probe(bot: Bot, chat_id: int) -> ForumState:
    """Ask Telegram whether `chat_id` is a forum and the bot may manage its topics."""
    chat = await bot.get_chat(chat_id, request_timeout=PROBE_TIMEOUT)
    if not chat.is_forum:
        return ORDINARY
    me = await bot.get_chat_member(chat_id, bot.id, request_timeout=PROBE_TIMEOUT)
    right = me.status == "creator" or bool(getattr(me, "can_manage_topics", False))
    return ForumState(True, right)


def refused_topics(exc: TelegramBadRequest) -> bool:
    """Telegram says this chat cannot have the bot's topics (no forum any more, or the right was taken)."""
    return any(words in exc.message for words in REFUSALS)


@dataclass
class _Known:
    state: ForumState
    next_check: float


class Forums:
    """`chats`: the alert chats (read each time: a reload may change them)."""

    def __init__(self, bot: Bot, chats: Callable[[], Iterable[int]], clock: Callable[[], float] = time.monotonic):
        self.bot = bot
        self.chats = chats
        self.clock = clock
        self._known: dict[int, _Known] = {}

    async def topics_on(self, chat_id: int) -> bool:
        """Whether rows about alerts go into incident topics in this chat (asks Telegram when due)."""
        if chat_id >= 0 or chat_id not in set(self.chats()):
            return False
        known = self._known.get(chat_id)
        if known is None or self.clock() >= known.next_check:
            known = await self._check(chat_id)
        return known.state.topics

    def on(self) -> list[int]:
        """The alert chats with topics on, as last known."""
        alert_chats = set(self.chats())
        return sorted(c for c, k in self._known.items() if k.state.topics and c in alert_chats)

    async def refresh(self) -> None:
        """Ask again about every alert chat (the `forums` duty)."""
        for chat_id in sorted(set(self.chats())):
            if chat_id < 0:
                await self._check(chat_id)

    def fell_back(self, chat_id: int, why: str) -> None:
        """Telegram refused a topic here: ordinary messages until the next check says otherwise."""
        was = self._known.get(chat_id)
        if was is not None and was.state.topics:
            log.warning("chat %s: %s; incident topics are off there, messages go as before", chat_id, why)
        self._known[chat_id] = _Known(ORDINARY, self.clock() + REFRESH_EVERY)

    async def _check(self, chat_id: int) -> _Known:
        was = self._known.get(chat_id)
        try:
            state = await probe(self.bot, chat_id)
            known = _Known(state, self.clock() + REFRESH_EVERY)
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound):
            known = _Known(ORDINARY, self.clock() + REFRESH_EVERY)  # no such chat, or not in it: no topics
        except (TelegramAPIError, TimeoutError) as exc:  # no answer: keep what we knew, ask again soon
            log.info("chat %s: could not ask whether it is a forum: %s", chat_id, describe(exc))
            known = _Known(was.state if was else ORDINARY, self.clock() + RETRY_UNANSWERED)
        if (was is None or was.state.topics != known.state.topics) and known.state.topics:
            log.info("chat %s is a forum where the bot manages topics: one topic per incident", chat_id)
        elif was is not None and was.state.topics and not known.state.topics:
            log.warning("chat %s: incident topics are off (no forum, or no %r right)", chat_id, RIGHT_NAME)
        self._known[chat_id] = known
        return known
