"""🛠 Remediate (admins; confirm when the action asks for it), /remediate, /runbook, /remediations."""

from __future__ import annotations

from html import escape
from pathlib import Path

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.access import Access
from bot.callbacks import RemediateCb, RemediateStep
from bot.handlers.replies import answer_long, args_of
from bot.keyboards import confirm_keyboard
from bot.render.markdown import markdown_to_html
from bot.render.texts import remediations_text
from ops.model import Actor, Incident
from ops.services import OpsServices

REMEDIATE_USAGE = "Usage: /remediate &lt;detector&gt; — runs the remediation of its open alert (admins)"
RUNBOOK_USAGE = "Usage: /runbook &lt;detector&gt;"
REMEDIATIONS_USAGE = "Usage: /remediations [N] — N from 1 to 50, default 10"
ADMIN_ONLY = "Only admins can run remediations."


async def _start(services: OpsServices, incident: Incident, actor: Actor) -> str:
    runner = services.remediation
    action = runner.action_for(incident.source)
    if action is None:
        return f"{incident.source} has no remediation."
    outcome = await runner.request(action, incident, str(actor.id), actor)
    return outcome.message


def _confirm_text(services: OpsServices, incident: Incident) -> str:
    action = services.remediation.action_for(incident.source)
    what = escape(action.description) if action is not None and action.description else f"a {action.kind} action"
    return f"🛠 Run <b>{escape(action.name)}</b> for {escape(incident.source)} (incident {incident.id})? {what}"


async def remediate_button(
    query: CallbackQuery, callback_data: RemediateCb, services: OpsServices, access: Access, actor: Actor
) -> None:
    incident_id = callback_data.incident_id
    visible = await services.incident_visible(incident_id, access.chat_id, access.sees_all)
    incident = await services.incidents.get(incident_id) if visible else None
    if incident is None:
        await services.record("refused", actor, chat_id=access.chat_id, detail="remediate: unknown incident")
        await query.answer("This alert is not known here.", show_alert=True)
        return
    step = callback_data.step
    await services.record(f"pressed:remediate:{step.value}", actor, incident_id=incident_id, chat_id=access.chat_id)
    if not access.admin:
        await services.record(
            "refused", actor, incident_id=incident_id, chat_id=access.chat_id, detail="remediate: not an admin"
        )
        await query.answer(ADMIN_ONLY, show_alert=True)
        return
    action = services.remediation.action_for(incident.source)
    if action is None:
        await query.answer(f"{incident.source} has no remediation.", show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    if step is RemediateStep.ask and action.confirm:
        await query.answer()
        if message is not None:
            await message.reply(_confirm_text(services, incident), reply_markup=confirm_keyboard(incident_id))
        return
    if step is RemediateStep.cancel:
        await query.answer("Cancelled")
        if message is not None:
            await message.edit_text(f"✖ {escape(action.name)} cancelled by {escape(actor.name)}")
        return
    answer = await _start(services, incident, actor)
    await query.answer(answer)
    if step is RemediateStep.yes and message is not None:
        await message.edit_text(f"▶ {escape(action.name)}: {escape(answer)} — {escape(actor.name)}")


async def remediate_command(message: Message, services: OpsServices, access: Access, actor: Actor) -> None:
    args = args_of(message)
    if len(args) != 1:
        await message.answer(REMEDIATE_USAGE)
        return
    if not access.admin:
        await services.record("refused", actor, chat_id=access.chat_id, detail="/remediate: not an admin")
        await message.answer(ADMIN_ONLY)
        return
    detector = args[0].lower()
    if services.config.detector(detector) is None:
        await message.answer(f"No detector {escape(detector[:48])}. {REMEDIATE_USAGE}")
        return
    if services.remediation.action_for(detector) is None:
        await message.answer(f"{escape(detector)} has no remediation.")
        return
    incident = await services.open_incident_for(detector)
    if incident is None or not await services.incident_visible(incident.id, access.chat_id, access.sees_all):
        await message.answer(f"{escape(detector)} has no open alert here; nothing to remediate.")
        return
    action = services.remediation.action_for(detector)
    if action.confirm:
        await message.answer(_confirm_text(services, incident), reply_markup=confirm_keyboard(incident.id))
        return
    await message.answer(escape(await _start(services, incident, actor)))


async def runbook_command(message: Message, services: OpsServices) -> None:
    args = args_of(message)
    if len(args) != 1:
        await message.answer(RUNBOOK_USAGE)
        return
    config = services.config.detector(args[0].lower())
    if config is None:
        await message.answer(f"No detector {escape(args[0][:48])}. {RUNBOOK_USAGE}")
        return
    if not config.runbook or not Path(config.runbook).is_file():
        await message.answer(f"{escape(config.name)} has no runbook.")
        return
    text = markdown_to_html(Path(config.runbook).read_text(encoding="utf-8"))
    await answer_long(message, text or f"{escape(config.name)}'s runbook is empty.")


async def remediations_command(message: Message, services: OpsServices) -> None:
    args = args_of(message)
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 50 and len(args[0]) <= 2)):
        await message.answer(REMEDIATIONS_USAGE)
        return
    runs = await services.remediation.recent_runs(int(args[0]) if args else 10)
    await answer_long(message, remediations_text(runs, services.clock()))


def build_router() -> Router:
    router = Router(name="remediation")
    router.callback_query.register(remediate_button, RemediateCb.filter())
    router.message.register(remediate_command, Command("remediate"))
    router.message.register(runbook_command, Command("runbook"))
    router.message.register(remediations_command, Command("remediations"))
    return router
