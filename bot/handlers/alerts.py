"""/alerts, /ack and the buttons on alert cards (Ack, Unack, Check now, Runbook), plus paging."""

from __future__ import annotations

import asyncio
import logging
import re
from html import escape
from pathlib import Path

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.access import Access
from bot.callbacks import AlertAction, AlertCb, AlertsPageCb
from bot.console.links import console_button, with_button
from bot.handlers.replies import answer_long, args_of
from bot.keyboards import pager
from bot.render.fit import clip
from bot.render.markdown import markdown_to_html
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.render.texts import alerts_text, title
from ops.alert_history import AlertHistory
from ops.config.current import CurrentConfig
from ops.engine.incidents import AckOutcome, IncidentService
from ops.model import Actor, CheckResult, Severity
from ops.scoping import Scoping
from ops.settings import Settings
from ops.slo.evaluate import SloEvaluator
from ops.slo.read import SloReader
from ops.sweeper import Sweeper
from ops.timeutil import Clock

log = logging.getLogger(__name__)

ALERTS_USAGE = "Usage: /alerts [info|warning|error|critical] [N] — N from 1 to 50, default 10"
ACK_USAGE = "Usage: /ack &lt;id|#fingerprint&gt; — e.g. /ack 17 or /ack #a1b2c3d4"
ADMIN_ONLY = "Only admins can do that."
ANSWER_UNITS = 200  # Telegram's limit on a callback answer's text
CHECK_ANSWER_WITHIN = 8.0  # seconds; Telegram drops callback answers after about 15
_BACKGROUND: set[asyncio.Task[object]] = set()


def parse_alerts_args(args: list[str]) -> tuple[str, int] | None:
    severity, size = "", 10
    if len(args) > 2:
        return None
    for arg in args:
        low = arg.lower()
        if low in Severity.__members__ and not severity:
            severity = low
        elif re.fullmatch("[0-9]{1,2}", arg) and 1 <= int(arg) <= 50:  # ASCII digits: "²" and "٥" are not
            size = int(arg)
        else:
            return None
    return severity, size


async def _alerts_page(history: AlertHistory, clock: Clock, access: Access, severity: str, offset: int, size: int):
    page = await history.alerts(
        chat_id=None if access.sees_all else access.chat_id,
        severity=Severity(severity) if severity else None,
        limit=size,
        offset=offset,
    )
    return alerts_text(page, severity, clock()), pager(severity, offset, size, page.total)


async def alerts(message: Message, history: AlertHistory, clock: Clock, access: Access, settings: Settings) -> None:
    parsed = parse_alerts_args(args_of(message))
    if parsed is None:
        await message.answer(ALERTS_USAGE)
        return
    severity, size = parsed
    text, markup = await _alerts_page(history, clock, access, severity, 0, size)
    await answer_long(message, text, with_button(markup, await console_button(message.bot, settings, access)))


async def alerts_page(
    query: CallbackQuery,
    callback_data: AlertsPageCb,
    history: AlertHistory,
    clock: Clock,
    access: Access,
    settings: Settings,
) -> None:
    severity = callback_data.severity if callback_data.severity in Severity.__members__ else ""
    size = min(max(callback_data.size, 1), 50)
    offset = max(callback_data.offset, 0)
    text, markup = await _alerts_page(history, clock, access, severity, offset, size)
    markup = with_button(markup, await console_button(query.bot, settings, access))  # as under /alerts
    if isinstance(query.message, Message):
        if u16(text) <= TELEGRAM_LIMIT:
            await query.message.edit_text(text, reply_markup=markup)
        else:
            await answer_long(query.message, text, markup)
    await query.answer()


async def ack_command(
    message: Message,
    history: AlertHistory,
    scoping: Scoping,
    incidents: IncidentService,
    access: Access,
    actor: Actor,
) -> None:
    args = args_of(message)
    if len(args) != 1:
        await message.answer(ACK_USAGE)
        return
    incident = await history.resolve_reference(args[0])
    if not await scoping.may_act_on(
        incident, chat_id=access.chat_id, sees_all=access.sees_all, actor=actor, what="/ack"
    ):  # refused and recorded, as a press of its Ack button from here would be
        await message.answer(f"No alert {escape(args[0][:20])} here. {ACK_USAGE}")
        return
    result = await incidents.acknowledge(incident.id, actor, access.chat_id)
    await message.answer(
        _ack_answer(result.outcome, result.incident.acknowledged_by if result.incident else None)
        + f" · {escape(title(incident))}"
    )


def _ack_answer(outcome: AckOutcome, by: str | None) -> str:
    return {
        AckOutcome.done: "Acknowledged",
        AckOutcome.already: f"Already acknowledged by {by or '?'}",
        AckOutcome.resolved: "Already resolved",
        AckOutcome.not_found: "No such alert",
        AckOutcome.not_acknowledged: "Not acknowledged",
    }[outcome]


