"""🛠 Remediate (admins; confirm when the action asks for it, with a single-use ✅ Yes), /remediate,
/runbook, /remediations."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.access import Access
from bot.callbacks import ConfirmAnswer, ConfirmCb, RemediateCb
from bot.handlers.replies import answer_long, args_of
from bot.keyboards import confirm_keyboard
from bot.render.markdown import markdown_to_html
from bot.render.texts import remediations_text
from ops.alert_history import AlertHistory
from ops.config.current import CurrentConfig
from ops.config.models import RemediationBase
from ops.engine.incidents import IncidentService
from ops.model import Actor, Incident
from ops.remediation import RemediationRunner, Verdict
from ops.remediation.runs import RemediationRuns
from ops.scoping import Scoping
from ops.timeutil import Clock

REMEDIATE_USAGE = "Usage: /remediate &lt;detector&gt; — runs the remediation of its open alert (admins)"
RUNBOOK_USAGE = "Usage: /runbook &lt;detector&gt;"
REMEDIATIONS_USAGE = "Usage: /remediations [N] — N from 1 to 50, default 10"
ADMIN_ONLY = "Only admins can run remediations."


async def _start(runner: RemediationRunner, incident: Incident, actor: Actor) -> str:
    action = runner.action_for(incident.source)
    if action is None:
        return f"{incident.source} has no remediation."
    outcome = await runner.request(action, incident, str(actor.id), actor)
    return outcome.message


def _confirm_text(runner: RemediationRunner, incident: Incident) -> str:
    action = runner.action_for(incident.source)
    what = escape(action.description) if action is not None and action.description else f"a {action.kind} action"
    return f"🛠 Run <b>{escape(action.name)}</b> for {escape(incident.source)} (alert {incident.id})? {what}"


async def _ask(
    runner: RemediationRunner, incident: Incident, action: RemediationBase, access: Access, actor: Actor
) -> tuple[str, InlineKeyboardMarkup]:
    """The question for an action with `confirm: true`, its buttons carrying a fresh single-use token."""
    token = await runner.confirmations.ask(incident.id, action.name, access.chat_id, actor.id)
    return _confirm_text(runner, incident), confirm_keyboard(token)


async def remediate_button(
    query: CallbackQuery,
    callback_data: RemediateCb,
    remediation: RemediationRunner,
    scoping: Scoping,
    incidents: IncidentService,
    access: Access,
    actor: Actor,
) -> None:
    incident_id = callback_data.incident_id
    visible = await scoping.incident_visible(incident_id, access.chat_id, access.sees_all)
    incident = await incidents.get(incident_id) if visible else None
    if incident is None:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="remediate: unknown incident")
        await query.answer("This alert is not known here.", show_alert=True)
        return
    step = callback_data.step
    await incidents.record(f"pressed:remediate:{step.value}", actor, incident_id=incident_id, chat_id=access.chat_id)
    if not access.admin:
        await incidents.record(
            "refused", actor, incident_id=incident_id, chat_id=access.chat_id, detail="remediate: not an admin"
        )
        await query.answer(ADMIN_ONLY, show_alert=True)
        return
    action = remediation.action_for(incident.source)
    if action is None:
        await query.answer(f"{incident.source} has no remediation.", show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    if action.confirm:
        await query.answer()
        if message is not None:
            text, markup = await _ask(remediation, incident, action, access, actor)
            await message.reply(text, reply_markup=markup)
        return
    await query.answer(await _start(remediation, incident, actor))


# Why a ✅ Yes / ✖ Cancel runs nothing: (the answer shown, the refusal's audit detail).
_REFUSALS = {
    Verdict.unknown: ("This confirmation is not valid: press 🛠 Remediate again.", "unknown confirmation"),
    Verdict.elsewhere: ("This confirmation is not valid: press 🛠 Remediate again.", "confirmation from another chat"),
    Verdict.used: ("This confirmation was already answered.", "confirmation already used"),
    Verdict.expired: ("This confirmation has expired: press 🛠 Remediate again.", "confirmation expired"),
    Verdict.resolved: ("The alert has resolved since: nothing to run.", "alert resolved since the question"),
}


async def confirm_button(
    query: CallbackQuery,
    callback_data: ConfirmCb,
    remediation: RemediationRunner,
    incidents: IncidentService,
    access: Access,
    actor: Actor,
) -> None:
    """✅ Yes / ✖ Cancel: admins only; the token is used up by the first admin's answer."""
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="remediate: not an admin")
        await query.answer(ADMIN_ONLY, show_alert=True)
        return
    answer = callback_data.answer
    redeemed = await remediation.confirmations.redeem(callback_data.token, access.chat_id, answer.value)
    if redeemed.verdict is not Verdict.ok:
        shown, why = _REFUSALS[redeemed.verdict]
        mine = redeemed.verdict is not Verdict.elsewhere  # another chat's incident id is not this chat's business
        incident_id = redeemed.incident_id if mine else None
        detail = f"remediate: {why}"
        await incidents.record("refused", actor, incident_id=incident_id, chat_id=access.chat_id, detail=detail)
        await query.answer(shown, show_alert=True)
        return
    assert redeemed.incident_id is not None
    await incidents.record(
        f"pressed:remediate:{answer.value}", actor, incident_id=redeemed.incident_id, chat_id=access.chat_id
    )
    message = query.message if isinstance(query.message, Message) else None
    name = escape(redeemed.action or "")
    if answer is ConfirmAnswer.no:
        await query.answer("Cancelled")
        if message is not None:
            await message.edit_text(f"✖ {name} cancelled by {escape(actor.name)}")
        return
    incident = await incidents.get(redeemed.incident_id)
    action = remediation.action_for(incident.source) if incident is not None else None
    if incident is None or action is None or action.name != redeemed.action:  # the config changed meanwhile
        detail = "remediate: the confirmed action is no longer configured"
        await incidents.record(
            "refused", actor, incident_id=redeemed.incident_id, chat_id=access.chat_id, detail=detail
        )
        await query.answer("This confirmation is not valid: press 🛠 Remediate again.", show_alert=True)
        return
    started = await _start(remediation, incident, actor)
    await query.answer(started)
    if message is not None:
        await message.edit_text(f"▶ {name}: {escape(started)} — {escape(actor.name)}")


