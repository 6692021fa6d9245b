"""What each outbox row becomes in Telegram: one function per `row.kind`, chosen in `KINDS`.

Every function sends (or edits) and answers the ids of the messages Telegram accepted; a long text goes
in parts, each saved as it is accepted (`save_progress`) so a retry resends none of them. A row that can
never go (its incident or original card is gone) raises `PermanentError`; Telegram's own errors go up
to the sender untouched, to be read by `bot.delivery.transport`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from bot.delivery.transport import PermanentError, edit_target_gone, not_modified
from bot.digests import redraw_digest
from bot.keyboards import alert_keyboard
from bot.render.digest import digest_view
from bot.render.split import TELEGRAM_LIMIT, split_html, u16
from bot.render.texts import (
    alert_card,
    flapping_text,
    raised_text,
    remediation_result_text,
    reminder_text,
    resolved_text,
    slo_report_text,
)
from bot.shorten import fitting, send_split
from ops.model import Incident
from ops.runtime import OpsCore
from ops.storage.outbox import OutboxRow

REQUEST_TIMEOUT = 20  # seconds; a call slower than this counts as transient
Post = Callable[[str, InlineKeyboardMarkup | None], Awaitable[Message]]


class Messages:
    """Sending for the outbox: the bot, the runtime, and the helpers the kinds share."""

    def __init__(self, bot: Bot, core: OpsCore) -> None:
        self.bot = bot
        self.core = core
        self.request_timeout: float = REQUEST_TIMEOUT

    async def send(self, row: OutboxRow) -> list[int]:
        """The one dispatch point: the row's kind decides what it becomes."""
        kind = KINDS.get(row.kind)
        if kind is None:
            raise PermanentError(f"unknown outbox kind {row.kind!r}")
        return await kind(self, row)

    async def digest(self, chat_id: int, digest_id: int) -> list[int]:
        """A storm digest standing for several rows of one chat."""
        entries = await self.core.digests.entries(digest_id)

        async def send(limit: int) -> Message:
            text, markup = digest_view(digest_id, entries, 0, limit)
            return await self.bot.send_message(chat_id, text, reply_markup=markup, request_timeout=self.request_timeout)

        msg, _ = await fitting(send)
        await self.core.digests.set_message(digest_id, msg.message_id)
        self.core.metrics.outbox_digests_total.inc()
        return [msg.message_id]

    async def incident(self, row: OutboxRow) -> Incident:
        incident = await self.core.incidents.get(row.incident_id) if row.incident_id else None
        if incident is None:
            raise PermanentError(f"incident {row.incident_id} does not exist")
        return incident

    async def text(
        self, row: OutboxRow, text: str, reply_to: int | None, markup: InlineKeyboardMarkup | None = None
    ) -> list[int]:
        """`text` in as many messages as it needs, replying to `reply_to`, the buttons on the last."""
        ids = list(row.message_ids)
        parts = split_html(text)
        for n, part in enumerate(parts[len(ids) :], start=len(ids)):
            ids += await send_split(self.poster(row.chat_id, reply_to), part, markup if n == len(parts) - 1 else None)
            await self.core.outbox.save_progress(row.id, ids)
        return ids

    def poster(self, chat_id: int, reply_to: int | None) -> Post:
        async def post(text: str, markup: InlineKeyboardMarkup | None) -> Message:
            return await self.bot.send_message(
                chat_id,
                text,
                reply_parameters=_reply(reply_to) if reply_to else None,
                reply_markup=markup,
                request_timeout=self.request_timeout,
            )

        return post

    async def original(self, chat_id: int, incident: Incident) -> int | None:
        """The alert card of `incident` in this chat, if it went."""
        ids = await self.core.outbox.alert_message_ids(incident.id, chat_id)
        return ids[0] if ids else None

    async def refresh(self, chat_id: int, incident: Incident, now: datetime, *, required: bool) -> None:
        """Edit the alert card in this chat to show the incident as it is now."""
        original = await self.original(chat_id, incident)
        if original is None:
            digest_id = await self.core.digests.containing(incident.id, chat_id)
            if digest_id is not None:  # it went out in a storm digest: redraw that instead
                await self.refresh_digest(chat_id, digest_id)
                return
            if required:
                raise PermanentError("the original alert was never delivered to this chat")
            return
        run = await self.core.remediation.latest_run(incident.id)
        settings = self.core.settings
        context = chat_id in settings.admin_chat_ids and chat_id not in settings.alert_chat_ids  # notify_admin copies
        markup = alert_keyboard(incident) or InlineKeyboardMarkup(inline_keyboard=[])

        async def edit(limit: int) -> object:
            card, _ = alert_card(incident, now, run, context=context, limit=limit)
            return await self.bot.edit_message_text(
                text=card,
                chat_id=chat_id,
                message_id=original,
                reply_markup=markup,
                request_timeout=self.request_timeout,
            )

        try:
            await fitting(edit)
        except TelegramBadRequest as exc:
            if not_modified(exc):
                return
            if edit_target_gone(exc) and not required:
                return  # somebody deleted the card; the reply still tells the news
            raise

    async def refresh_digest(self, chat_id: int, digest_id: int) -> None:
        """One edit shows every change: queued card edits for the digest's other alerts are done too."""
        entries = await self.core.digests.entries(digest_id)
        await self.core.outbox.absorb_refreshes(chat_id, [e.incident.id for e in entries], self.core.clock())
        await redraw_digest(self.bot, self.core.digests, digest_id, request_timeout=self.request_timeout)


