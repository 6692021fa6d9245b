"""Quiet hours in delivery: the sender asks here, for each chat's head, whether it is held for the
morning digest, and for each message whether it goes without a sound. The rules themselves (which
chats, which hours, which severities, who is never quiet) are `ops.notify.quiet`; this reads the rows,
their alerts' severities now, and the config as it is now (a reload applies at once).

- `hold`: a row about an alert below the rule's severity is set aside (`held`) until its quiet period
  ends, with every other such row queued for the chat; the alert's card edits go with it. An alert whose
  severity rose since (it is loud now) gets its held rows back in the queue, before what it sends now.
- When the period ends (`morning`) the chat's held rows become one overnight digest, sent like a storm
  digest (`bot.render.digest.overnight_summary`) with ✅ Ack all and 📋 Details to Ack one by one.
- `silent`: everything a quiet row sends goes with `disable_notification`; so does `info` everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from bot.delivery.grouper import DIGEST_SCAN
from ops.model import Severity
from ops.notify.quiet import never_quiet, period_end, quiet
from ops.notify.types import CardRefresh, UnknownNotification
from ops.runtime import OpsCore
from ops.storage.outbox import OutboxRow


class QuietHours:
    def __init__(self, core: OpsCore) -> None:
        self.core = core
        self.outbox = core.outbox

    async def morning(self, now: datetime) -> int:
        """Chats whose quiet period has ended: their held rows become one overnight digest each, queued
        where their rows were (first in the chat's order). Returns how many digests were queued."""
        queued = 0
        for chat_id in await self.outbox.held_due(now):
            queued += await self.outbox.overnight(chat_id, now) is not None
        return queued

    async def hold(self, head: OutboxRow, now: datetime) -> bool:
        """Whether the chat's `head` does not go now: it was held (with the chat's other rows that are
        quiet now), or its alert is loud now and had rows held that go first. False: deliver it."""
        rules = [r for r in self.core.config.quiet_hours if r.mode == "hold" and head.chat_id in r.chats]
        if not rules or head.incident_id is None or head.digest_id is not None or head.message_ids:
            return False
        if period_end([r for r in rules if Severity.info < r.below], now) is None:
            return False  # no hold rule of this chat is in its hours
        try:
            notification = head.notification
        except UnknownNotification:
            return False
        if never_quiet(notification, head.chat_id):
            return False
        severities = await self.outbox.severities({head.incident_id})
        held = await self.outbox.held_incidents(head.chat_id)
        if self._until(head, severities, held, now) is not None:
            await self._hold_chat(head.chat_id, severities, held, now)
            return True
        if head.kind != CardRefresh.kind and head.incident_id in held:
            return await self.outbox.release(head.chat_id, head.incident_id, now) > 0
        return False

    async def _hold_chat(self, chat_id: int, severities: dict[int, Severity], held: set[int], now: datetime) -> None:
        """Set aside every row of the chat's queue that is quiet now, in one go (a storm at night is
        held at once, not a row per pass)."""
        queued = await self.outbox.pending_for_chat(chat_id, now, DIGEST_SCAN)
        missing = {r.incident_id for r in queued if r.incident_id is not None} - severities.keys()
        if missing:
            severities = {**severities, **await self.outbox.severities(missing)}
        by_end: dict[datetime, list[int]] = defaultdict(list)
        notifications = 0
        for row in queued:
            until = self._until(row, severities, held, now)
            if until is None:
                continue
            by_end[until].append(row.id)
            if row.kind != CardRefresh.kind:
                assert row.incident_id is not None
                held.add(row.incident_id)
                notifications += 1
        for until, ids in by_end.items():
            await self.outbox.hold(ids, until)
        if notifications:
            self.core.metrics.notifications_quiet_total.labels("hold").inc(notifications)

    def _until(self, row: OutboxRow, severities: dict[int, Severity], held: set[int], now: datetime) -> datetime | None:
        """Until when `row` is held (the end of its chat's quiet period), or None when it goes now. A
        card edit is held only with its alert's other rows (an edit of a card the chat has makes no
        sound); a half-sent text is finished."""
        if row.incident_id is None or row.digest_id is not None or row.message_ids:
            return None
        severity = severities.get(row.incident_id)
        if severity is None:
            return None
        try:
            notification = row.notification
        except UnknownNotification:
            return None
        if never_quiet(notification, row.chat_id):
            return None
        if row.kind == CardRefresh.kind and row.incident_id not in held:
            return None
        verdict = quiet(self.core.config.quiet_hours, row.chat_id, severity, now)
        return verdict.until if verdict is not None and verdict.mode == "hold" else None

    async def silent(self, rows: list[OutboxRow], now: datetime) -> bool:
        """Whether these rows (one, or the rows a digest stands for) go without a sound: each is about an
        alert that is quiet in its chat now (quiet hours, or `info`). Card edits make no sound anyway."""
        if all(r.kind == CardRefresh.kind for r in rows):
            return False
        severities = await self.outbox.severities({r.incident_id for r in rows if r.incident_id is not None})
        rules = self.core.config.quiet_hours
        for row in rows:
            if row.kind == CardRefresh.kind:
                continue
            try:
                notification = row.notification
            except UnknownNotification:
                return False
            severity = severities.get(row.incident_id) if row.incident_id is not None else None
            if severity is None or never_quiet(notification, row.chat_id):
                return False
            if quiet(rules, row.chat_id, severity, now) is None:
                return False
        return True
