"""Who is asking, and what they may see: computed once per update by an outer middleware.

Commands are answered in ALERT_CHAT_IDS and ADMIN_CHAT_IDS, in private chats with users in
ADMIN_USER_IDS, and in the private chats of people an escalation policy paged (the alerts sent there).
Anywhere else the bot reveals nothing (`/start` alone says how to configure it). Members of an on-call
schedule may also use /oncall (and answer a swap offered to them) in their own private chat with the bot,
which is where they are paged.
Admin actions are for users in ADMIN_USER_IDS: a handler of one checks `access.admin`, records the refusal
(event `refused`) and answers "Only admins can …" otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from ops.model import Actor
from ops.scoping import Scoping


@dataclass(frozen=True)
class Access:
    chat_id: int
    user_id: int | None
    private: bool
    configured: bool
    sees_all: bool
    admin: bool
    member: bool = False  # in a private chat, of a member of an on-call schedule


ONCALL_PRIVATE = ("/start", "/help", "/oncall")  # what a member may use in a private chat not configured
ONCALL_BUTTONS = "o1:"  # the on-call buttons' callback prefix (`bot.callbacks.OnCallCb`)
CONSOLE = "/console"  # in any private chat: the console decides (members of the alert chats get a link)


def actor_of(user: User | None) -> Actor:
    if user is None:
        return Actor(None, "unknown")
    return Actor(user.id, f"@{user.username}" if user.username else user.full_name)


class AccessMiddleware(BaseMiddleware):
    def __init__(self, scoping: Scoping) -> None:
        self.scoping = scoping

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = None
        user = getattr(event, "from_user", None)
        if isinstance(event, Message):
            chat = event.chat
        elif isinstance(event, CallbackQuery) and event.message is not None:
            chat = event.message.chat
        if chat is None:
            if isinstance(event, CallbackQuery):
                await event.answer()
            return None
        s = self.scoping
        private = chat.type == "private"
        user_id = user.id if user else None
        admin_private = private and s.is_admin_user(user_id)
        configured = s.is_alert_chat(chat.id) or s.is_admin_chat(chat.id) or admin_private
        if private and not configured:
            configured = await s.was_paged(chat.id)  # an on-call person paged here: the page's buttons work
        access = Access(
            chat_id=chat.id,
            user_id=user_id,
            private=private,
            configured=configured,
            sees_all=s.sees_everything(chat.id, user_id, private),
            admin=configured and s.is_admin_user(user_id),
            member=private and any(user_id in o.members for o in s.current.config.oncall),
        )
        if not configured:
            command = (event.text or "").split(" ")[0].split("@")[0] if isinstance(event, Message) else ""
            pressed = (event.data or "") if isinstance(event, CallbackQuery) else ""
            member_may = access.member and (command in ONCALL_PRIVATE or pressed.startswith(ONCALL_BUTTONS))
            member_may = member_may or (private and command == CONSOLE)  # its handler asks who they are
            if isinstance(event, CallbackQuery) and not member_may:
                await event.answer()  # stop the spinner, say nothing
                return None
            if command != "/start" and not member_may:
                return None
        data["access"] = access
        data["actor"] = actor_of(user)
        return await handler(event, data)
