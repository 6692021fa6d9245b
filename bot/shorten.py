"""Telegram's "message is too long": render the message again for a smaller limit, never drop it.

Every text opsbot builds fits 4096 UTF-16 units by construction. Should Telegram still refuse one (it
counts after trimming and parsing, and its rules may change), the notification is rendered again for
3000, 2000, then 1000 units — a card holds less of its message and the rest continues in replies, a
long text is split into more parts — instead of being marked failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

from bot.render.split import TELEGRAM_LIMIT, split_html, u16

log = logging.getLogger(__name__)
SHORTER_LIMITS = (TELEGRAM_LIMIT, 3000, 2000, 1000)
T = TypeVar("T")


def too_long(exc: TelegramBadRequest) -> bool:
    text = exc.message.lower()
    return "too long" in text or "message_too_long" in text


async def fitting(attempt: Callable[[int], Awaitable[T]]) -> tuple[T, int]:
    """`attempt(limit)` renders for `limit` UTF-16 units and sends; on "too long", again for less.
    Returns its result and the limit that was accepted (what goes with it can be split for that)."""
    for limit in SHORTER_LIMITS:
        try:
            return await attempt(limit), limit
        except TelegramBadRequest as exc:
            if not too_long(exc) or limit == SHORTER_LIMITS[-1]:
                raise
            log.warning("Telegram: message too long at %d units; rendering it shorter", limit)
    raise AssertionError("unreachable")


async def send_split(
    send: Callable[[str, InlineKeyboardMarkup | None], Awaitable[Message]],
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> list[int]:
    """Send one text of ours as one message; on "too long", the same text split into smaller parts (the
    buttons on the last). Returns the message ids."""
    try:
        return [(await send(text, markup)).message_id]
    except TelegramBadRequest as exc:
        smaller = [limit for limit in SHORTER_LIMITS if limit < u16(text)]
        if not too_long(exc) or not smaller:
            raise
        log.warning("Telegram: message too long (%d units); sending it in parts of %d", u16(text), smaller[0])
    ids: list[int] = []
    pieces = split_html(text, smaller[0])
    for n, piece in enumerate(pieces):
        ids += await send_split(send, piece, markup if n == len(pieces) - 1 else None)
    return ids
