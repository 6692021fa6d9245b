"""The buttons on a storm digest: ✅ Ack all, 📋 Details (◀ ▶ through its pages), ↩ Summary."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import CallbackQuery

from bot.access import Access
from bot.callbacks import DigestAction, DigestCb
from bot.digests import redraw_digest
from ops.engine.incidents import AckOutcome, IncidentService
from ops.model import Actor, IncidentStatus
from ops.storage.digests import DigestStore


async def digest_button(
    query: CallbackQuery,
    callback_data: DigestCb,
    bot: Bot,
    digests: DigestStore,
    incidents: IncidentService,
    access: Access,
    actor: Actor,
) -> None:
    digest = await digests.get(callback_data.digest_id)
    if digest is None or (digest.chat_id != access.chat_id and not access.sees_all):
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="digest: unknown here")
        await query.answer("This digest is not known here.", show_alert=True)
        return
    if callback_data.action is DigestAction.ack_all:
        acked = 0
        for entry in await digests.entries(digest.id):
            if entry.incident.status is IncidentStatus.firing:
                result = await incidents.acknowledge(entry.incident.id, actor, access.chat_id)
                acked += result.outcome is AckOutcome.done
        await redraw_digest(bot, digests, digest.id)
        await query.answer(f"Acknowledged {acked} alert(s)" if acked else "Nothing left to acknowledge")
        return
    await redraw_digest(bot, digests, digest.id, page=max(0, callback_data.page))
    await query.answer()


def build_router() -> Router:
    router = Router(name="digests")
    router.callback_query.register(digest_button, DigestCb.filter())
    return router
