"""/sweep: run every detector now (admins)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.access import Access
from bot.handlers.replies import answer_long
from bot.render.texts import sweep_text
from ops.engine import IncidentService
from ops.model import Actor
from ops.sweeper import Sweeper


async def sweep(message: Message, sweeper: Sweeper, incidents: IncidentService, access: Access, actor: Actor) -> None:
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="/sweep: not an admin")
        await message.answer("Only admins can run /sweep.")
        return
    await incidents.record("sweep", actor, chat_id=access.chat_id)
    report = await sweeper.sweep()
    await answer_long(message, sweep_text(report))


def build_router() -> Router:
    router = Router(name="sweep")
    router.message.register(sweep, Command("sweep"))
    return router