async def remediate_command(
    message: Message,
    remediation: RemediationRunner,
    history: AlertHistory,
    scoping: Scoping,
    incidents: IncidentService,
    current: CurrentConfig,
    access: Access,
    actor: Actor,
) -> None:
    args = args_of(message)
    if len(args) != 1:
        await message.answer(REMEDIATE_USAGE)
        return
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="/remediate: not an admin")
        await message.answer(ADMIN_ONLY)
        return
    detector = args[0].lower()
    if current.config.detector(detector) is None:
        await message.answer(f"No detector {escape(detector[:48])}. {REMEDIATE_USAGE}")
        return
    if remediation.action_for(detector) is None:
        await message.answer(f"{escape(detector)} has no remediation.")
        return
    incident = await history.open_incident_for(detector)
    if incident is None or not await scoping.may_act_on(
        incident, chat_id=access.chat_id, sees_all=access.sees_all, actor=actor, what="/remediate"
    ):
        await message.answer(f"{escape(detector)} has no open alert here; nothing to remediate.")
        return
    action = remediation.action_for(detector)
    if action.confirm:
        text, markup = await _ask(remediation, incident, action, access, actor)
        await message.answer(text, reply_markup=markup)
        return
    await message.answer(escape(await _start(remediation, incident, actor)))


async def runbook_command(message: Message, current: CurrentConfig) -> None:
    args = args_of(message)
    if len(args) != 1:
        await message.answer(RUNBOOK_USAGE)
        return
    detector = current.config.detector(args[0].lower())
    if detector is None:
        await message.answer(f"No detector {escape(args[0][:48])}. {RUNBOOK_USAGE}")
        return
    if not detector.runbook or not Path(detector.runbook).is_file():
        await message.answer(f"{escape(detector.name)} has no runbook.")
        return
    text = markdown_to_html(Path(detector.runbook).read_text(encoding="utf-8"))
    await answer_long(message, text or f"{escape(detector.name)}'s runbook is empty.")


async def remediations_command(
    message: Message, remediation_runs: RemediationRuns, clock: Clock, access: Access
) -> None:
    args = args_of(message)
    if len(args) > 1 or (args and not (re.fullmatch("[0-9]{1,2}", args[0]) and 1 <= int(args[0]) <= 50)):
        await message.answer(REMEDIATIONS_USAGE)
        return
    runs = await remediation_runs.for_chat(access.chat_id, access.sees_all, int(args[0]) if args else 10)
    await answer_long(message, remediations_text(runs, clock()))


def build_router() -> Router:
    router = Router(name="remediation")
    router.callback_query.register(remediate_button, RemediateCb.filter())
    router.callback_query.register(confirm_button, ConfirmCb.filter())
    router.message.register(remediate_command, Command("remediate"))
    router.message.register(runbook_command, Command("runbook"))
    router.message.register(remediations_command, Command("remediations"))
    return router
