"""Telegram's rate limits, kept by design: every call that posts into a chat passes `RateLimiter`.

About 1 message/s per chat, 20/min per group, 30/s overall (Telegram's FAQ). A 429 blocks the chat
for its `retry_after`. The limiter is installed as an aiogram request middleware, so command
answers and the outbox sender share one budget — and alerts go first: while the outbox has a
notification due in a chat (`want`), command answers for that chat wait for it, so no amount of
commands typed in a chat delays its alerts by more than the one message already in flight.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from ops.storage.sends import TELEGRAM, Limits, SendLog

LIMITED_METHODS = {
    "sendMessage",
    "createForumTopic",  # posts the topic's first message into the chat: a send for the flood limits
    # Each posts a service message into the chat (renamed, closed, reopened, pinned): counted as sends.
    "editForumTopic",
    "closeForumTopic",
    "reopenForumTopic",
    "pinChatMessage",
    "sendPhoto",
    "sendDocument",
    "sendMediaGroup",
    "sendAnimation",
    "sendVideo",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "copyMessage",
    "forwardMessage",
}
# Telegram counts a message when it arrives, we when we send it; these margins absorb the difference.
GROUP_MARGIN = TELEGRAM.group_margin
GLOBAL_MARGIN = TELEGRAM.global_margin
# The outbox sender handles a 429 itself (it reschedules the row and moves on to other chats).
RETRY_ON_429: contextvars.ContextVar[bool] = contextvars.ContextVar("retry_on_429", default=True)
# Set by the outbox sender around its calls: they go before command answers waiting for the same chat.
FROM_OUTBOX: contextvars.ContextVar[bool] = contextvars.ContextVar("from_outbox", default=False)
WANT_TTL = 2.0  # seconds a `want` holds without being renewed (the sender renews it on every pass)
YIELD_STEP = 0.05  # how often a waiting command answer looks again whether the outbox went


class RateLimiter:
    """The budget as this process sees it. With `shared` (several replicas on PostgreSQL) the database
    has the last word: `acquire` reserves each send there, and `sync` learns the other replicas' sends."""

    def __init__(
        self,
        per_chat_interval: float = TELEGRAM.per_chat_interval,
        group_per_minute: int = TELEGRAM.group_per_minute,
        global_per_second: int = TELEGRAM.global_per_second,
        clock: Callable[[], float] = time.monotonic,
        shared: SendLog | None = None,
    ) -> None:
        self.shared = shared
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.global_per_second = global_per_second
        self.clock = clock
        self._last: dict[int, float] = {}
        self._group: dict[int, deque[float]] = {}
        self._global: deque[float] = deque()
        self._blocked: dict[int, float] = {}
        self._wanted: dict[int, float] = {}  # chat → when the outbox last said it has a row due there
        self.on_retry_after: Callable[[], None] | None = None

    def ready_in(self, chat_id: int) -> float:
        """Seconds until a message to this chat is allowed (0 when it is allowed now)."""
        now = self.clock()
        waits = [self._blocked.get(chat_id, 0.0) - now]
        if chat_id in self._last:
            waits.append(self._last[chat_id] + self.per_chat_interval - now)
        if chat_id < 0:
            window = self._trim(self._group.get(chat_id), now - 60.0 - GROUP_MARGIN)
            if window is not None and len(window) >= self.group_per_minute:
                waits.append(window[0] + 60.0 + GROUP_MARGIN - now)
        self._trim(self._global, now - 1.0 - GLOBAL_MARGIN)
        if len(self._global) >= self.global_per_second:
            waits.append(self._global[0] + 1.0 + GLOBAL_MARGIN - now)
        return max(0.0, *waits)

    def limits(self) -> Limits:
        return Limits(
            self.per_chat_interval, self.group_per_minute, self.global_per_second, GROUP_MARGIN, GLOBAL_MARGIN
        )

    def want(self, chat_id: int) -> None:
        """The outbox has a notification due in this chat, held back only by the limits: until it goes,
        command answers for the chat wait (the sender renews this on every pass; it lapses after WANT_TTL)."""
        self._wanted[chat_id] = self.clock()

    def wanted(self, chat_id: int) -> bool:
        at = self._wanted.get(chat_id)
        return at is not None and self.clock() - at < WANT_TTL

    async def acquire(self, chat_id: int, *, priority: bool = False) -> None:
        """Wait for this chat's next slot and take it. Without `priority` (a command answer), also wait
        while the outbox wants the chat."""
        while True:
            while (wait := self.ready_in(chat_id)) > 0 or (not priority and self.wanted(chat_id)):
                await asyncio.sleep(wait if wait > 0 else YIELD_STEP)
            if self.shared is None:
                break
            wait = await self.shared.reserve(chat_id, self.limits())
            if wait <= 0:
                break
            self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), self.clock() + wait)
        self.record(chat_id, self.clock())
        if priority:
            self._wanted.pop(chat_id, None)

    def record(self, chat_id: int, at: float) -> None:
        self._last[chat_id] = max(self._last.get(chat_id, at), at)
        if chat_id < 0:
            bisect.insort(self._group.setdefault(chat_id, deque()), at)
        bisect.insort(self._global, at)

    async def sync(self) -> None:
        """Learn what the other replicas sent and which chats Telegram blocked (no-op without `shared`)."""
        if self.shared is None:
            return
        others, blocks = await self.shared.news()
        now = self.clock()
        for chat_id, ago in others:
            self.record(chat_id, now - ago)
        for chat_id, left in blocks.items():
            self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), now + left)

    async def block(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 for this chat: nobody posts to it for `seconds`."""
        self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), self.clock() + seconds)
        if self.shared is not None:
            await self.shared.block(chat_id, seconds)
        if self.on_retry_after is not None:
            self.on_retry_after()

    def prime(self, sent: list[tuple[int, float]]) -> None:
        """Deliveries made before a restart (seconds ago) still count against the windows."""
        now = self.clock()
        for chat_id, ago in sorted(sent, key=lambda s: -s[1]):
            at = now - ago
            self._last[chat_id] = max(self._last.get(chat_id, at), at)
            if chat_id < 0:
                self._group.setdefault(chat_id, deque()).append(at)

    @staticmethod
    def _trim(window: deque[float] | None, before: float) -> deque[float] | None:
        if window is None:
            return None
        while window and window[0] <= before:
            window.popleft()
        return window


class RateLimitMiddleware(BaseRequestMiddleware):
    def __init__(self, limiter: RateLimiter, max_retries: int = 3) -> None:
        self.limiter = limiter
        self.max_retries = max_retries

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Any,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        if method.__api_method__ not in LIMITED_METHODS or not isinstance(chat_id, int):
            return await make_request(bot, method)
        retries = 0
        while True:
            await self.limiter.acquire(chat_id, priority=FROM_OUTBOX.get())
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                await self.limiter.block(chat_id, exc.retry_after)
                if not RETRY_ON_429.get() or retries >= self.max_retries:
                    raise
                retries += 1
