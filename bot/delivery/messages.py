"""What each outbox row becomes in Telegram: its notification, rendered (`bot.render.notifications`), is
a card, an edit of the card, a reply to it or a message of its own. `silent` (quiet hours, `info`): every
message the row sends goes with `disable_notification` (edits make no sound anyway).

Every function sends (or edits) and answers the ids of the messages Telegram accepted; a long text goes
in parts, each saved as it is accepted (`save_progress`) so a retry resends none of them. A row that can
never go (its incident or original card is gone) raises `PermanentError`; Telegram's own errors go up
to the sender untouched, to be read by `bot.delivery.transport`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from bot.delivery.transport import PermanentError, edit_target_gone, not_modified
from bot.digests import redraw_digest
from bot.keyboards import alert_keyboard
from bot.render.digest import digest_view
from bot.render.notifications import Card, Edit, Nothing, Post, Reply, Undeliverable, render
from bot.render.split import TELEGRAM_LIMIT, split_html, u16
from bot.render.texts import alert_card
from bot.shorten import fitting, send_split
from ops.incidents.stats import ResponseTimes
from ops.model import Incident
from ops.notify.types import UnknownNotification
from ops.remediation.runner import RunView
from ops.runtime import OpsCore
from ops.slo.read import SloOverview
from ops.storage.digests import STORM
from ops.storage.outbox import OutboxRow

REQUEST_TIMEOUT = 20  # seconds; a call slower than this counts as transient
Poster = Callable[[str, InlineKeyboardMarkup | None], Awaitable[Message]]


class Messages:
    """Sending for the outbox: the bot, the runtime, and the helpers the kinds share."""

    def __init__(self, bot: Bot, core: OpsCore) -> None:
        self.bot = bot
        self.core = core
        self.request_timeout: float = REQUEST_TIMEOUT

    async def send(self, row: OutboxRow, thread_id: int | None = None, *, silent: bool = False) -> list[int]:
        """The one dispatch point: the row's notification, rendered (`bot.render.notifications`), decides
        what it becomes. `thread_id`: the forum topic its messages go to (None: the chat itself)."""
        try:
            notification = row.notification
        except UnknownNotification as exc:
            raise PermanentError(str(exc)) from None
        incident = await self.incident(row) if notification.incident else None
        try:
            shown = await render(notification, incident, _Sources(self.core))
        except Undeliverable as exc:
            raise PermanentError(str(exc)) from None
        if isinstance(shown, Post):
            return await self.text(row, shown.text, reply_to=None, thread_id=thread_id, silent=silent)
        if isinstance(shown, Nothing):
            return []
        assert incident is not None, type(notification).__name__
        if isinstance(shown, Card):
            return await card(self, row, incident, shown, thread_id, silent)
        if isinstance(shown, Edit):
            await self.refresh(row.chat_id, incident, self.core.clock(), required=True)
            return []
        return await reply(self, row, incident, shown, thread_id, silent)

    async def digest(
        self, chat_id: int, digest_id: int, thread_id: int | None = None, *, silent: bool = False
    ) -> list[int]:
        """A digest standing for several rows of one chat (in the topic `thread_id`, if any): a storm's,
        or the morning one of quiet hours."""
        entries = await self.core.digests.entries(digest_id)
        found = await self.core.digests.get(digest_id)
        kind = found.kind if found is not None else STORM

        async def send(limit: int) -> Message:
            text, markup = digest_view(digest_id, entries, 0, limit, kind)
            return await self.bot.send_message(
                chat_id,
                text,
                reply_markup=markup,
                message_thread_id=thread_id,
                disable_notification=silent or None,
                request_timeout=self.request_timeout,
            )

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
        self,
        row: OutboxRow,
        text: str,
        reply_to: int | None,
        markup: InlineKeyboardMarkup | None = None,
        thread_id: int | None = None,
        silent: bool = False,
    ) -> list[int]:
        """`text` in as many messages as it needs, replying to `reply_to`, the buttons on the last."""
        ids = list(row.message_ids)
        parts = split_html(text)
        poster = self.poster(row.chat_id, reply_to, thread_id, silent)
        for n, part in enumerate(parts[len(ids) :], start=len(ids)):
            last = n == len(parts) - 1
            ids += await send_split(poster, part, markup if last else None)
            await self.core.outbox.save_progress(row.id, ids)
        return ids

    def poster(self, chat_id: int, reply_to: int | None, thread_id: int | None = None, silent: bool = False) -> Poster:
        async def post(text: str, markup: InlineKeyboardMarkup | None) -> Message:
            return await self.bot.send_message(
                chat_id,
                text,
                reply_parameters=_reply(reply_to) if reply_to else None,
                reply_markup=markup,
                message_thread_id=thread_id,
                disable_notification=silent or None,
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
        # A private chat that is no admin chat got the card as a personal page: it keeps 🙋 Escalate now.
        page = chat_id > 0 and chat_id not in settings.admin_chat_ids
        markup = alert_keyboard(incident, page=page) or InlineKeyboardMarkup(inline_keyboard=[])

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


class _Sources:
    """What renderers may read (`bot.render.notifications.Sources`), from the runtime."""

    def __init__(self, core: OpsCore) -> None:
        self.core = core
        self.now = core.clock()
        self.flap_settle = core.settings.flap_settle

    async def run(self, run_id: int) -> RunView | None:
        return await self.core.remediation.get_run(run_id)

    async def slo(self) -> SloOverview:
        return await self.core.slo_reader.read()

    async def response_times(self, since: datetime, until: datetime) -> ResponseTimes:
        return await self.core.incident_log.response_times(since, until)


def _reply(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


# -- what the renderer said ---------------------------------------------------------------------


async def card(
    out: Messages, row: OutboxRow, incident: Incident, shown: Card, thread_id: int | None, silent: bool = False
) -> list[int]:
    """The alert card, with buttons; what does not fit it continues in replies to it."""
    now = out.core.clock()
    run = await out.core.remediation.latest_run(incident.id)
    prefix = shown.prefix
    ids = list(row.message_ids)  # parts already accepted before a retry
    sent: list[str] = []  # the continuation that goes with the card as it was accepted
    limit = TELEGRAM_LIMIT

    async def send_card(limit: int) -> Message:
        text, continuation = alert_card(incident, now, run, context=shown.context, limit=limit - u16(prefix))
        msg = await out.bot.send_message(
            row.chat_id,
            prefix + text,
            reply_markup=alert_keyboard(incident, page=shown.page),
            message_thread_id=thread_id,
            disable_notification=silent or None,
            request_timeout=out.request_timeout,
        )
        sent[:] = continuation
        return msg

    if not ids:
        msg, limit = await fitting(send_card)
        ids.append(msg.message_id)
        if sent:
            await out.core.outbox.save_progress(row.id, ids)
    else:  # a retry after the card went: its continuation as the card was drawn the first time
        sent[:] = alert_card(incident, now, run, context=shown.context, limit=TELEGRAM_LIMIT - u16(prefix))[1]
    parts = [p for text in sent for p in split_html(text, limit)]
    for part in parts[len(ids) - 1 :]:
        ids += await send_split(out.poster(row.chat_id, ids[0], thread_id, silent), part)
        await out.core.outbox.save_progress(row.id, ids)
    return ids


async def reply(
    out: Messages, row: OutboxRow, incident: Incident, shown: Reply, thread_id: int | None, silent: bool = False
) -> list[int]:
    """A reply to the card in this chat (first redrawn, if the renderer asks); with the alert's buttons
    when asked and the chat has no card."""
    original = await out.original(row.chat_id, incident)
    if shown.redraw:
        await out.refresh(row.chat_id, incident, out.core.clock(), required=False)
    markup = alert_keyboard(incident) if shown.buttons and original is None else None
    return await out.text(row, shown.text, reply_to=original, markup=markup, thread_id=thread_id, silent=silent)
