"""The housekeeping side of the notification pipeline: what changes with time alone.

Every tick (and at once when a silence is made or ended) the mute stages are asked again for every
open alert, and the answer is compared with the stored one (`muted`, `muted_by`):
- muted now and not before (a silence, a window opening, a parent firing): the cards are redrawn;
- no longer muted and still firing: the chats that have its card get a reply saying what ended, the
  routed chats that never had it get the card (it fired while muted);
- an alert that stopped flapping while resolved says so once.
Then, from the same answer, reminders and escalation for what fires unacknowledged and unmuted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import EscalationStep, OpsConfig
from ops.engine.escalation import EscalateOutcome, EscalateResult, record_step, steps_taken
from ops.engine.escalation import due as steps_due
from ops.engine.incidents import record_event
from ops.engine.routing import Router
from ops.engine.stages import AlertView, MuteStages, Muting
from ops.model import Actor, Mute, MuteKind, Severity
from ops.notify.types import (
    AlertCard,
    CardRefresh,
    Escalated,
    FlappingSettled,
    Notification,
    PageFailed,
    Reminder,
    Unmuted,
)
from ops.oncall.service import OnCall
from ops.replicas import MUTEX_ENGINE, serialize
from ops.settings import Settings
from ops.storage.db import retry_locked
from ops.storage.outbox import chats_with_alert, enqueue
from ops.storage.tables import alert_state, alerts_history, silences
from ops.timeutil import Clock, format_duration

# The event recorded when a mute of each kind ends.
ENDED = {
    MuteKind.inhibited: "uninhibited",
    MuteKind.maintenance: "maintenance_ended",
    MuteKind.silenced: "unsilenced",
    MuteKind.flapping: "flapping_settled",
}


@dataclass(frozen=True)
class MuteChange:
    incident_id: int
    before: Mute | None
    mute: Mute | None


@dataclass
class Changes:
    muted: list[MuteChange] = field(default_factory=list)  # muted now (or by something else than before)
    unmuted: list[MuteChange] = field(default_factory=list)  # no longer muted, still open
    settled: list[str] = field(default_factory=list)  # fingerprints that stopped flapping
    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    queued: int = 0


@dataclass
class _Open:
    """An open alert as the tick sees it."""

    row: Any
    view: AlertView
    mute: Mute | None

    @property
    def id(self) -> int:
        return int(self.row.id)

    @property
    def severity(self) -> Severity:
        return Severity(self.row.severity)


@dataclass(frozen=True)
class OpenAlert:
    """An open alert as the mute stages see it, and their answer for it now."""

    id: int
    source: str
    key: str
    severity: Severity
    status: str
    view: AlertView
    mute: Mute | None


@dataclass(frozen=True)
class _Took:
    """A step taken: rows queued, whether it was recorded as an event, whom it reached."""

    queued: int
    told: bool
    who: str


class Pipeline:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        current: CurrentConfig,
        router: Router,
        stages: MuteStages,
        clock: Clock,
        on_enqueue: Callable[[], None],
        oncall: OnCall,
    ) -> None:
        self.db = db
        self.oncall = oncall
        self.settings = settings
        self.current = current
        self.router = router
        self.stages = stages
        self.clock = clock
        self.on_enqueue = on_enqueue

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    async def tick(self) -> Changes:
        """Mutes asked again, then reminders and escalation: what a housekeeping tick does."""
        return await self._run(timed=True)

    async def look_again(self) -> Changes:
        """Mutes asked again now (a silence was made or ended)."""
        return await self._run(timed=False)

    async def _run(self, *, timed: bool) -> Changes:
        async def transaction() -> Changes:
            changes = Changes()
            async with self.db.begin() as conn:
                await serialize(conn, MUTEX_ENGINE)  # the engine's lock: one writer of alerts at a time
                now = self.clock()
                await self._end_until_resolved(conn, now)
                await self._settle(conn, now, changes)
                alerts = await self._open(conn)
                await self._remute(conn, now, alerts, await self.stages.prepare(conn, now), changes)
                if timed:  # an alert just told its mute ended is not reminded or escalated in the same tick
                    told = {c.incident_id for c in changes.unmuted}
                    firing = [a for a in alerts if a.row.status == "firing" and a.mute is None and a.id not in told]
                    await self._remind(conn, now, firing, changes)
                    await self._escalate(conn, now, firing, changes)
            return changes

        changes = await retry_locked("housekeeping", transaction)
        if changes.queued:
            self.on_enqueue()
        return changes

    async def open_alerts_muted(self) -> list[OpenAlert]:
        """Every open alert with what mutes it now, asked of the stages afresh (as the next tick would)."""
        async with self.db.connect() as conn:
            alerts = await self._open(conn)
            muting = await self.stages.prepare(conn, self.clock())
        return [
            OpenAlert(a.id, a.row.source, a.row.key or "", a.severity, a.row.status, a.view, muting.of(a.view))
            for a in alerts
        ]

    # -- what the stages see -------------------------------------------------------------------
    async def _open(self, conn: AsyncConnection) -> list[_Open]:
        h = alerts_history.c
        rows = await conn.execute(
            select(
                h.id,
                h.fingerprint,
                h.source,
                h.key,
                h.severity,
                h.status,
                h.created_at,
                h.last_notified_at,
                h.notification_count,
                h.muted,
                h.muted_by,
                h.extras_json,
                alert_state.c.flapping_since,
                alert_state.c.state_changes,
            )
            .outerjoin(alert_state, alert_state.c.fingerprint == h.fingerprint)
            .where(h.status != "resolved")
            .order_by(h.id)
        )
        return [_Open(r, self._view(r), Mute.stored(r.muted, r.muted_by)) for r in rows]

    def _labels(self, row: Any) -> dict[str, str]:
        detector = self.config.detector(row.source)
        if detector is not None:
            return dict(detector.labels)
        # no longer configured, or bridged from Alertmanager: the labels it fired with
        stored = json.loads(row.extras_json or "{}").get("labels") or {}
        return {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}

    def _view(self, row: Any) -> AlertView:
        changes = json.loads(row.state_changes or "[]")
        return AlertView(
            row.source,
            row.fingerprint,
            self._labels(row),
            flapping_since=row.flapping_since,
            last_change=datetime.fromisoformat(max(changes)) if changes else None,
        )

    # -- silences "until resolved" -------------------------------------------------------------
    async def _end_until_resolved(self, conn: AsyncConnection, now: datetime) -> None:
        """A silence made until its alert resolves ends when it resolves: a re-fire within the dedup
        window (the same incident reopened) is not silenced again."""
        resolved = select(alerts_history.c.id).where(alerts_history.c.status == "resolved")
        await conn.execute(
            update(silences)
            .where(silences.c.expired_at.is_(None), silences.c.incident_id.in_(resolved))
            .values(expired_at=now)
        )

    # -- flapping that settled -----------------------------------------------------------------
    async def _settle(self, conn: AsyncConnection, now: datetime, changes: Changes) -> None:
        """Flap states that kept one state for FLAP_SETTLE end; one that ended resolved says so (one that
        ended firing is unmuted by `_remute`, like any other mute that ends)."""
        rows = (await conn.execute(select(alert_state).where(alert_state.c.flapping_since.is_not(None)))).all()
        for row in rows:
            stamps = json.loads(row.state_changes or "[]")
            view = AlertView(
                row.detector,
                row.fingerprint,
                {},
                row.flapping_since,
                datetime.fromisoformat(max(stamps)) if stamps else None,
            )
            if not self.stages.flapping.settled(view, now):
                continue
            await conn.execute(
                update(alert_state)
                .where(alert_state.c.fingerprint == row.fingerprint)
                .values(flapping_since=None, state_changes=None)
            )
            changes.settled.append(row.fingerprint)
            if row.incident_id is not None or row.last_incident_id is None:
                continue
            last = (
                await conn.execute(select(alerts_history).where(alerts_history.c.id == row.last_incident_id))
            ).first()
            if last is None or last.status != "resolved":
                continue
            mute = Mute.stored(last.muted, last.muted_by)
            if mute is not None and mute.kind is not MuteKind.flapping:
                continue  # silenced or inhibited when it resolved: it was never news
            chats = await self._chats(conn, last)
            changes.queued += await self._notify(
                conn, now, last, [(chats, FlappingSettled(firing=False))], "flapping_settled", "settled resolved"
            )

    # -- mutes asked again ---------------------------------------------------------------------
    async def _remute(
        self, conn: AsyncConnection, now: datetime, alerts: list[_Open], muting: Muting, changes: Changes
    ) -> None:
        for alert in alerts:
            before, after = alert.mute, muting.of(alert.view)
            if after == before:
                continue
            alert.mute = after
            change = MuteChange(alert.id, before, after)
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == alert.id)
                .values(muted=after.kind.value if after else None, muted_by=after.by[:200] if after else None)
            )
            if after is not None:  # the cards show what mutes it now
                changes.muted.append(change)
                have = await chats_with_alert(conn, alert.id)
                await enqueue(conn, have, CardRefresh(), now, alert.id)
                await record_event(
                    conn,
                    after.kind.value,
                    now,
                    incident_id=alert.id,
                    fingerprint=alert.row.fingerprint,
                    detail=after.by,
                )
                continue
            assert before is not None
            changes.unmuted.append(change)
            have = await chats_with_alert(conn, alert.id)
            missing = [c for c in await self._chats(conn, alert.row) if c not in have]
            settled = before.kind is MuteKind.flapping
            reply: Notification = FlappingSettled(firing=True) if settled else Unmuted(before.kind)
            plan = [(missing, AlertCard(settled=settled)), (have, CardRefresh()), (have, reply)]
            changes.queued += await self._notify(
                conn, now, alert.row, plan, ENDED[before.kind], f"{before.kind.value} ({before.by}) ended"
            )

    # -- reminders and escalation --------------------------------------------------------------
    async def _remind(self, conn: AsyncConnection, now: datetime, firing: list[_Open], changes: Changes) -> None:
        """Firing, unacknowledged, unmuted alerts whose last notification is older than the repeat interval."""
        interval = self.settings.alert_repeat_interval_sec
        if interval <= 0:
            return
        due = now - timedelta(seconds=max(interval, self.settings.alert_dedup_window_sec))
        for alert in firing:
            notified = alert.row.last_notified_at
            if notified is None or notified > due:
                continue
            have = await chats_with_alert(conn, alert.id)
            changes.queued += await self._notify(conn, now, alert.row, [(have, Reminder())], "reminded", "")
            changes.reminded.append(alert.id)

    async def _escalate(self, conn: AsyncConnection, now: datetime, firing: list[_Open], changes: Changes) -> None:
        """A firing, unacknowledged, unmuted alert climbs its severity's policy: each step due and not yet
        taken is taken once, in order; the latest one taken repeats every `repeat` (`ops.engine.escalation`)."""
        by_severity = {s: self.config.escalation_steps(s) for s in Severity}
        policies = {a.id: steps for a in firing if (steps := by_severity[a.severity])}
        if not policies:
            return
        taken = await steps_taken(conn, list(policies))
        for alert in firing:
            steps = policies.get(alert.id)
            if not steps:
                continue
            age = (now - alert.row.created_at).total_seconds()
            told = False
            mine = taken.get(alert.id, {})
            for number, again in steps_due(steps, mine, age, now):
                times = mine[number].times + 1 if again else 1
                took = await self._take(conn, now, alert.row, steps, number, times=times)
                changes.queued += took.queued
                told = told or took.told
            if told:
                changes.escalated.append(alert.id)

    async def escalate_now(self, alert_id: int, actor: Actor, chat_id: int | None, *, admin: bool) -> EscalateResult:
        """Escalate now (a button on a personal page): the next step of the alert's policy, at once, for
        the person it paged (or an admin). Under the engine's lock, like a tick: the two never take one
        step twice."""

        async def transaction() -> tuple[EscalateResult, int]:
            async with self.db.begin() as conn:
                await serialize(conn, MUTEX_ENGINE)
                now = self.clock()
                row = (await conn.execute(select(alerts_history).where(alerts_history.c.id == alert_id))).first()
                if row is None:
                    return EscalateResult(EscalateOutcome.not_found), 0
                if row.status != "firing":
                    return EscalateResult(EscalateOutcome.not_firing), 0
                taken = (await steps_taken(conn, [alert_id])).get(alert_id, {})
                if not admin and actor.id not in {t.paged for t in taken.values()}:
                    return EscalateResult(EscalateOutcome.not_paged), 0
                steps = self.config.escalation_steps(Severity(row.severity))
                number = max(taken, default=0) + 1
                if number > len(steps):
                    return EscalateResult(EscalateOutcome.no_step), 0
                step = steps[number - 1]
                await record_event(
                    conn,
                    "escalate_now",
                    now,
                    incident_id=alert_id,
                    fingerprint=row.fingerprint,
                    actor=actor,
                    chat_id=chat_id,
                    detail=f"step {number}: {step.notify}",
                )
                took = await self._take(conn, now, row, steps, number, times=1, by=actor)
                return EscalateResult(EscalateOutcome.done, number, step.notify, took.who), took.queued

        result, queued = await retry_locked("escalate now", transaction)
        if queued:
            self.on_enqueue()
        return result

    async def _take(
        self,
        conn: AsyncConnection,
        now: datetime,
        row: Any,
        steps: list[EscalationStep],
        number: int,
        *,
        times: int,
        by: Actor | None = None,
    ) -> _Took:
        """Take step `number` of the alert's policy (for the `times`th time): queue its messages, write
        it to `ops_escalation_steps` and record the event `escalated`, all in the caller's transaction.
        A step that sends nothing is not an entry of the timeline: a `chats` step that finds every routed
        chat with the card already (what firing did), or a repeat with nobody to tell."""
        step = steps[number - 1]
        again = times > 1
        age = (now - row.created_at).total_seconds()
        admins = list(dict.fromkeys(self.settings.admin_chat_ids))
        carded = await chats_with_alert(conn, row.id)
        have = set(carded)
        plan: list[tuple[list[int], Notification]]
        detail: dict[str, Any]
        if step.schedule is not None:
            plan, detail = await self._page(conn, now, row, number, step.schedule, age, admins, have)
        elif step.notify == "admins":
            plan = [([c for c in admins if c not in have], AlertCard(escalated=True)), (admins, Escalated(after=age))]
            detail = {"who": f"{len(admins)} admin chat(s)"}
        else:  # chats: the routed chats (at 0m they have the card already: firing sent it)
            routed = self.router.chats(row.source, Severity(row.severity), self._labels(row), row.key)
            chats = list(dict.fromkeys([*routed, *carded]))
            plan = [([c for c in chats if c not in have], AlertCard(escalated=True))]
            if again or by is not None or step.after > 0:
                plan.append((chats, Escalated(after=age)))
            detail = {"who": f"{len(chats)} chat(s)"}
        await record_step(conn, row.id, number, now, step.notify, detail, again=again)
        who = str(detail["who"])
        if not any(chats for chats, _ in plan) and (again or step.notify == "chats"):
            return _Took(0, False, who)
        text = f"step {number}{f' (time {times})' if again else ''}: {step.notify} → {who}"
        text += f" after {format_duration(age)}" + (f", escalated now by {by.name}" if by is not None else "")
        # Not a notification of the alert's own chats: their reminders keep their pace.
        return _Took(await self._notify(conn, now, row, plan, "escalated", text, counts=False), True, who)

    async def _page(
        self,
        conn: AsyncConnection,
        now: datetime,
        row: Any,
        number: int,
        schedule: str,
        age: float,
        admins: list[int],
        have: set[int],
    ) -> tuple[list[tuple[list[int], Notification]], dict[str, Any]]:
        """An `oncall:NAME` step: the card in the private chat of whoever is on call now (a reply saying
        for how long, if they have it already); one who cannot be paged is a failed step the admins hear of."""
        user = (await self.oncall.members_in(conn, now)).get(schedule)
        if user is None:  # the schedule is gone (a reload): nobody to page
            failed = PageFailed(step=number, schedule=schedule, reason="no_schedule")
            return [(admins, failed)], {"who": f"nobody (no schedule {schedule})", "failed": "no_schedule"}
        reach = await self.oncall.reach_in(conn, user)
        if not reach.pageable:
            reason = "blocked" if reach.blocked else "unknown"
            failed = PageFailed(step=number, schedule=schedule, user_id=user, name=reach.name, reason=reason)
            why = "blocked the bot" if reach.blocked else "never started the bot in private"
            detail = {"user": user, "who": f"{reach.name} cannot be paged ({why})", "failed": reason}
            return [(admins, failed)], detail
        page: Notification = (
            Escalated(after=age) if user in have else AlertCard(escalated=True, schedule=schedule, after=age)
        )
        return [([user], page)], {"user": user, "who": reach.name}

    # -- one way to notify ---------------------------------------------------------------------
    async def _chats(self, conn: AsyncConnection, row: Any) -> list[int]:
        """The chats an alert is routed to now, and those that have its card."""
        routed = self.router.chats(row.source, Severity(row.severity), self._labels(row), row.key)
        return list(dict.fromkeys(routed + await chats_with_alert(conn, row.id)))

    async def _notify(
        self,
        conn: AsyncConnection,
        now: datetime,
        row: Any,
        plan: list[tuple[list[int], Notification]],
        event: str,
        detail: str,
        *,
        counts: bool = True,
    ) -> int:
        """Queue each notification for its chats, count it as a notification of the alert (reminders
        count from the last one) unless `counts` is false, and record the event."""
        queued = 0
        for chats, notification in plan:
            queued += await enqueue(conn, chats, notification, now, row.id)
        messages = sum(len(chats) for chats, n in plan if not isinstance(n, CardRefresh))
        if counts and any(not isinstance(n, CardRefresh) for _, n in plan):  # even to no chat: not again next tick
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == row.id)
                .values(last_notified_at=now, notification_count=alerts_history.c.notification_count + 1)
            )
        await record_event(
            conn,
            event,
            now,
            incident_id=row.id,
            fingerprint=row.fingerprint,
            detail="; ".join(filter(None, [detail, f"{messages} message(s) queued"])),
        )
        return queued
