"""Editing a digest (a storm's, or the overnight one of quiet hours) in place: after a button press, and
when one of its alerts changes."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.render.digest import digest_view
from bot.shorten import fitting
from ops.storage.digests import DigestStore


async def redraw_digest(
    bot: Bot, store: DigestStore, digest_id: int, *, page: int | None = None, request_timeout: int | None = None
) -> bool:
    """Show the digest's current state (at `page`, or the page it shows now). False if it is gone."""
    digest = await store.get(digest_id)
    if digest is None or digest.message_id is None:
        return False
    if page is not None and page != digest.page:
        await store.set_page(digest_id, page)
    entries = await store.entries(digest_id)
    shown = digest.page if page is None else page
    chat_id, message_id = digest.chat_id, digest.message_id

    async def edit(limit: int) -> object:
        text, markup = digest_view(digest_id, entries, shown, limit, digest.kind)
        return await bot.edit_message_text(
            text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup, request_timeout=request_timeout
        )

    try:
        await fitting(edit)
    except TelegramBadRequest as exc:
        if "message is not modified" in exc.message:
            return True
        if "message to edit not found" in exc.message:
            return False
        raise
    return True
