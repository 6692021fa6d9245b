"""🔕 Silence 1h / Until resolved buttons, /silence, /silences, /unsilence — admins."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.access import Access
from bot.callbacks import SilenceCb
from bot.handlers.replies import answer_long, args_of
from ops.alertmanager_api import AlertmanagerError
from ops.chat_silences import ChatSilences
from ops.config.current import CurrentConfig
from ops.engine.incidents import IncidentService
from ops.engine.silences import parse_matcher
from ops.engine.stages import Silence
from ops.model import Actor
from ops.scoping import Scoping
from ops.timeutil import Clock, format_duration, parse_duration

SILENCE_USAGE = (
    "Usage: /silence &lt;detector|#fingerprint|label=value&gt; &lt;duration&gt; [reason]"
    " — e.g. /silence cash_balance 2h deploy"
)
UNSILENCE_USAGE = "Usage: /unsilence &lt;id&gt; — ids are in /silences (an Alertmanager silence by its UUID)"
AM_UNTIL_RESOLVED = 24 * 3600.0  # Alertmanager silences need an end; opsbot's own one ends at the resolve
ADMIN_ONLY = "Only admins can silence alerts."
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def silence_button(
    query: CallbackQuery,
    callback_data: SilenceCb,
    silences: ChatSilences,
    scoping: Scoping,
    incidents: IncidentService,
    access: Access,
    actor: Actor,
) -> None:
    incident_id = callback_data.incident_id
    visible = await scoping.incident_visible(incident_id, access.chat_id, access.sees_all)
    incident = await incidents.get(incident_id) if visible else None
    if incident is None or callback_data.mode not in ("1h", "res"):
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="silence: unknown incident")
        await query.answer("This alert is not known here.", show_alert=True)
        return
    if not access.admin:
        await incidents.record(
            "refused", actor, incident_id=incident_id, chat_id=access.chat_id, detail="silence: not an admin"
        )
        await query.answer(ADMIN_ONLY, show_alert=True)
        return
    until_resolved = callback_data.mode == "res"
    silence, _ = await silences.create(
        chat_id=access.chat_id,
        kind="fingerprint",
        value=incident.fingerprint,
        label=None,
        seconds=None if until_resolved else 3600,
        incident_id=incident.id if until_resolved else None,
        reason="🔕 Until resolved button" if until_resolved else "🔕 Silence 1h button",
        actor=actor,
    )
    await query.answer(f"Silenced {'until resolved' if until_resolved else 'for 1h'} (silence {silence.id})")
    if incident.source.startswith("am:") and silences.alertmanager is not None:
        # An alert from Alertmanager: silence it there too, so Alertmanager stops notifying about it.
        labels = dict(incident.extras.get("labels") or {})
        seconds = AM_UNTIL_RESOLVED if until_resolved else 3600
        reason = "🔕 Until resolved button" if until_resolved else "🔕 Silence 1h button"
        try:
            am_id = await silences.alertmanager.create_silence(labels, seconds, actor.name, reason)
        except AlertmanagerError as exc:
            text = f"⚠️ {exc}"
        else:
            text = f"🔕 Silenced in Alertmanager too: <code>{escape(am_id)}</code> · {escape(actor.name)}"
        if isinstance(query.message, Message):
            await query.message.answer(text[:1000])


async def silence_command(
    message: Message,
    silences: ChatSilences,
    incidents: IncidentService,
    current: CurrentConfig,
    access: Access,
    actor: Actor,
) -> None:
    args = args_of(message)
    if len(args) < 2:
        await message.answer(SILENCE_USAGE)
        return
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="/silence: not an admin")
        await message.answer(ADMIN_ONLY)
        return
    target, raw_duration, reason = args[0], args[1], " ".join(args[2:])[:300] or "silenced from Telegram"
    try:
        seconds = parse_duration(raw_duration)
    except ValueError:
        seconds = 0
    if not 60 <= seconds <= 90 * 86400:
        await message.answer(f"The duration must be 1m to 90d. {SILENCE_USAGE}")
        return
    matcher = parse_matcher(target, current.config)
    if matcher is None:
        await message.answer(f"No detector {escape(target[:48])}. {SILENCE_USAGE}")
        return
    silence, muted = await silences.create(
        chat_id=access.chat_id,
        kind=matcher.kind,
        value=matcher.value,
        label=matcher.label,
        seconds=seconds,
        incident_id=None,
        reason=reason,
        actor=actor,
    )
    await message.answer(
        f"🔕 Silence {silence.id}: {escape(silence.target)} for {format_duration(seconds)} — {escape(reason)}"
        f" ({muted} open alert(s) muted)"
    )


async def silences_command(message: Message, silences: ChatSilences, clock: Clock, access: Access) -> None:
    """The silences this chat may see: made here or muting its alerts (admin chats: all)."""
    active = await silences.silences_for(access.chat_id, access.sees_all)
    now = clock()
    lines = [f"🔕 <b>Silences</b> · {len(active)} active" if active else "🔕 No active silences."]
    for s in active:
        lines.append(
            f"<b>{s.id}</b> · {escape(s.target)} · {_until(s, now)} · by {escape(s.created_by or '?')} · "
            f"{escape(s.reason or '')}"
        )
    if silences.alertmanager is not None:
        try:
            theirs = await silences.am_silences_for(access.chat_id, access.sees_all)
        except AlertmanagerError as exc:
            lines += ["", f"⚠️ {escape(str(exc))}"]
        else:
            lines += ["", f"<b>Alertmanager</b> · {len(theirs)} active"]
            lines += [
                f"<code>{escape(s.id)}</code> · {escape(s.matchers[:300])} · until {escape(s.ends_at[:16])} · "
                f"by {escape(s.created_by)} · {escape(s.comment[:200])}"
                for s in theirs
            ]
    await answer_long(message, "\n".join(lines))


async def unsilence_command(
    message: Message, silences: ChatSilences, incidents: IncidentService, access: Access, actor: Actor
) -> None:
    args = args_of(message)
    am_id = len(args) == 1 and _UUID.match(args[0]) is not None
    if len(args) != 1 or not (re.fullmatch("[0-9]{1,9}", args[0]) or am_id):
        await message.answer(UNSILENCE_USAGE)
        return
    if not access.admin:
        await incidents.record("refused", actor, chat_id=access.chat_id, detail="/unsilence: not an admin")
        await message.answer(ADMIN_ONLY)
        return
    if am_id:
        if silences.alertmanager is None:
            await message.answer("No Alertmanager is configured (ALERTMANAGER_URL).")
            return
        try:
            await silences.alertmanager.expire(args[0])
        except AlertmanagerError as exc:
            await message.answer(f"⚠️ {escape(str(exc))}")
            return
        await incidents.record("am_unsilenced", actor, chat_id=access.chat_id, detail=args[0])
        await message.answer(f"🔔 Alertmanager silence <code>{args[0]}</code> expired.")
        return
    back = await silences.expire(int(args[0]), actor)
    if back is None:
        await message.answer(f"No active silence {args[0]}. {UNSILENCE_USAGE}")
        return
    await message.answer(f"🔔 Silence {args[0]} ended ({back} alert(s) still firing are back).")


def _until(silence: Silence, now: datetime) -> str:
    if silence.ends_at is None:
        return "until resolved"
    return f"for {format_duration((silence.ends_at - now).total_seconds())} more"


def build_router() -> Router:
    router = Router(name="silences")
    router.callback_query.register(silence_button, SilenceCb.filter())
    router.message.register(silence_command, Command("silence"))
    router.message.register(silences_command, Command("silences"))
    router.message.register(unsilence_command, Command("unsilence"))
    return router
