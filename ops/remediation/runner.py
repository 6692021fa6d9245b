"""Runs remediation actions: one run per action at a time, retries with backoff, full audit.

A run is a row of `ops_remediation_runs` (running → success | failed | skipped); each attempt is a
row of `ops_remediation_history`. The action's row in `ops_remediation_locks` is what makes a
second press answer "already running". The alert's card shows the run's state through the outbox
(refresh), and the result with its output's tail arrives as a reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig, RemediationBase
from ops.engine.incidents import enqueue_for_alert_chats, record_event
from ops.metrics import Metrics
from ops.model import Actor, Incident
from ops.notify.types import CardRefresh, Notification, Rechecked, RemediationPaused, RemediationResult
from ops.redaction import configured_secrets, redact, tail
from ops.remediation.actions import ActionContext, ActionFailed, execute
from ops.remediation.confirmations import Confirmations
from ops.remediation.recheck import RecheckResult
from ops.settings import Settings
from ops.storage.clean import actor_name
from ops.storage.incident_rows import incident_from_row
from ops.storage.replica_id import ReplicaId
from ops.storage.tables import alerts_history, remediation_history, remediation_locks, remediation_runs
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)
Recheck = Callable[[Incident], Awaitable[RecheckResult | None]]
OUTPUT_WINDOW = 8000  # characters of an action's output that are redacted and trimmed to the stored tail


@dataclass(frozen=True)
class RunView:
    id: int
    action: str
    incident_id: int | None
    trigger: str
    actor: str | None
    status: str
    attempts: int
    started_at: datetime
    duration_ms: float | None
    last_error: str | None
    output: str | None


@dataclass(frozen=True)
class StartOutcome:
    status: str  # started | already_running | paused | unknown | disabled
    message: str
    run_id: int | None = None


def _run_view(r: Any) -> RunView:
    return RunView(
        r.id,
        r.action,
        r.incident_id,
        r.trigger,
        r.actor,
        r.status,
        r.attempts,
        r.started_at,
        r.duration_ms,
        r.last_error,
        r.output,
    )


class RemediationRunner:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        config: CurrentConfig,
        metrics: Metrics,
        *,
        clock: Clock = utcnow,
        on_enqueue: Callable[[], None] | None = None,
        recheck: Recheck | None = None,
        replica: ReplicaId | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.metrics = metrics
        self.clock = clock
        self.on_enqueue = on_enqueue
        self.recheck = recheck  # runs the alert's detector again after a successful action
        self.backoff_base = 1.0  # seconds before the second attempt; doubles after each failure
        self._tasks: set[asyncio.Task[None]] = set()
        self.confirmations = Confirmations(db, clock)  # the ✅ Yes of actions with `confirm: true`
        self.replica = replica or ReplicaId()  # a run this replica leaves behind is failed by the leader

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    @property
    def _secrets(self) -> list[str]:
        """Every secret value opsbot knows, blanked out of what an action prints (besides the patterns)."""
        return self.current.derived("secrets", lambda c: configured_secrets(self.settings, c))

    # -- reading ----------------------------------------------------------------------------
    async def latest_run(self, incident_id: int) -> RunView | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(remediation_runs)
                    .where(remediation_runs.c.incident_id == incident_id, remediation_runs.c.status != "skipped")
                    .order_by(remediation_runs.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _run_view(row) if row else None

    async def get_run(self, run_id: int) -> RunView | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(remediation_runs).where(remediation_runs.c.id == run_id))).first()
        return _run_view(row) if row else None

    async def recent_runs(self, limit: int = 10, incidents: Select[Any] | None = None) -> list[RunView]:
        """The newest runs; with `incidents` (a select of incident ids), only runs for those."""
        query = select(remediation_runs).order_by(remediation_runs.c.id.desc()).limit(limit)
        if incidents is not None:
            query = query.where(remediation_runs.c.incident_id.in_(incidents))
        async with self.db.connect() as conn:
            return [_run_view(r) for r in await conn.execute(query)]

    def action_for(self, detector: str) -> RemediationBase | None:
        config = self.config.detector(detector)
        return self.config.remediation(config.remediation) if config is not None else None

    # -- starting -------------------------------------------------------------------------
    async def request(
        self, action: RemediationBase, incident: Incident | None, trigger: str, actor: Actor | None
    ) -> StartOutcome:
        now = self.clock()
        try:
            async with self.db.begin() as conn:
                held = await conn.scalar(
                    select(remediation_locks.c.run_id).where(remediation_locks.c.action == action.name)
                )
                if held is not None:
                    return StartOutcome("already_running", f"{action.name} is already running", int(held))
                res = await conn.execute(
                    insert(remediation_runs).values(
                        started_at=now,
                        action=action.name,
                        incident_id=incident.id if incident else None,
                        trigger=trigger,
                        actor=actor_name(actor.name) if actor else None,
                        status="running",
                        replica=self.replica.value,
                    )
                )
                run_id = int(res.inserted_primary_key[0])
                await conn.execute(insert(remediation_locks).values(action=action.name, run_id=run_id, acquired_at=now))
                if incident is not None:
                    await record_event(
                        conn,
                        "remediation_started",
                        now,
                        incident_id=incident.id,
                        actor=actor,
                        detail=f"{action.name} ({trigger})",
                    )
                    await enqueue_for_alert_chats(conn, incident.id, CardRefresh(), now)
        except IntegrityError:  # another replica took the lock between our read and write
            return StartOutcome("already_running", f"{action.name} is already running")
        self._notify()
        task = asyncio.create_task(self._execute(run_id, action, incident))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return StartOutcome("started", f"{action.name} started", run_id)

    async def on_fired(self, incident_ids: list[int]) -> None:
        """Automatic remediation for alerts that just fired, under the per-action hourly budget."""
        if not self.settings.auto_remediation_enabled:
            return
        incidents = []
        async with self.db.connect() as conn:  # a storm fires hundreds at once: read them in a few queries
            for start in range(0, len(incident_ids), 500):
                chunk = incident_ids[start : start + 500]
                rows = await conn.execute(select(alerts_history).where(alerts_history.c.id.in_(chunk)))
                incidents += sorted((incident_from_row(r) for r in rows), key=lambda i: i.id)
        for incident in incidents:
            action = self.action_for(incident.source)
            if action is None or not action.auto:
                continue
            since = self.clock() - timedelta(hours=1)
            async with self.db.connect() as conn:
                recent = await conn.scalar(
                    select(func.count())
                    .select_from(remediation_runs)
                    .where(
                        remediation_runs.c.action == action.name,
                        remediation_runs.c.trigger == "auto",
                        remediation_runs.c.status != "skipped",
                        remediation_runs.c.started_at >= since,
                    )
                )
            if int(recent or 0) >= action.max_auto_per_hour:
                await self._skip(action, incident, int(recent or 0))
                continue
            await self.request(action, incident, "auto", None)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- running --------------------------------------------------------------------------
    async def _execute(self, run_id: int, action: RemediationBase, incident: Incident | None) -> None:
        ctx = ActionContext(self.db, self.settings, self.config.targets, self.clock)
        # The first attempt, then `retries` more (AUTO_REMEDIATION_MAX_RETRIES where the action sets none).
        attempts = action.attempts(self.settings.auto_remediation_max_retries)
        started = time.perf_counter()
        output, error, attempt, ok, permanent = "", "", 0, False, False
        for attempt in range(1, attempts + 1):
            t0 = time.perf_counter()
            try:
                output = await asyncio.wait_for(execute(action, ctx, incident), timeout=action.timeout + 1)
                ok, error = True, ""
            except ActionFailed as exc:
                error, output, permanent = str(exc), exc.output, exc.permanent
            except TimeoutError:
                error, output = f"timed out after {action.timeout:g}s", ""
            except asyncio.CancelledError:
                error = "cancelled by a stop"
                await self._finish(run_id, action, incident, False, attempt, started, error, output)
                raise
            except Exception as exc:  # a bug in an action is a failed attempt, not a dead runner
                log.exception("remediation %s crashed", action.name)
                error, output = f"{type(exc).__name__}: {exc}", ""
            await self._record_attempt(run_id, action, incident, attempt, ok, time.perf_counter() - t0, output, error)
            if ok or permanent:  # a failure no retry can fix ends the run at once
                break
            if attempt < attempts:
                await asyncio.sleep(self.backoff_base * 2 ** (attempt - 1))
        await self._finish(run_id, action, incident, ok, attempt, started, error, output)
        if ok and incident is not None and self.recheck is not None:
            result = await self.recheck(incident)
            if result is not None:
                await self._note(incident, Rechecked(action=action.name, passes=result.passes, message=result.message))
                if result.fired:
                    await self.on_fired(result.fired)

    def _clean(self, text: str) -> str:
        """The output's tail, redacted. Only the last few KB are looked at (an action may print megabytes),
        from a line start, so a secret cut in half at the window's edge is not shown either."""
        text = text or ""
        if len(text) > OUTPUT_WINDOW:
            text = text[-OUTPUT_WINDOW:]
            text = text.split("\n", 1)[1] if "\n" in text else text.split(None, 1)[-1]
        return tail(redact(text, self._secrets))

    async def _record_attempt(
        self,
        run_id: int,
        action: RemediationBase,
        incident: Incident | None,
        attempt: int,
        ok: bool,
        seconds: float,
        output: str,
        error: str,
    ) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                insert(remediation_history).values(
                    triggered_at=self.clock(),
                    alert_id=incident.id if incident else None,
                    action_name=action.name,
                    target=getattr(action, "target", None) or action.kind,
                    trigger=await self._trigger(conn, run_id),
                    status="success" if ok else "failed",
                    attempt=attempt,
                    duration_ms=seconds * 1000,
                    output=self._clean(output),
                    details=f"run {run_id}" + (f": {self._clean(error)}" if error else ""),
                )
            )

    async def _trigger(self, conn: Any, run_id: int) -> str:
        return str(await conn.scalar(select(remediation_runs.c.trigger).where(remediation_runs.c.id == run_id)))

    async def _finish(
        self,
        run_id: int,
        action: RemediationBase,
        incident: Incident | None,
        ok: bool,
        attempts: int,
        started: float,
        error: str,
        output: str,
    ) -> None:
        seconds = time.perf_counter() - started
        now = self.clock()
        status = "success" if ok else "failed"
        async with self.db.begin() as conn:
            await conn.execute(
                update(remediation_runs)
                .where(remediation_runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=now,
                    attempts=attempts,
                    duration_ms=seconds * 1000,
                    last_error=self._clean(error)[:500] or None,
                    output=self._clean(output) or None,
                )
            )
            await conn.execute(delete(remediation_locks).where(remediation_locks.c.run_id == run_id))
            if incident is not None:
                await record_event(
                    conn,
                    f"remediation_{status}",
                    now,
                    incident_id=incident.id,
                    detail=_finished(action.name, attempts, seconds, self._clean(output) or self._clean(error)),
                )
                await enqueue_for_alert_chats(conn, incident.id, CardRefresh(), now)
                await enqueue_for_alert_chats(conn, incident.id, RemediationResult(run_id=run_id), now)
        self.metrics.auto_remediation_total.labels(action.name, status).inc()
        self.metrics.auto_remediation_duration_seconds.labels(action.name).observe(seconds)
        self._notify()

    async def _skip(self, action: RemediationBase, incident: Incident, runs: int) -> None:
        why = f"auto-remediation paused: {runs} runs in the last hour"
        now = self.clock()
        async with self.db.begin() as conn:
            await conn.execute(
                insert(remediation_runs).values(
                    started_at=now,
                    finished_at=now,
                    action=action.name,
                    incident_id=incident.id,
                    trigger="auto",
                    status="skipped",
                    attempts=0,
                    last_error=why,
                )
            )
            await conn.execute(
                insert(remediation_history).values(
                    triggered_at=now,
                    alert_id=incident.id,
                    action_name=action.name,
                    target=getattr(action, "target", None) or action.kind,
                    trigger="auto",
                    status="skipped",
                    attempt=0,
                    duration_ms=0,
                    details=why,
                )
            )
        self.metrics.auto_remediation_total.labels(action.name, "skipped").inc()
        await self._note(incident, RemediationPaused(action=action.name, runs=runs))

    async def _note(self, incident: Incident, notification: Notification) -> None:
        async with self.db.begin() as conn:
            if isinstance(notification, Rechecked):  # the check-now verdict joins the incident's timeline
                verdict = "passes" if notification.passes else "still failing"
                await record_event(
                    conn,
                    "rechecked",
                    self.clock(),
                    incident_id=incident.id,
                    fingerprint=incident.fingerprint,
                    detail=f"after {notification.action}: {verdict}: {notification.message}"[:1000],
                )
            await enqueue_for_alert_chats(conn, incident.id, notification, self.clock())
        self._notify()

    def _notify(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()


def _finished(action: str, attempts: int, seconds: float, output: str) -> str:
    """The event's detail, with the output's last lines (already redacted) for the incident's timeline."""
    detail = f"{action} after {attempts} attempt(s) in {seconds:.1f} s"
    return f"{detail}\n{tail(output, 800)}" if output.strip() else detail
