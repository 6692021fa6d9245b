"""Catch-up: still-open alerts go to the chats configured since they fired, once each.

An alert that fires while no chat is routed (ALERT_CHAT_IDS empty during onboarding, or a chat added
later) is kept as an incident with no card anywhere. At start-up and on a reload (SIGHUP) every open
incident is routed again with the current settings, and each routed chat that does not have its card
yet gets it. What a chat "has" is read from the outbox itself: an `alert` row for (incident, chat) that
is queued, in flight or sent (a failed one that reached Telegram with a part counts too) — one row per
card, in the same transaction as the check, so a restart or a second replica finds it and sends nothing
twice. A delivery that failed outright (the bot was not in the group yet) is tried again here.

Muted incidents are left to the pipeline's tick (`ops.engine.pipeline`), which sends their card when what
mutes them ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.engine.routing import Router
from ops.model import Severity
from ops.notify.types import AlertCard
from ops.replicas import MUTEX_ENGINE, serialize
from ops.storage.outbox import ALERT, outbox_row
from ops.storage.tables import alert_events, alerts_history, outbox
from ops.timeutil import Clock

_CHUNK = 500


@dataclass
class CatchUpReport:
    incidents: list[int] = field(default_factory=list)  # incidents sent to at least one new chat
    cards: int = 0  # alert rows queued


def no_alert_chat_warning(router: Router) -> str | None:
    """One line for the log when alerts would reach no chat, or None."""
    if router.settings.alert_chat_ids:
        return None
    if router.all_chats():
        return "no ALERT_CHAT_IDS: alerts no route matches are kept and sent when a chat is configured"
    return "no ALERT_CHAT_IDS: alerts are kept and sent when a chat is configured"


async def catch_up(db: AsyncEngine, router: Router, clock: Clock) -> CatchUpReport:
    """Queue the card of every open, unmuted incident for each routed chat that lacks it."""
    report = CatchUpReport()
    async with db.begin() as conn:
        await serialize(conn, MUTEX_ENGINE)  # the engine's lock: no card is queued twice across replicas
        now = clock()
        rows = (
            await conn.execute(
                select(alerts_history).where(alerts_history.c.status != "resolved").order_by(alerts_history.c.id)
            )
        ).all()
        if not rows:
            return report
        have = await _chats_with_card(conn, [r.id for r in rows])
        cards: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        touched: list[dict[str, Any]] = []
        for row in rows:
            if row.muted:
                continue
            extras = json.loads(row.extras_json or "{}")
            labels = {str(k): str(v) for k, v in (extras.get("labels") or {}).items()}
            routed = router.chats(row.source, Severity(row.severity), labels, row.key)
            missing = [c for c in routed if c not in have.get(row.id, set())]
            if not missing:
                continue
            cards += [_card(chat_id, row.id, now) for chat_id in missing]
            events.append(
                {
                    "ts": now,
                    "incident_id": row.id,
                    "fingerprint": row.fingerprint,
                    "event": "caught_up",
                    "detail": f"sent to {len(missing)} chat(s) configured since it fired: "
                    + ", ".join(map(str, missing)),
                }
            )
            touched.append(
                {
                    "b_id": row.id,
                    # Reminders count from the first notification; one that never went out starts now.
                    "b_notified": row.last_notified_at or now,
                    "b_count": row.notification_count + 1,
                }
            )
            report.incidents.append(row.id)
        if cards:
            await conn.execute(insert(outbox), cards)
            await conn.execute(insert(alert_events), events)
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == bindparam("b_id"))
                .values(last_notified_at=bindparam("b_notified"), notification_count=bindparam("b_count")),
                touched,
            )
        report.cards = len(cards)
    return report


async def _chats_with_card(conn: AsyncConnection, incident_ids: Iterable[int]) -> dict[int, set[int]]:
    """Per incident, the chats that have its card or are about to get it."""
    ids = list(incident_ids)
    found: dict[int, set[int]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await conn.execute(
            select(outbox.c.incident_id, outbox.c.chat_id, outbox.c.status, outbox.c.message_ids).where(
                outbox.c.incident_id.in_(ids[start : start + _CHUNK]), outbox.c.kind == ALERT
            )
        )
        for r in rows:
            if r.status != "failed" or json.loads(r.message_ids or "[]"):
                found.setdefault(r.incident_id, set()).add(r.chat_id)
    return found


def _card(chat_id: int, incident_id: int, now: datetime) -> dict[str, Any]:
    return outbox_row(chat_id, AlertCard(), now, incident_id)
