"""Ways into the console from Telegram: the `🖥 Console` button under /health and /alerts, and the
one-time login link /console sends.

Telegram allows `web_app` buttons only in private chats between a user and the bot, so an admin's
private chat gets one (the Mini App opens with their signed identity); a group gets a URL button to the
bot's Mini App link (`t.me/<bot>/<CONSOLE_APP>?startapp`), which Telegram opens as the same Mini App.
Without PUBLIC_URL there are no buttons."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.access import Access
from ops.settings import Settings

LABEL = "🖥 Console"
NEEDS_URL = (
    "The console needs PUBLIC_URL: set it to the https address of opsbot's HTTP server "
    "(e.g. https://ops.example.com), then restart."
)


def app_url(settings: Settings) -> str:
    return f"{settings.public_url}/app/"


def direct_link(settings: Settings, bot_username: str) -> str:
    """The t.me link Telegram opens as the bot's Mini App, in any chat."""
    if settings.console_app:
        return f"https://t.me/{bot_username}/{settings.console_app}?startapp=console"
    return f"https://t.me/{bot_username}?startapp=console"


async def console_button(bot: Bot | None, settings: Settings, access: Access) -> InlineKeyboardButton | None:
    """The `🖥 Console` button for an answer in this chat (None: none here)."""
    if not settings.public_url.startswith("https://") or bot is None:
        return None  # none, or a loopback URL to try /console's links: Telegram opens Mini Apps over https only
    if access.private:
        if not access.admin:
            return None
        return InlineKeyboardButton(text=LABEL, web_app=WebAppInfo(url=app_url(settings)))
    me = await bot.me()
    if not me.username:
        return None
    return InlineKeyboardButton(text=LABEL, url=direct_link(settings, me.username))


def with_button(
    markup: InlineKeyboardMarkup | None, button: InlineKeyboardButton | None
) -> InlineKeyboardMarkup | None:
    """`markup` with `button` on a row of its own at the bottom."""
    if button is None:
        return markup
    rows = list(markup.inline_keyboard) if markup is not None else []
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [button]])


async def is_member(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Telegram's getChatMember: is this user in this chat now?"""
    member = await bot.get_chat_member(chat_id, user_id)
    return member.status in ("creator", "administrator", "member") or (
        member.status == "restricted" and bool(getattr(member, "is_member", False))
    )
