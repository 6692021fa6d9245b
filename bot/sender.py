"""Drains the outbox into Telegram, within Telegram's limits, one call in flight at a time.

Per chat, rows go in id order; a chat waiting on a 429 or a backoff holds up only itself. Errors
are classified here and nowhere else (as healthchecks' transports do):
- 429: wait `retry_after`, retry the same row (not counted as a failed attempt);
- 5xx, network errors, timeouts, 401: transient — retry with exponential backoff, never dropped;
- 403, 400 (chat not found, …): permanent — the row is marked failed with Telegram's reason;
- 400 "message is too long": the message is rendered again, shorter (`bot.shorten`), never dropped;
- a group that became a supergroup: its rows move to the new chat id.
A row is marked sent only after Telegram accepted it; only one row is ever `sending`, so a crash
can repeat at most that one message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from bot.digests import redraw_digest
from bot.keyboards import alert_keyboard
from bot.limits import FROM_OUTBOX, RETRY_ON_429, RateLimiter
from bot.redact import redact
from bot.render.digest import MAX_ENTRIES, digest_view
from bot.render.split import TELEGRAM_LIMIT, split_html, u16
from bot.render.texts import (
    alert_card,
    config_rejected_text,
    flapping_text,
    raised_text,
    remediation_result_text,
    reminder_text,
    resolved_text,
    slo_report_text,
)
from bot.shorten import fitting, send_split
from ops.model import Incident
from ops.reload import CONFIG_REJECTED
from ops.runtime import OpsCore
from ops.storage.outbox import OutboxRow

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0
REQUEST_TIMEOUT = 20
DIGEST_KINDS = frozenset({"alert", "resolved", "reminder", "raised", "note", "flapping"})
DIGEST_SCAN = 500  # queued rows of one chat looked at when forming a digest


def _digestible(row: OutboxRow) -> bool:
    """A notification about one incident that a digest line can stand for."""
    return row.kind in DIGEST_KINDS and row.incident_id is not None and not row.message_ids


class PermanentError(Exception):
    """This row can never be delivered (Telegram said so, or its original message is gone)."""


class Sender:
    def __init__(self, bot: Bot, core: OpsCore, limiter: RateLimiter, *, idle_poll: float = 0.25) -> None:
        self.bot = bot
        self.core = core
        self.outbox = core.outbox
        self.limiter = limiter
        self.idle_poll = idle_poll
        self.request_timeout = REQUEST_TIMEOUT  # a call slower than this counts as transient
        self.backoff_base = 1.0  # seconds before the first retry of a transient error; doubles after
        self._wake = asyncio.Event()
        self._started = False
        self._soonest = idle_poll  # seconds until the first chat held back by the limits may go
        core.wakeup.listeners.append(self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Before the first delivery: what was sent in the last minute still counts against the limits
        (with several replicas the shared budget knows; alone, the outbox does). Rows a crash left in
        flight are queued again by the leader (`Coordinator.reap`)."""
        if self.limiter.shared is not None:
            return
        now = self.core.clock()
        recent = await self.outbox.sent_since(now - timedelta(seconds=60))
        self.limiter.prime([(chat, (now - at).total_seconds()) for chat, at in recent])

    async def run(self) -> None:
        """Deliver until cancelled. An error here (the database is down) ends the run: the app runs it as a
        duty (`ops.duties`), which logs that once per failure streak and runs it again with backoff."""
        if not self._started:
            await self.start()
            self._started = True
        while True:
            delivered = await self.drain()
            if delivered:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, min(self.idle_poll, self._soonest)))
            except TimeoutError:
                pass

    async def drain(self) -> int:
        """Deliver every row that may go now; returns how many messages were attempted."""
        attempted = 0
        while True:
            await self.limiter.sync()
            now = self.core.clock()
            heads = await self.outbox.heads(now)
            ready = []
            self._soonest = self.idle_poll
            for row in heads:
                if self._held(row, now):
                    continue
                wait = self.limiter.ready_in(row.chat_id)
                if wait > 0:  # due, held back only by the limits: it goes before any command answer
                    self.limiter.want(row.chat_id)
                    self._soonest = min(self._soonest, wait)
                else:
                    ready.append(row)
            if not ready:
                return attempted
            for row in ready:
                if self.limiter.ready_in(row.chat_id) > 0:
                    continue
                if await self._deliver_head(row, now):
                    attempted += 1

    # -- storms ----------------------------------------------------------------------------
    def _held(self, row: OutboxRow, now: datetime) -> bool:
        """Fresh notifications arriving together wait until GROUP_WAIT_SEC after the first for the rest of
        the storm, so it goes as one digest rather than a few cards and then a digest. A lone alert does
        not wait: it goes at once."""
        settings = self.core.settings
        return (
            settings.group_threshold > 0
            and settings.group_wait_sec > 0
            and row.queued > 1
            and row.attempts == 0
            and row.digest_id is None
            and _digestible(row)
            and row.created_at + timedelta(seconds=settings.group_wait_sec) > now
        )

    async def _deliver_head(self, row: OutboxRow, now: datetime) -> bool:
        if row.digest_id is not None:  # a digest that failed before: the same rows, the same digest
            rows = await self.outbox.digest_rows(row.digest_id, status="pending")
            if not await self.outbox.claim_many([r.id for r in rows], row.digest_id):
                return False
            await self._deliver(rows, self._send_digest(row.chat_id, row.digest_id))
            return True
        storm = await self._storm(row, now)
        if storm:
            digest_id = await self.core.digests.create(row.chat_id, now)
            if not await self.outbox.claim_many([r.id for r in storm], digest_id):
                await self.core.digests.discard(digest_id)  # another replica took some of these rows
                return False
            await self._deliver(storm, self._send_digest(row.chat_id, digest_id))
            return True
        if not await self.outbox.claim(row.id):
            return False
        await self._deliver([row], self._send(row))
        return True

    async def _storm(self, head: OutboxRow, now: datetime) -> list[OutboxRow] | None:
        """The chat's queued notifications, from its head on, when there are more than GROUP_THRESHOLD.

        Rows are taken in queue order up to the first one a digest cannot stand for, so per-chat order
        holds. Card edits (`refresh`) are not messages: they keep their place and go on their own.
        """
        threshold = self.core.settings.group_threshold
        if threshold <= 0 or not _digestible(head):
            return None
        taken: list[OutboxRow] = []
        incidents: set[int] = set()
        for row in await self.outbox.pending_for_chat(head.chat_id, now, DIGEST_SCAN):
            if row.kind == "refresh":
                continue
            if not _digestible(row):
                break
            assert row.incident_id is not None
            if row.incident_id not in incidents:
                if len(incidents) >= MAX_ENTRIES:
                    break
                incidents.add(row.incident_id)
            taken.append(row)
        return taken if len(taken) > threshold else None

    async def _send_digest(self, chat_id: int, digest_id: int) -> list[int]:
        entries = await self.core.digests.entries(digest_id)

        async def send(limit: int) -> Message:
            text, markup = digest_view(digest_id, entries, 0, limit)
            return await self.bot.send_message(chat_id, text, reply_markup=markup, request_timeout=self.request_timeout)

        msg, _ = await fitting(send)
        await self.core.digests.set_message(digest_id, msg.message_id)
        self.core.metrics.outbox_digests_total.inc()
        return [msg.message_id]

    # -- delivery and its errors -----------------------------------------------------------
    async def _deliver(self, rows: list[OutboxRow], send: Coroutine[Any, Any, list[int]]) -> None:
        """Run one Telegram call for `rows` (one row, or the rows a digest stands for) and record the outcome."""
        token = RETRY_ON_429.set(False)
        outbox_token = FROM_OUTBOX.set(True)
        now = self.core.clock
        head = rows[0]
        ids = [r.id for r in rows]
        try:
            message_ids = await send
        except TelegramRetryAfter as exc:
            self.core.metrics.telegram_retry_after_total.inc()
            await self.limiter.block(head.chat_id, exc.retry_after)
            await self.outbox.mark_retry(
                ids,
                now() + timedelta(seconds=exc.retry_after),
                f"429 retry after {exc.retry_after}s",
                count=False,
            )
        except TelegramMigrateToChat as exc:
            log.info("chat %s moved to %s; following it", head.chat_id, exc.migrate_to_chat_id)
            await self.outbox.move_chat(head.chat_id, exc.migrate_to_chat_id)
            await self.outbox.mark_retry(ids, now(), "chat migrated", count=False)
        except (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError, TimeoutError) as exc:
            backoff = min(MAX_BACKOFF, self.backoff_base * 2.0 ** max(0, head.attempts - 1))
            reason = self._reason(exc)
            log.warning("outbox row %s to chat %s: %s; retrying in %.1fs", head.id, head.chat_id, reason, backoff)
            await self.outbox.mark_retry(ids, now() + timedelta(seconds=backoff), reason)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound, PermanentError) as exc:
            reason = self._reason(exc)
            log.warning("outbox row %s to chat %s failed for good: %s", head.id, head.chat_id, reason)
            await self.outbox.mark_failed(ids, now(), reason)
            self.core.metrics.outbox_delivered_total.labels("failed").inc(len(ids))
        except Exception as exc:  # a bug must not lose the row, nor loop on it forever
            reason = self._reason(exc)
            log.exception("outbox row %s: unexpected error", head.id)
            if head.attempts >= 5:
                await self.outbox.mark_failed(ids, now(), f"gave up after {head.attempts} attempts: {reason}")
            else:
                await self.outbox.mark_retry(ids, now() + timedelta(seconds=5 * head.attempts), reason)
        else:
            await self.outbox.mark_sent(ids, now(), message_ids)
            self.core.metrics.outbox_delivered_total.labels("sent").inc(len(ids))
        finally:
            FROM_OUTBOX.reset(outbox_token)
            RETRY_ON_429.reset(token)

    def _reason(self, exc: BaseException) -> str:
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return redact(f"{type(exc).__name__}: {text}", self.bot.token)[:500]

    # -- one row -------------------------------------------------------------------------
    async def _send(self, row: OutboxRow) -> list[int]:
        if row.kind == "slo_report":
            statuses = await self.core.slo.statuses()
            return await self._send_text(row, slo_report_text(statuses), reply_to=None)
        if row.kind == CONFIG_REJECTED:
            p = row.payload
            text = config_rejected_text(str(p.get("path") or ""), str(p.get("errors") or ""), p.get("replica"))
            return await self._send_text(row, text, reply_to=None)
        incident = await self.core.incidents.get(row.incident_id) if row.incident_id else None
        if incident is None:
            raise PermanentError(f"incident {row.incident_id} does not exist")
        now = self.core.clock()
        if row.kind == "alert":
            return await self._send_alert(row, incident, now)
        if row.kind == "refresh":
            await self._refresh(row.chat_id, incident, now, required=True)
            return []
        original = await self._original(row.chat_id, incident)
        if row.kind == "resolved":
            await self._refresh(row.chat_id, incident, now, required=False)
            text = resolved_text(incident, str(row.payload.get("message") or incident.message))
        elif row.kind == "reminder":
            if incident.status.value != "firing":  # acknowledged or resolved since it was queued
                return []
            text = reminder_text(incident, now)
        elif row.kind == "raised":
            text = raised_text(incident, str(row.payload.get("from") or "?"))
        elif row.kind == "remediation":
            run = await self.core.remediation.get_run(int(row.payload.get("run_id") or 0))
            if run is None:
                raise PermanentError("the remediation run is gone")
            text = remediation_result_text(incident, run)
        elif row.kind == "note":
            text = escape(str(row.payload.get("text") or ""))
        elif row.kind == "flapping":
            text = flapping_text(incident, row.payload, self.core.settings.flap_settle)
            markup = alert_keyboard(incident) if original is None else None
            return await self._send_text(row, text, reply_to=original, markup=markup)
        else:
            raise PermanentError(f"unknown outbox kind {row.kind!r}")
        return await self._send_text(row, text, reply_to=original)

    async def _send_alert(self, row: OutboxRow, incident: Incident, now: datetime) -> list[int]:
        run = await self.core.remediation.latest_run(incident.id)
        context = bool(row.payload.get("context"))
        prefix = "〰️ <i>Stopped flapping; still firing.</i>\n" if row.payload.get("settled") else ""
        ids = list(row.message_ids)  # parts already accepted before a retry
        sent: list[str] = []  # the continuation that goes with the card as it was accepted
        limit = TELEGRAM_LIMIT

        async def send_card(limit: int) -> Message:
            card, continuation = alert_card(incident, now, run, context=context, limit=limit - u16(prefix))
            msg = await self.bot.send_message(
                row.chat_id, prefix + card, reply_markup=alert_keyboard(incident), request_timeout=self.request_timeout
            )
            sent[:] = continuation
            return msg

        if not ids:
            msg, limit = await fitting(send_card)
            ids.append(msg.message_id)
            if sent:
                await self.outbox.save_progress(row.id, ids)
        else:  # a retry after the card went: its continuation as the card was drawn the first time
            sent[:] = alert_card(incident, now, run, context=context, limit=TELEGRAM_LIMIT - u16(prefix))[1]
        parts = [p for text in sent for p in split_html(text, limit)]
        for part in parts[len(ids) - 1 :]:
            ids += await send_split(self._poster(row.chat_id, ids[0]), part)
            await self.outbox.save_progress(row.id, ids)
        return ids

    async def _send_text(
        self, row: OutboxRow, text: str, reply_to: int | None, markup: InlineKeyboardMarkup | None = None
    ) -> list[int]:
        ids = list(row.message_ids)
        parts = split_html(text)
        for n, part in enumerate(parts[len(ids) :], start=len(ids)):
            ids += await send_split(self._poster(row.chat_id, reply_to), part, markup if n == len(parts) - 1 else None)
            await self.outbox.save_progress(row.id, ids)
        return ids

    def _poster(
        self, chat_id: int, reply_to: int | None
    ) -> Callable[[str, InlineKeyboardMarkup | None], Awaitable[Message]]:
        async def post(text: str, markup: InlineKeyboardMarkup | None) -> Message:
            return await self.bot.send_message(
                chat_id,
                text,
                reply_parameters=self._reply(reply_to) if reply_to else None,
                reply_markup=markup,
                request_timeout=self.request_timeout,
            )

        return post

    async def _original(self, chat_id: int, incident: Incident) -> int | None:
        ids = await self.outbox.alert_message_ids(incident.id, chat_id)
        return ids[0] if ids else None

    async def _refresh(self, chat_id: int, incident: Incident, now: datetime, *, required: bool) -> None:
        """Edit the alert card in this chat to show the incident as it is now."""
        original = await self._original(chat_id, incident)
        if original is None:
            digest_id = await self.core.digests.containing(incident.id, chat_id)
            if digest_id is not None:  # it went out in a storm digest: redraw that instead
                await self._refresh_digest(chat_id, digest_id)
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
            if "message is not modified" in exc.message:
                return
            if "message to edit not found" in exc.message and not required:
                return  # somebody deleted the card; the reply still tells the news
            raise

    async def _refresh_digest(self, chat_id: int, digest_id: int) -> None:
        """One edit shows every change: queued card edits for the digest's other alerts are done too."""
        entries = await self.core.digests.entries(digest_id)
        await self.outbox.absorb_refreshes(chat_id, [e.incident.id for e in entries], self.core.clock())
        await redraw_digest(self.bot, self.core.digests, digest_id, request_timeout=self.request_timeout)

    @staticmethod
    def _reply(message_id: int) -> ReplyParameters:
        return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
