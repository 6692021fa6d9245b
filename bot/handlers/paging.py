"""🙋 Escalate now, on a personal page: the next step of the alert's escalation policy, at once.

Only the person the policy paged for that alert, or an admin, may press it; a refusal is recorded like any
other (event `refused`)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.access import Access
from bot.callbacks import EscalateCb
from bot.render.fit import clip
from ops.engine.escalation import EscalateOutcome
from ops.engine.incidents import IncidentService
from ops.engine.pipeline import Pipeline
from ops.model import Actor
from ops.scoping import Scoping

ANSWER_UNITS = 200  # Telegram's limit on a callback answer's text


async def escalate_now(
    query: CallbackQuery,
    callback_data: EscalateCb,
    scoping: Scoping,
    incidents: IncidentService,
    pipeline: Pipeline,
    access: Access,
    actor: Actor,
) -> None:
    incident_id = callback_data.incident_id
    if not await scoping.incident_visible(incident_id, access.chat_id, access.sees_all):
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="escalate now: unknown incident")
        await query.answer("This alert is not known here.", show_alert=True)
        return
    admin = scoping.is_admin_user(actor.id)
    result = await pipeline.escalate_now(incident_id, actor, access.chat_id, admin=admin)
    if result.outcome is EscalateOutcome.not_paged:
        await incidents.record(
            "refused", actor, incident_id=incident_id, chat_id=access.chat_id, detail="escalate now: not paged for it"
        )
        await query.answer("Only the person paged for it, or an admin, can escalate it.", show_alert=True)
        return
    answer = {
        EscalateOutcome.done: f"Escalated: step {result.step}, {result.target} → {result.who}",
        EscalateOutcome.not_found: "This alert is not known here.",
        EscalateOutcome.not_firing: "Already acknowledged or resolved: nothing to escalate.",
        EscalateOutcome.no_step: "Its escalation policy has no step left.",
    }[result.outcome]
    await query.answer(clip(answer, ANSWER_UNITS), show_alert=result.outcome is not EscalateOutcome.done)


def build_router() -> Router:
    router = Router(name="paging")
    router.callback_query.register(escalate_now, EscalateCb.filter())
    return router
