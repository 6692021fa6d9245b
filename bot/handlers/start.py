"""/start and /help. /start in a private chat also records the person: they can be paged there."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.access import Access
from bot.render.texts import help_text, member_text, unconfigured_text
from bot.topics.forums import RIGHT_NAME, probe
from ops.duties import describe
from ops.oncall.service import OnCall

log = logging.getLogger(__name__)

TOPICS_HINT = (
    "\n\n💡 This chat is a forum: give the bot the “{right}” admin right and each incident gets a topic "
    "of its own here, with a pinned board of the open ones."
)


async def start(message: Message, access: Access, bot: Bot, oncall: OnCall) -> None:
    if access.private and message.from_user is not None:  # from now on they can be paged here
        user = message.from_user
        await oncall.met(user.id, user.username, user.full_name)
    if access.member and not access.configured:
        await message.answer(member_text())
        return
    if not access.configured:
        await message.answer(unconfigured_text(access.chat_id, access.private))
        return
    await message.answer(help_text() + await _topics_hint(bot, message))


async def _topics_hint(bot: Bot, message: Message) -> str:
    """In a forum where the bot may not manage topics: which right would turn incident topics on."""
    if not message.chat.is_forum:
        return ""
    try:
        state = await probe(bot, message.chat.id)
    except TelegramAPIError as exc:
        log.info("chat %s: could not read the bot's rights: %s", message.chat.id, describe(exc))
        return ""
    return "" if state.topics else TOPICS_HINT.format(right=RIGHT_NAME)


async def help_(message: Message) -> None:
    await message.answer(help_text())


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    return router
