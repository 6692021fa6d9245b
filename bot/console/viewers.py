"""Who opened the console, and what they may see and do — the rules of the chats (`bot.access`,
`ops.scoping`) applied to a person instead of a chat:

- a user in ADMIN_USER_IDS sees everything and may do the admin actions (silence, expire), as in their
  private chat with the bot;
- anyone else sees what was sent to the alert chats they are a member of (Telegram's getChatMember,
  asked at most once a minute per person), everything if they are a member of an admin chat, and the
  alerts they were paged with in their private chat; they may acknowledge those, as in the chat;
- a person in none of these chats has no console (403)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ops.model import Actor
from ops.scoping import Scoping

log = logging.getLogger(__name__)

MEMBERSHIP_TTL = 60.0  # seconds a getChatMember answer is trusted
MEMBER_STATUSES = ("creator", "administrator", "member")

MemberCheck = Callable[[int, int], Awaitable[bool]]  # (chat id, user id) → a member now?


@dataclass(frozen=True)
class Viewer:
    user_id: int
    name: str
    admin: bool  # ADMIN_USER_IDS: the admin actions
    sees_all: bool  # an admin, or a member of an admin chat
    chats: tuple[int, ...]  # the chats whose alerts they see (when not sees_all)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.name)

    @property
    def chat_id(self) -> int | None:
        """The chat an action of theirs is recorded against (as a press in it would be): None for an
        admin, who acts from everywhere."""
        return None if self.sees_all or not self.chats else self.chats[0]


MEMBERSHIP_CACHE = 10_000  # (chat, person) answers kept before the stale ones are dropped


class Viewers:
    def __init__(self, scoping: Scoping, member: MemberCheck, ttl: float = MEMBERSHIP_TTL) -> None:
        self.scoping = scoping
        self.member = member
        self.ttl = ttl
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    def _chats(self) -> tuple[list[int], list[int]]:
        s = self.scoping
        alert = sorted(set(s.settings.alert_chat_ids) | {c for r in s.current.config.routes for c in r.chats})
        return alert, sorted(set(s.settings.admin_chat_ids))

    async def _is_member(self, chat_id: int, user_id: int) -> bool:
        now = time.monotonic()
        cached = self._cache.get((chat_id, user_id))
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            found = await self.member(chat_id, user_id)
        except Exception as exc:  # Telegram unreachable, the bot no longer in the chat: not a member now
            log.info("console: getChatMember(%s, %s) failed: %s", chat_id, user_id, type(exc).__name__)
            return False
        if len(self._cache) >= MEMBERSHIP_CACHE:  # forget the answers that are out of date anyway
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl}
        self._cache[(chat_id, user_id)] = (now, found)
        return found

    async def viewer(self, user_id: int, name: str) -> Viewer | None:
        """What this person may see and do now; None: nothing (in no alert or admin chat, never paged)."""
        if self.scoping.is_admin_user(user_id):
            return Viewer(user_id, name, admin=True, sees_all=True, chats=())
        alert_chats, admin_chats = self._chats()
        for chat in admin_chats:
            if await self._is_member(chat, user_id):
                return Viewer(user_id, name, admin=False, sees_all=True, chats=())
        chats = [c for c in alert_chats if await self._is_member(c, user_id)]
        if await self.scoping.was_paged(user_id):  # their private chat got alert cards: those are theirs
            chats.append(user_id)
        if not chats:
            return None
        return Viewer(user_id, name, admin=False, sees_all=False, chats=tuple(chats))