def _reply(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


# -- one function per kind ---------------------------------------------------------------------


async def alert(out: Messages, row: OutboxRow) -> list[int]:
    """The alert card, with buttons; what does not fit it continues in replies to it."""
    incident = await out.incident(row)
    now = out.core.clock()
    run = await out.core.remediation.latest_run(incident.id)
    context = bool(row.payload.get("context"))
    prefix = "〰️ <i>Stopped flapping; still firing.</i>\n" if row.payload.get("settled") else ""
    ids = list(row.message_ids)  # parts already accepted before a retry
    sent: list[str] = []  # the continuation that goes with the card as it was accepted
    limit = TELEGRAM_LIMIT

    async def send_card(limit: int) -> Message:
        card, continuation = alert_card(incident, now, run, context=context, limit=limit - u16(prefix))
        msg = await out.bot.send_message(
            row.chat_id, prefix + card, reply_markup=alert_keyboard(incident), request_timeout=out.request_timeout
        )
        sent[:] = continuation
        return msg

    if not ids:
        msg, limit = await fitting(send_card)
        ids.append(msg.message_id)
        if sent:
            await out.core.outbox.save_progress(row.id, ids)
    else:  # a retry after the card went: its continuation as the card was drawn the first time
        sent[:] = alert_card(incident, now, run, context=context, limit=TELEGRAM_LIMIT - u16(prefix))[1]
    parts = [p for text in sent for p in split_html(text, limit)]
    for part in parts[len(ids) - 1 :]:
        ids += await send_split(out.poster(row.chat_id, ids[0]), part)
        await out.core.outbox.save_progress(row.id, ids)
    return ids


async def refresh(out: Messages, row: OutboxRow) -> list[int]:
    """An edit of the alert card (or of the digest it went in); no new message."""
    incident = await out.incident(row)
    await out.refresh(row.chat_id, incident, out.core.clock(), required=True)
    return []


async def resolved(out: Messages, row: OutboxRow) -> list[int]:
    """The card shows the incident resolved, and a reply says so."""
    incident = await out.incident(row)
    original = await out.original(row.chat_id, incident)
    await out.refresh(row.chat_id, incident, out.core.clock(), required=False)
    text = resolved_text(incident, str(row.payload.get("message") or incident.message))
    return await out.text(row, text, reply_to=original)


async def reminder(out: Messages, row: OutboxRow) -> list[int]:
    """Still firing, not acknowledged; nothing if it was acknowledged or resolved since it was queued."""
    incident = await out.incident(row)
    if incident.status.value != "firing":
        return []
    original = await out.original(row.chat_id, incident)
    return await out.text(row, reminder_text(incident, out.core.clock()), reply_to=original)


async def raised(out: Messages, row: OutboxRow) -> list[int]:
    incident = await out.incident(row)
    original = await out.original(row.chat_id, incident)
    return await out.text(row, raised_text(incident, str(row.payload.get("from") or "?")), reply_to=original)


async def remediation(out: Messages, row: OutboxRow) -> list[int]:
    """How an automatic remediation run ended."""
    incident = await out.incident(row)
    original = await out.original(row.chat_id, incident)
    run = await out.core.remediation.get_run(int(row.payload.get("run_id") or 0))
    if run is None:
        raise PermanentError("the remediation run is gone")
    return await out.text(row, remediation_result_text(incident, run), reply_to=original)


async def note(out: Messages, row: OutboxRow) -> list[int]:
    incident = await out.incident(row)
    original = await out.original(row.chat_id, incident)
    return await out.text(row, escape(str(row.payload.get("text") or "")), reply_to=original)


async def flapping(out: Messages, row: OutboxRow) -> list[int]:
    """Flapping: in reply to the card, or with the card's buttons when there is no card in this chat."""
    incident = await out.incident(row)
    original = await out.original(row.chat_id, incident)
    text = flapping_text(incident, row.payload, out.core.settings.flap_settle)
    markup = alert_keyboard(incident) if original is None else None
    return await out.text(row, text, reply_to=original, markup=markup)


async def slo_report(out: Messages, row: OutboxRow) -> list[int]:
    statuses = await out.core.slo.statuses()
    return await out.text(row, slo_report_text(statuses), reply_to=None)


Kind = Callable[[Messages, OutboxRow], Awaitable[list[int]]]
KINDS: dict[str, Kind] = {
    "alert": alert,
    "refresh": refresh,
    "resolved": resolved,
    "reminder": reminder,
    "raised": raised,
    "remediation": remediation,
    "note": note,
    "flapping": flapping,
    "slo_report": slo_report,
}
