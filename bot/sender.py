"""Drains the outbox into Telegram, within Telegram's limits, one call in flight at a time.

Per chat, rows go in id order; a chat waiting on a 429 or a backoff holds up only itself. What a row
becomes is `bot.delivery.messages`, what Telegram answered `.transport`, storm digests `.grouper`, waits
`.backoff`, quiet hours (held for a morning digest, or sent without a sound) `.quiet`. A row is marked
sent only after Telegram accepted it; only one row is ever `sending`, so a crash can repeat at most that
one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta

from aiogram import Bot

from bot.delivery import backoff, grouper, transport
from bot.delivery.messages import Messages
from bot.delivery.quiet import QuietHours
from bot.limits import RateLimiter
from bot.render.digest import MAX_ENTRIES
from bot.topics.forums import Forums
from bot.topics.topics import Topics
from ops.notify.types import CardRefresh
from ops.runtime import OpsCore
from ops.storage.outbox import OutboxRow

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self, bot: Bot, core: OpsCore, limiter: RateLimiter, forums: Forums, *, idle_poll: float = 0.25
    ) -> None:
        self.bot = bot
        self.core = core
        self.outbox = core.outbox
        self.limiter = limiter
        self.idle_poll = idle_poll
        self.messages = Messages(bot, core)
        self.topics = Topics(bot, core, forums)  # rows about alerts go into their incident's forum topic
        self.quiet = QuietHours(core)
        self.backoff_base = 1.0  # seconds before the first retry of a transient error; doubles after
        self._wake = asyncio.Event()
        self._started = False
        self._soonest = idle_poll  # seconds until the first chat held back by the limits may go
        core.wakeup.listeners.append(self._wake.set)

    @property
    def request_timeout(self) -> float:  # seconds; a slower Telegram call counts as transient
        return self.messages.request_timeout

    @request_timeout.setter
    def request_timeout(self, seconds: float) -> None:
        self.messages.request_timeout = seconds

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
            if await self.drain():
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, min(self.idle_poll, self._soonest)))

    async def drain(self) -> int:
        """Deliver every row that may go now; returns how many messages were attempted."""
        attempted = 0
        while True:
            await self.limiter.sync()
            now = self.core.clock()
            rules = grouper.Grouping(self.core.settings.group_threshold, self.core.settings.group_wait_sec, MAX_ENTRIES)
            ready = []
            self._soonest = self.idle_poll
            changed = await self.quiet.morning(now) > 0  # quiet hours ended: held rows become a digest
            for row in await self.outbox.heads(now):
                if await self.quiet.hold(row, now):
                    changed = True  # the chat's queue changed: its new head is looked at in the next pass
                    continue
                if grouper.held(row, now, rules):
                    continue
                wait = self.limiter.ready_in(row.chat_id)
                if wait > 0:  # due, held back only by the limits: it goes before any command answer
                    self.limiter.want(row.chat_id)
                    self._soonest = min(self._soonest, wait)
                else:
                    ready.append(row)
            if not ready and not changed:
                return attempted
            for row in ready:
                if self.limiter.ready_in(row.chat_id) <= 0 and await self._deliver_head(row, now, rules):
                    attempted += 1

    async def _deliver_head(self, row: OutboxRow, now: datetime, rules: grouper.Grouping) -> bool:
        """Claim and deliver a chat's head: alone, or with the rows of its storm as one digest."""
        lead = row.digest_id is None and grouper.may_lead_storm(row, rules)  # else no need to read the rest
        queued = await self.outbox.pending_for_chat(row.chat_id, now, grouper.DIGEST_SCAN) if lead else []
        if row.digest_id is not None:  # a digest that failed before: the same rows, the same digest
            digest_id, rows = row.digest_id, await self.outbox.digest_rows(row.digest_id, status="pending")
        elif storm := grouper.storm(row, queued, rules):
            digest_id, rows = await self.core.digests.create(row.chat_id, now), storm
        else:
            if claimed := await self.outbox.claim(row.id):
                silent = await self.quiet.silent([row], now)
                await self._deliver([row], self._send(row, silent), silent)
            return claimed
        if not rows or not await self.outbox.claim_many([r.id for r in rows], digest_id):
            if row.digest_id is None:  # another replica took some of these rows
                await self.core.digests.discard(digest_id)
            return False
        silent = await self.quiet.silent(rows, now)
        await self._deliver(rows, self._send_digest(row.chat_id, digest_id, rows, silent), silent)
        return True

    async def _send(self, row: OutboxRow, silent: bool) -> list[int]:
        """One row, in its incident's topic where the chat has topics on."""
        alerts = [row.incident_id] if row.incident_id is not None else []
        opens = row.kind != CardRefresh.kind  # a card edit opens no topic

        async def send(thread_id: int | None) -> list[int]:
            return await self.messages.send(row, thread_id, silent=silent)

        return await self.topics.deliver(row.chat_id, alerts, send, opens=opens, silent=silent)

    async def _send_digest(self, chat_id: int, digest_id: int, rows: list[OutboxRow], silent: bool) -> list[int]:
        """A digest: in its incident's topic when all its rows are about one incident, else in General."""
        alerts = [r.incident_id for r in rows if r.incident_id is not None]

        async def send(thread_id: int | None) -> list[int]:
            return await self.messages.digest(chat_id, digest_id, thread_id, silent=silent)

        return await self.topics.deliver(chat_id, alerts, send, silent=silent)

    async def _deliver(self, rows: list[OutboxRow], send: Awaitable[list[int]], silent: bool = False) -> None:
        """Make one Telegram call for `rows` (one row, or the rows a digest stands for); record the outcome."""
        outcome = await transport.attempt(send, self.bot.token)
        head, ids, now = rows[0], [r.id for r in rows], self.core.clock()
        match outcome:
            case transport.Sent(message_ids):
                await self.outbox.mark_sent(ids, now, message_ids)
                self.core.metrics.outbox_delivered_total.labels("sent").inc(len(ids))
                if silent:
                    quieted = sum(r.kind != CardRefresh.kind for r in rows)
                    self.core.metrics.notifications_quiet_total.labels("silent").inc(quieted)
            case transport.RetryAfter(seconds):
                self.core.metrics.telegram_retry_after_total.inc()
                await self.limiter.block(head.chat_id, seconds)
                await self.outbox.mark_retry(ids, now + timedelta(seconds=seconds), outcome.reason, count=False)
            case transport.Migrated(new_chat_id):
                log.info("chat %s moved to %s; following it", head.chat_id, new_chat_id)
                await self.outbox.move_chat(head.chat_id, new_chat_id)
                await self.outbox.mark_retry(ids, now, "chat migrated", count=False)
            case transport.Transient(reason):
                delay = backoff.transient_delay(head.attempts, self.backoff_base)
                log.warning("outbox row %s to chat %s: %s; retrying in %.1fs", head.id, head.chat_id, reason, delay)
                await self.outbox.mark_retry(ids, now + timedelta(seconds=delay), reason)
            case transport.Permanent(reason):
                log.warning("outbox row %s to chat %s failed for good: %s", head.id, head.chat_id, reason)
                await self.outbox.mark_failed(ids, now, reason)
                self.core.metrics.outbox_delivered_total.labels("failed").inc(len(ids))
                if transport.person_gone(head.chat_id, reason):
                    await self.core.oncall.blocked(head.chat_id)
            case transport.Unexpected(reason, error):  # a bug must not lose the row, nor loop on it forever
                log.error("outbox row %s: unexpected error", head.id, exc_info=error)
                if (wait := backoff.unexpected_delay(head.attempts)) is None:
                    await self.outbox.mark_failed(ids, now, f"gave up after {head.attempts} attempts: {reason}")
                else:
                    await self.outbox.mark_retry(ids, now + timedelta(seconds=wait), reason)
