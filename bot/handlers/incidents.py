"""/incidents, /incident (paged with ◀ ▶), /note, /postmortem, /stats, and people's messages about an
incident (in its forum topic, or replying to one of its cards) kept on its timeline.

A chat sees an incident when one of its alerts was sent there (admin chats and admins' private chats see
all, as with /alerts); an incident it may not see is answered as one that does not exist."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.access import Access, actor_of
from bot.callbacks import IncidentPageCb
from bot.delivery.transport import not_modified
from bot.handlers.replies import answer_parts, args_of
from bot.render.fit import clip
from bot.render.incidents import incident_pages, incidents_parts, postmortem_caption, stats_parts
from ops.incidents.log import IncidentLog, IncidentRecord
from ops.incidents.postmortem import Postmortems
from ops.incidents.read import IncidentGroup
from ops.model import Actor
from ops.scoping import Scoping
from ops.timeutil import Clock

INCIDENT_USAGE = "Usage: /incident &lt;id&gt; — e.g. /incident 12 (/incidents lists the open ones)"
NOTE_USAGE = "Usage: /note &lt;id&gt; &lt;text&gt; — e.g. /note 12 restarted the worker"
POSTMORTEM_USAGE = "Usage: /postmortem &lt;id&gt; — e.g. /postmortem 12"
STATS_USAGE = "Usage: /stats [days] — days from 1 to 90, default 7"
_ID = re.compile(r"#?([0-9]{1,9})")  # ASCII digits: "²" and "٥" are not ids
_DAYS = re.compile(r"([0-9]{1,2})d?")


def parse_id(arg: str) -> int | None:
    match = _ID.fullmatch(arg)
    return int(match.group(1)) if match else None


def _no_such(arg: str, usage: str) -> str:
    return f"No incident {escape(clip(arg, 20), quote=False)} here. {usage}"


async def _visible(scoping: Scoping, group: IncidentGroup, access: Access) -> bool:
    ids = [a.id for a in group.alerts]
    return bool(await scoping.visible_alerts(ids, access.chat_id, access.sees_all))


async def _record(
    incident_log: IncidentLog, scoping: Scoping, incident_id: int, access: Access
) -> IncidentRecord | None:
    record = await incident_log.get(incident_id)
    if record is None or not await _visible(scoping, record.incident, access):
        return None
    return record


async def incidents_command(
    message: Message, incident_log: IncidentLog, scoping: Scoping, clock: Clock, access: Access
) -> None:
    groups = list(reversed(await incident_log.open()))  # newest first
    seen = await scoping.visible_alerts([a.id for g in groups for a in g.alerts], access.chat_id, access.sees_all)
    shown = [g for g in groups if any(a.id in seen for a in g.alerts)]
    await answer_parts(message, incidents_parts(shown, clock()))


def _pager(incident_id: int, page: int, pages: int) -> InlineKeyboardMarkup | None:
    buttons = []
    if page > 0:
        buttons.append(
            InlineKeyboardButton(text="◀", callback_data=IncidentPageCb(incident_id=incident_id, page=page - 1).pack())
        )
    if page < pages - 1:
        buttons.append(
            InlineKeyboardButton(text="▶", callback_data=IncidentPageCb(incident_id=incident_id, page=page + 1).pack())
        )
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


async def incident_command(
    message: Message, incident_log: IncidentLog, scoping: Scoping, clock: Clock, access: Access
) -> None:
    args = args_of(message)
    incident_id = parse_id(args[0]) if len(args) == 1 else None
    if incident_id is None:
        await message.answer(INCIDENT_USAGE)
        return
    record = await _record(incident_log, scoping, incident_id, access)
    if record is None:
        await message.answer(_no_such(args[0], INCIDENT_USAGE))
        return
    pages = incident_pages(record, clock(), access.chat_id, access.sees_all)
    await answer_parts(message, pages[:1], _pager(incident_id, 0, len(pages)))  # fits; split if Telegram says not


async def incident_page(
    query: CallbackQuery,
    callback_data: IncidentPageCb,
    incident_log: IncidentLog,
    scoping: Scoping,
    clock: Clock,
    access: Access,
) -> None:
    record = await _record(incident_log, scoping, callback_data.incident_id, access)
    if record is None or not isinstance(query.message, Message):
        await query.answer("This incident is not known here.", show_alert=True)
        return
    pages = incident_pages(record, clock(), access.chat_id, access.sees_all)
    page = min(callback_data.page, len(pages) - 1)  # the timeline is as it is now, maybe shorter
    try:
        await query.message.edit_text(pages[page], reply_markup=_pager(record.incident.id, page, len(pages)))
    except TelegramBadRequest as exc:
        if not not_modified(exc):
            raise
    await query.answer()


async def note_command(
    message: Message, incident_log: IncidentLog, scoping: Scoping, access: Access, actor: Actor
) -> None:
    words = (message.text or "").split(maxsplit=2)
    incident_id = parse_id(words[1]) if len(words) > 1 else None
    if incident_id is None or len(words) < 3 or not words[2].strip():
        await message.answer(NOTE_USAGE)
        return
    record = await _record(incident_log, scoping, incident_id, access)
    if record is None or not await incident_log.note(incident_id, actor, words[2], access.chat_id):
        await message.answer(_no_such(words[1], NOTE_USAGE))
        return
    await message.answer(f"📝 Noted on incident #{incident_id}.")


async def postmortem_command(
    message: Message, incident_log: IncidentLog, postmortems: Postmortems, scoping: Scoping, access: Access
) -> None:
    args = args_of(message)
    incident_id = parse_id(args[0]) if len(args) == 1 else None
    if incident_id is None:
        await message.answer(POSTMORTEM_USAGE)
        return
    record = await _record(incident_log, scoping, incident_id, access)
    draft = await postmortems.draft(incident_id, access.chat_id, access.sees_all) if record is not None else None
    if record is None or draft is None:
        await message.answer(_no_such(args[0], POSTMORTEM_USAGE))
        return
    await message.answer_document(
        BufferedInputFile(draft.encode("utf-8"), filename=f"incident-{incident_id}-postmortem.md"),
        caption=postmortem_caption(incident_id, record.incident.title),
    )


async def stats_command(message: Message, incident_log: IncidentLog, clock: Clock) -> None:
    args = args_of(message)
    days = 7
    if args:
        match = _DAYS.fullmatch(args[0].lower()) if len(args) == 1 else None
        if match is None or not 1 <= int(match.group(1)) <= 90:
            await message.answer(STATS_USAGE)
            return
        days = int(match.group(1))
    now = clock()
    times = await incident_log.response_times(now - timedelta(days=days), now)
    await answer_parts(message, stats_parts(times, days))


def _said(message: Message) -> str:
    return message.text or message.caption or ""


def _about_an_incident(message: Message) -> bool:
    """A person's own words (not a command, not a bot's, not a service message) in a topic or a reply."""
    text = _said(message)
    return (
        bool(text.strip())
        and not text.startswith("/")
        and message.from_user is not None
        and not message.from_user.is_bot
        and (message.message_thread_id is not None or message.reply_to_message is not None)
    )


async def said(message: Message, incident_log: IncidentLog) -> None:
    """Kept on the incident's timeline when the topic or the replied card is one; otherwise ignored, as
    any other chatter is. Nothing is answered: the conversation stays the people's."""
    reply_to = message.reply_to_message.message_id if message.reply_to_message is not None else None
    await incident_log.said(
        message.chat.id, message.message_thread_id, reply_to, actor_of(message.from_user), _said(message)
    )


def build_router() -> Router:
    router = Router(name="incidents")
    router.message.register(incidents_command, Command("incidents"))
    router.message.register(incident_command, Command("incident"))
    router.message.register(note_command, Command("note"))
    router.message.register(postmortem_command, Command("postmortem"))
    router.message.register(stats_command, Command("stats"))
    router.callback_query.register(incident_page, IncidentPageCb.filter())
    return router


def build_listener() -> Router:
    """People's messages about incidents: matched last, after every command (and any text handler), so it
    takes only what nothing else wanted."""
    router = Router(name="incident-messages")
    router.message.register(said, F.func(_about_an_incident))
    return router
