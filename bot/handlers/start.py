"""/start and /help. /start in a private chat also records the person: they can be paged there."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.access import Access
from bot.render.texts import help_text, member_text, unconfigured_text
from ops.oncall.service import OnCall


async def start(message: Message, access: Access, oncall: OnCall) -> None:
    if access.private and message.from_user is not None:  # from now on they can be paged here
        user = message.from_user
        await oncall.met(user.id, user.username, user.full_name)
    if access.member and not access.configured:
        await message.answer(member_text())
        return
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