async def alert_button(
    query: CallbackQuery,
    callback_data: AlertCb,
    scoping: Scoping,
    incidents: IncidentService,
    current: CurrentConfig,
    sweeper: Sweeper,
    slo_evaluator: SloEvaluator,
    slo_reader: SloReader,
    access: Access,
    actor: Actor,
) -> None:
    incident_id = callback_data.incident_id
    action = callback_data.action
    visible = await scoping.incident_visible(incident_id, access.chat_id, access.sees_all)
    incident = await incidents.get(incident_id) if visible else None
    if incident is None:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail=f"{action.value}: unknown incident")
        await query.answer("This alert is not known here.", show_alert=True)
        return
    await incidents.record(f"pressed:{action.value}", actor, incident_id=incident_id, chat_id=access.chat_id)
    if action is AlertAction.ack:
        result = await incidents.acknowledge(incident_id, actor, access.chat_id)
        await query.answer(_ack_answer(result.outcome, result.incident.acknowledged_by if result.incident else None))
    elif action is AlertAction.unack:
        result = await incidents.unacknowledge(incident_id, actor, access.chat_id)
        answer = (
            "Unacknowledged: reminders resume"
            if result.outcome is AckOutcome.done
            else _ack_answer(result.outcome, None)
        )
        await query.answer(answer)
    elif action is AlertAction.check:
        if not access.admin:
            await incidents.record(
                "refused",
                actor,
                incident_id=incident_id,
                chat_id=access.chat_id,
                detail="check: not an admin",
            )
            await query.answer(ADMIN_ONLY, show_alert=True)
            return
        slo = current.config.slo(incident.source[4:]) if incident.source.startswith("slo:") else None
        if slo is not None:
            status = await slo_reader.status(slo)
            await slo_evaluator.evaluate()
            verdict = "burn rates back within limits ✅" if status.alert == "ok" else f"still burning ({status.alert})"
            passes = "passes" if status.alert == "ok" else f"still burning ({status.alert})"
            await incidents.record("checked", actor, incident_id=incident_id, chat_id=access.chat_id, detail=passes)
            await query.answer(clip(f"{incident.source}: {verdict}", ANSWER_UNITS), show_alert=True)
            return
        detector = current.config.detector(incident.source)
        if incident.source.startswith("am:"):
            await query.answer("This alert is Alertmanager's: it resolves when Alertmanager says so.", show_alert=True)
            return
        if detector is None:
            await query.answer("Its detector is no longer configured.", show_alert=True)
            return
        # A callback must be answered within seconds: a slow detector finishes in the background,
        # and its result still reaches the card through the engine (resolve edits it).
        checked = incident

        async def check() -> list[CheckResult]:
            """Run it and put the verdict on the incident's timeline, however long it takes."""
            results, _ = await sweeper.run_one(detector)
            mine = [r for r in results if r.key == checked.key] or results
            passes = "passes" if mine and all(r.ok for r in mine) else "still failing"
            await incidents.record(
                "checked",
                actor,
                incident_id=incident_id,
                chat_id=access.chat_id,
                detail=f"{passes}: {mine[0].message if mine else ''}"[:1000],
            )
            return mine

        task = asyncio.create_task(check())
        _BACKGROUND.add(task)
        task.add_done_callback(_checked)
        done, _ = await asyncio.wait({task}, timeout=CHECK_ANSWER_WITHIN)
        if task not in done:
            await query.answer(
                clip(f"{incident.source} is still being checked; the card changes if it resolves.", ANSWER_UNITS)
            )
            return
        mine = task.result()
        verdict = "passes now ✅" if mine and all(r.ok for r in mine) else "still failing"
        await query.answer(
            clip(f"{incident.source}: {verdict}. {mine[0].message if mine else ''}", ANSWER_UNITS), show_alert=True
        )
    elif action is AlertAction.runbook:
        detector = current.config.detector(incident.source)
        if detector is None or not detector.runbook or not Path(detector.runbook).is_file():
            await query.answer("No runbook for this detector.", show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            text = markdown_to_html(Path(detector.runbook).read_text(encoding="utf-8"))
            await answer_long(query.message, text or f"{escape(detector.name)}'s runbook is empty.")


def _checked(task: asyncio.Task[list[CheckResult]]) -> None:
    """A check that outlived its button's answer ends here: an error is logged, never lost silently."""
    _BACKGROUND.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("check now failed: %s", error)


async def stale_button(query: CallbackQuery, actor: Actor, incidents: IncidentService, access: Access) -> None:
    """Anything else (an old or forged payload) changes nothing."""
    await incidents.record("refused", actor, chat_id=access.chat_id, detail="unknown button")
    await query.answer("This button no longer works.", show_alert=False)


def build_router() -> Router:
    router = Router(name="alerts")
    router.message.register(alerts, Command("alerts"))
    router.callback_query.register(alerts_page, AlertsPageCb.filter())
    router.message.register(ack_command, Command("ack"))
    router.callback_query.register(alert_button, AlertCb.filter())
    router.callback_query.register(stale_button, F.data)
    return router
