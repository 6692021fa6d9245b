"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.access import Access
from bot.render.texts import help_text, unconfigured_text


async def start(message: Message, access: Access) -> None:
    if not access.configured:
        await message.answer(unconfigured_text(access.chat_id, access.private))
        return
    await message.answer(help_text())


async def help_(message: Message) -> None:
    await message.answer(help_text())


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    return router
