"""/console: in a private chat, a one-time login link to the console for a browser (10 minutes, single
use) — for whoever the console has something for (admins, members of the alert chats); in a group, where
to ask for one, with the `🖥 Console` button."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.access import Access
from bot.console.links import NEEDS_URL, console_button, with_button
from bot.console.server import Console
from ops.model import Actor
from ops.settings import Settings
from ops.storage.console import TokenOwner


async def console_command(
    message: Message, settings: Settings, access: Access, actor: Actor, console: Console | None = None
) -> None:
    if console is None or actor.id is None:
        return
    if not access.private:
        if not access.configured:
            return
        text = "🖥 The console opens from the button; for a browser, send /console to me in a private chat."
        if not settings.public_url:
            text = NEEDS_URL
        button = await console_button(message.bot, settings, access)
        await message.answer(text, reply_markup=with_button(None, button))
        return
    viewer = await console.viewers.viewer(actor.id, actor.name)
    if viewer is None:  # the console has nothing for them: say nothing, as anywhere the bot is not used
        return
    if not settings.public_url:
        await message.answer(NEEDS_URL)
        return
    link = settings.public_url + await console.login_link(TokenOwner(actor.id, actor.name))
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="🖥 Open the console", url=link)]])
    await message.answer(
        f"🖥 Your login link to the console (works once, for 10 minutes):\n{escape(link)}",
        reply_markup=markup,
        disable_web_page_preview=True,
    )


def build_router() -> Router:
    router = Router(name="console")
    router.message.register(console_command, Command("console"))
    return router
