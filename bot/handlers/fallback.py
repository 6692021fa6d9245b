"""Unknown commands get one line; plain chatter is ignored."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message


async def unknown_command(message: Message) -> None:
    await message.answer("Unknown command. /help lists what I can do.")


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    return router
