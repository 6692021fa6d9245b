"""What came of one Telegram call, as a small typed outcome: the only place that reads Telegram's errors.

- 429: `RetryAfter` — wait `retry_after` seconds and retry the same row (not a failed attempt);
- 5xx, network errors, timeouts, 401: `Transient` — retry with backoff, never dropped;
- 403, 400 (chat not found, …), 404, or `PermanentError` of ours: `Permanent` with Telegram's reason;
- a group that became a supergroup: `Migrated` with the new chat id;
- anything else is a bug of ours: `Unexpected`, so it neither loses the row nor loops on it forever.
"Message is too long" never gets here as such: `bot.shorten` renders the message again, shorter.
Reasons never carry the bot token.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.limits import FROM_OUTBOX, RETRY_ON_429
from bot.redact import redact

REASON_CHARS = 500


class PermanentError(Exception):
    """This row can never be delivered (Telegram said so, or its original message is gone)."""


@dataclass(frozen=True)
class Sent:
    message_ids: list[int]


@dataclass(frozen=True)
class RetryAfter:
    retry_after: int

    @property
    def reason(self) -> str:
        return f"429 retry after {self.retry_after}s"


@dataclass(frozen=True)
class Migrated:
    chat_id: int


@dataclass(frozen=True)
class Transient:
    reason: str


@dataclass(frozen=True)
class Permanent:
    reason: str


@dataclass(frozen=True)
class Unexpected:
    reason: str
    error: BaseException


Outcome = Sent | RetryAfter | Migrated | Transient | Permanent | Unexpected
_TRANSIENT = (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError, TimeoutError)
_PERMANENT = (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound, PermanentError)


def reason(exc: BaseException, token: str) -> str:
    """Telegram's words (or the error's), with the token blanked, short enough to store."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}", token)[:REASON_CHARS]


def classify(exc: Exception, token: str) -> Outcome:
    if isinstance(exc, TelegramRetryAfter):
        return RetryAfter(exc.retry_after)
    if isinstance(exc, TelegramMigrateToChat):
        return Migrated(exc.migrate_to_chat_id)
    if isinstance(exc, _TRANSIENT):
        return Transient(reason(exc, token))
    if isinstance(exc, _PERMANENT):
        return Permanent(reason(exc, token))
    return Unexpected(reason(exc, token), exc)


async def attempt(call: Awaitable[list[int]], token: str) -> Outcome:
    """Run one delivery (`call` answers the ids of the messages Telegram accepted) as the outbox: a 429
    comes back here instead of being waited out inside the call, and the call goes before command answers."""
    no_retry = RETRY_ON_429.set(False)
    from_outbox = FROM_OUTBOX.set(True)
    try:
        return Sent(await call)
    except Exception as exc:
        return classify(exc, token)
    finally:
        FROM_OUTBOX.reset(from_outbox)
        RETRY_ON_429.reset(no_retry)


def not_modified(exc: TelegramBadRequest) -> bool:
    """An edit that would change nothing: the message already shows it."""
    return "message is not modified" in exc.message


def edit_target_gone(exc: TelegramBadRequest) -> bool:
    """The message to edit was deleted."""
    return "message to edit not found" in exc.message


_PERSON_GONE = ("bot was blocked by the user", "chat not found", "user is deactivated", "can't initiate conversation")


def person_gone(chat_id: int, why: str) -> bool:
    """A private chat (a person's: positive id) Telegram refuses for good: they blocked the bot, or never
    started it — they cannot be paged until they /start it again."""
    return chat_id > 0 and any(words in why for words in _PERSON_GONE)
