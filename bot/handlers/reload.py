"""/reload (admins): re-read the settings and the config file now, as SIGHUP does; the answer says what
changed, or the file's errors as `opsbot check-config` prints them."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.access import Access
from bot.render.texts import reload_text
from ops.engine.incidents import IncidentService
from ops.model import Actor
from ops.reload import ReloadOutcome


class Reload(Protocol):
    def __call__(self, *, asked_in: int | None = None) -> Awaitable[ReloadOutcome]: ...


async def reload_command(
    message: Message, reload: Reload, incidents: IncidentService, access: Access, actor: Actor
) -> None:
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="/reload: not an admin")
        await message.answer("Only admins can run /reload.")
        return
    await incidents.record("reload", actor, chat_id=access.chat_id)
    outcome = await reload(asked_in=access.chat_id)
    await message.answer(reload_text(outcome))


def build_router() -> Router:
    router = Router(name="reload")
    router.message.register(reload_command, Command("reload"))
    return router
