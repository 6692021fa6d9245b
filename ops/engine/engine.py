"""AlertEngine.process: one detector run's results → state per fingerprint → incidents → outbox."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops import model
from ops.config.models import DetectorBase
from ops.engine.intake import Accepted, accept_runs, describe, processing_error
from ops.engine.routing import Router
from ops.engine.stages import AlertView, MuteStages, Muting
from ops.engine.writes import IncidentRef, NewIncident, Writes
from ops.incidents.grouping import Joining
from ops.metrics import Metrics
from ops.model import CheckResult, CheckStatus, Incident, Mute, MuteKind
from ops.notify.types import AlertCard, CardRefresh, FiredAgain, FlappingStarted, Resolved, SeverityRaised
from ops.replicas import MUTEX_ENGINE, serialize
from ops.settings import Settings
from ops.storage import rollup
from ops.storage.db import retry_locked
from ops.storage.incident_rows import incident_from_row
from ops.storage.outbox import ALERT
from ops.storage.tables import alert_state, alerts_history, check_results, outbox
from ops.timeutil import Clock, format_duration, utcnow

FLAP_STARTED = "started"
FLAP_QUIET = "quiet"
# Results written per transaction: a 5,000-alert webhook is ten short transactions, with the event loop
# (HTTP, delivery) and other writers served between them, not one that holds both for seconds.
CHUNK_RESULTS = 500
log = logging.getLogger(__name__)


@dataclass
class EngineReport:
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    raised: list[int] = field(default_factory=list)
    deduplicated: int = 0
    notifications: int = 0
    # Set when the detector's results could not be processed: the error result stored in their place.
    error: CheckResult | None = None


@dataclass
class _State:
    fingerprint: str
    detector: str
    key: str
    consecutive_failures: int = 0
    last_status: str | None = None
    last_check_at: datetime | None = None
    incident_id: int | None = None
    last_incident_id: int | None = None
    last_resolved_at: datetime | None = None
    changes: list[datetime] = field(default_factory=list)  # recent fire/resolve times, for flap detection
    flapping_since: datetime | None = None
    exists: bool = False

    def values(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "key": self.key,
            "consecutive_failures": self.consecutive_failures,
            "last_status": self.last_status,
            "last_check_at": self.last_check_at,
            "incident_id": self.incident_id,
            "last_incident_id": self.last_incident_id,
            "last_resolved_at": self.last_resolved_at,
            "state_changes": json.dumps([t.isoformat() for t in self.changes]) if self.changes else None,
            "flapping_since": self.flapping_since,
        }


Keep = Callable[[DetectorBase], bool]


@dataclass
class _Batch:
    """One transaction: its time, what it read up front, and what its runs look up at most once."""

    now: datetime
    incidents: dict[int, Incident]  # open and recently resolved incidents of the batch's keys
    chats: dict[int, list[int]]  # incident id → chats that have (or will get) its card
    muting: Muting | None = None  # the mute stages, prepared when the batch first has news to tell


@dataclass
class _Run:
    """One detector's results within a batch: what they will write, kept apart from the other detectors'
    until they are all processed (a run that fails leaves nothing behind)."""

    detector: DetectorBase
    batch: _Batch
    writes: Writes = field(default_factory=Writes)
    fired: list[NewIncident] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (detector, severity) per fire, for metrics
    flaps: int = 0

    @property
    def now(self) -> datetime:
        return self.batch.now

    @property
    def incidents(self) -> dict[int, Incident]:
        return self.batch.incidents

    @property
    def chats(self) -> dict[int, list[int]]:
        return self.batch.chats


class AlertEngine:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Clock = utcnow,
        router: Router,
        stages: MuteStages,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.router = router
        self.stages = stages
        self.on_enqueue = on_enqueue
        # One writer at a time from this process: concurrent detectors queue here, not in SQLite's busy
        # handler (which sleeps in steps of up to 100 ms and would make a 1,000-detector sweep crawl).
        self._writing = asyncio.Lock()

    async def last_runs(self) -> dict[str, datetime]:
        """When each detector last ran (by any replica): a new leader's scheduler carries on from there.
        Read behind the engine's cross-replica lock, so a run an outgoing leader is still writing counts."""
        async with self.db.begin() as conn:
            await serialize(conn, MUTEX_ENGINE)
            rows = await conn.execute(
                select(alert_state.c.detector, func.max(alert_state.c.last_check_at).label("at")).group_by(
                    alert_state.c.detector
                )
            )
            return {r.detector: r.at for r in rows if r.at is not None}

    async def process(
        self, detector: DetectorBase, results: list[CheckResult], *, keep: Keep | None = None
    ) -> EngineReport:
        return (await self.process_many([(detector, results)], keep=keep))[0]

    async def process_many(
        self, runs: list[tuple[DetectorBase, list[CheckResult]]], *, partial: bool = False, keep: Keep | None = None
    ) -> list[EngineReport]:
        """Several detectors' results (a sweep, a webhook), one report per run, written in bulk: a
        transaction per CHUNK_RESULTS results, each retried while SQLite is locked by another writer.

        Whatever one detector's results hold, the others' are written: its results are first made
        storable (`intake`), and an exception while processing them becomes its error result, stored
        and alerted in their place. Only an unavailable database fails the call.

        `partial`: the results need not name every key (Alertmanager's notifications carry one group),
        so a key they leave out is not resolved as "no longer reported". `keep(detector)`, asked inside
        the transaction: whether a run is still wanted (a reload that removed its detector while it was
        measured or queued here resolved its alerts; storing its results would reopen them)."""
        reports = [EngineReport() for _ in runs]
        for number, chunk in enumerate(_chunks(accept_runs(runs, partial=partial))):
            if number:
                await asyncio.sleep(0)  # let the event loop serve what waited for this chunk
            for index, report in (await self._isolated(chunk, partial, keep)).items():
                reports[index] = report
        return reports

    async def _isolated(self, items: list[Accepted], partial: bool, keep: Keep | None) -> dict[int, EngineReport]:
        """`items` in one transaction; when the database refuses it, each detector in one of its own."""
        try:
            return await self._written(items, partial, keep)
        except Exception as exc:
            if _database_unavailable(exc):
                raise
            if len(items) == 1:
                return {items[0].index: await self._failed(items[0], exc, partial)}
            log.warning(
                "a batch of %d detectors could not be written (%s); writing each on its own", len(items), describe(exc)
            )
        done: dict[int, EngineReport] = {}
        for item in items:
            try:
                done.update(await self._written([item], partial, keep))
            except Exception as exc:
                if _database_unavailable(exc):
                    raise
                done[item.index] = await self._failed(item, exc, partial)
        return done

    async def _failed(self, item: Accepted, exc: BaseException, partial: bool) -> EngineReport:
        """The detector's results could not be written: its error result is written instead."""
        log.error("%s: its results could not be written: %s", item.detector.name, describe(exc))
        error = processing_error(item.detector, exc)
        try:
            report = (await self._written([Accepted(item.index, item.detector, [error])], partial))[item.index]
            report.error = error
            return report
        except Exception as again:
            if _database_unavailable(again):
                raise
            log.error("%s: not even its error result could be processed: %s", item.detector.name, describe(again))

        async def checked_only() -> None:
            async with self._writing, self.db.begin() as conn:
                row = _check_row(error, self.clock())
                await conn.execute(insert(check_results), [row])
                await rollup.add(conn, [row])

        try:
            await retry_locked(item.detector.name, checked_only)
        except Exception as last:
            if _database_unavailable(last):
                raise
            log.error("%s: its error result could not be stored either: %s", item.detector.name, describe(last))
        return EngineReport(error=error)

    async def _written(self, items: list[Accepted], partial: bool, keep: Keep | None = None) -> dict[int, EngineReport]:
        """One transaction (again while SQLite is locked by another writer); reports by run index."""
        done: list[tuple[_Run, EngineReport]] = []

        async def transaction() -> dict[int, EngineReport]:
            done.clear()
            async with self._writing, self.db.begin() as conn:
                await serialize(conn, MUTEX_ENGINE)  # and one writer across replicas (the Alertmanager bridge)
                wanted = [i for i in items if keep is None or keep(i.detector)]
                skipped = {i.index: EngineReport() for i in items} if len(wanted) < len(items) else {}
                return {**skipped, **(await self._process_in(conn, wanted, partial, done) if wanted else {})}

        what = items[0].detector.name if len(items) == 1 else f"{len(items)} detectors"
        reports = await retry_locked(what, transaction)
        for run, report in done:  # committed: count and wake the sender
            for detector, severity in run.alerts:
                self.metrics.alerts_total.labels(detector, severity).inc()
            if run.flaps:
                self.metrics.alerts_flapping_total.labels(run.detector.name).inc(run.flaps)
            self._count(report, run.detector.name)
        return reports

    async def _process_in(
        self, conn: AsyncConnection, items: list[Accepted], partial: bool, done: list[tuple[_Run, EngineReport]]
    ) -> dict[int, EngineReport]:
        now = self.clock()
        names = list(dict.fromkeys(item.detector.name for item in items))
        all_states = await self._states(conn, items, partial)
        incidents, chats = await self._read_incidents(conn, all_states)
        by_detector: dict[str, dict[str, _State]] = {name: {} for name in names}
        for fingerprint, state in all_states.items():
            by_detector.setdefault(state.detector, {})[fingerprint] = state
        batch = _Batch(now, incidents, chats)
        writes = Writes()
        checks: list[dict[str, Any]] = []
        reports: dict[int, EngineReport] = {}
        for item in items:
            detector, results, report = item.detector, item.results, EngineReport()
            try:
                run = await self._run(conn, batch, detector, by_detector[detector.name], results, report, partial)
            except SQLAlchemyError:
                raise  # the transaction may be broken: the caller writes each detector on its own
            except Exception as exc:  # a fault of ours or of stored rows, confined to this detector
                log.exception("%s: its results could not be processed", detector.name)
                # Its error instead, against its states as stored (the failed attempt changed them in memory).
                instead = Accepted(item.index, detector, [processing_error(detector, exc)])
                stored = await self._states(conn, [item, instead], partial)
                more_incidents, more_chats = await self._read_incidents(conn, stored)
                batch.incidents.update(more_incidents)
                batch.chats.update(more_chats)
                if partial:  # it had only its own keys' states; other runs of its detector keep theirs
                    mine = by_detector[detector.name]
                    for fingerprint in {r.fingerprint for r in item.results + instead.results}:
                        if fingerprint in stored:
                            mine[fingerprint] = stored[fingerprint]
                        else:
                            mine.pop(fingerprint, None)
                else:
                    by_detector[detector.name] = stored
                results, report = instead.results, EngineReport(error=instead.results[0])
                run = await self._run(conn, batch, detector, by_detector[detector.name], results, report, partial)
            writes.extend(run.writes)
            checks.extend(_check_row(r, now) for r in results)
            reports[item.index] = report
            done.append((run, report))
        if checks:
            await conn.execute(insert(check_results), checks)
            await rollup.add(conn, checks)
        await writes.flush(conn)
        for run, report in done:
            report.fired = [int(n.id) for n in run.fired if n.id is not None]
        return reports

    async def _run(
        self,
        conn: AsyncConnection,
        batch: _Batch,
        detector: DetectorBase,
        states: dict[str, _State],
        results: list[CheckResult],
        report: EngineReport,
        partial: bool,
    ) -> _Run:
        """One detector's results against its states (changed in place), with its own writes."""
        run = _Run(detector, batch)
        await self._apply(conn, run, states, results, report, partial=partial)
        for fingerprint in run.dirty:
            state = states[fingerprint]
            run.writes.save_state({"fingerprint": fingerprint, **state.values()}, state.exists)
            state.exists = True
        return run

    async def _apply(
        self,
        conn: AsyncConnection,
        run: _Run,
        states: dict[str, _State],
        results: list[CheckResult],
        report: EngineReport,
        *,
        partial: bool = False,
    ) -> None:
        seen: set[str] = set()
        for result in results:
            seen.add(result.fingerprint)
            state = states.get(result.fingerprint) or _State(result.fingerprint, result.detector, result.key)
            states[result.fingerprint] = state
            await self._transition(conn, run, state, result, report)
            run.dirty.add(state.fingerprint)
        # A key that a successful run no longer reports has recovered (as Alertmanager resolves
        # alerts that stop arriving). A run that errored says nothing about its keys.
        measured = not any(r.status is CheckStatus.error and r.key == "" for r in results)
        if measured and not partial:
            for state in states.values():
                if state.fingerprint not in seen and state.incident_id is not None:
                    self._resolve(run, state, "no longer reported", report)
                    state.consecutive_failures = 0
                    run.dirty.add(state.fingerprint)
        elif measured:  # a partial run names only its keys, but processed well it ends its detector's error
            state = states.get(model.fingerprint(run.detector.name, ""))
            if state is not None and state.fingerprint not in seen and state.incident_id is not None:
                if state.last_status == CheckStatus.error.value:
                    self._resolve(run, state, "its results are processed again", report)
                    state.consecutive_failures = 0
                    run.dirty.add(state.fingerprint)

    async def _read_incidents(
        self, conn: AsyncConnection, states: dict[str, _State]
    ) -> tuple[dict[int, Incident], dict[int, list[int]]]:
        """The incidents these states point at and the chats holding their cards, in a few queries."""
        ids = {i for st in states.values() for i in (st.incident_id, st.last_incident_id) if i is not None}
        incidents: dict[int, Incident] = {}
        chats: dict[int, list[int]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            for row in await conn.execute(select(alerts_history).where(alerts_history.c.id.in_(chunk))):
                incidents[row.id] = incident_from_row(row)
            rows = await conn.execute(
                select(outbox.c.incident_id, outbox.c.chat_id)
                .where(outbox.c.incident_id.in_(chunk), outbox.c.kind == ALERT, outbox.c.status != "failed")
                .group_by(outbox.c.incident_id, outbox.c.chat_id)
                .order_by(func.min(outbox.c.id))
            )
            for row in rows:
                chats.setdefault(row.incident_id, []).append(row.chat_id)
        return incidents, chats

    async def _states(self, conn: AsyncConnection, items: list[Accepted], partial: bool) -> dict[str, _State]:
        """The stored states the runs need: every key of their detectors, or with `partial` (which resolves
        nothing it does not name) only the keys they report, not every alert an alertname ever had."""
        if partial:  # and the detector's error, which a partial run that goes well resolves
            wanted = [model.fingerprint(item.detector.name, "") for item in items]
            wanted += [r.fingerprint for item in items for r in item.results]
            column = alert_state.c.fingerprint
        else:
            column, wanted = alert_state.c.detector, [item.detector.name for item in items]
        wanted = list(dict.fromkeys(wanted))
        found: dict[str, _State] = {}
        for start in range(0, len(wanted), 500):
            rows = await conn.execute(select(alert_state).where(column.in_(wanted[start : start + 500])))
            found.update(self._parse_states(rows))
        return found

    @staticmethod
    def _parse_states(rows: Any) -> dict[str, _State]:
        return {
            r.fingerprint: _State(
                fingerprint=r.fingerprint,
                detector=r.detector,
                key=r.key,
                consecutive_failures=r.consecutive_failures,
                last_status=r.last_status,
                last_check_at=r.last_check_at,
                incident_id=r.incident_id,
                last_incident_id=r.last_incident_id,
                last_resolved_at=r.last_resolved_at,
                changes=[datetime.fromisoformat(t) for t in json.loads(r.state_changes or "[]")],
                flapping_since=r.flapping_since,
                exists=True,
            )
            for r in rows
        }

    async def _transition(
        self, conn: AsyncConnection, run: _Run, state: _State, result: CheckResult, report: EngineReport
    ) -> None:
        now = run.now
        state.last_status = result.status.value
        state.last_check_at = now
        if result.ok:
            state.consecutive_failures = 0
            if state.incident_id is not None:
                self._resolve(run, state, result.message, report)
            return

        state.consecutive_failures += 1
        if isinstance(state.incident_id, NewIncident):  # fired earlier in this batch: nothing new to say
            report.deduplicated += 1
            return
        if state.incident_id is not None:
            incident = run.incidents.get(state.incident_id) if isinstance(state.incident_id, int) else None
            if incident is not None:
                await self._still_failing(conn, run, state, incident, result, report)
                return
            state.incident_id = None  # the row is gone (pruned by hand): start afresh
        if state.consecutive_failures < run.detector.for_:
            return
        if result.severity < self.settings.alert_min_severity:
            return
        if self._within_dedup(state, now):
            await self._reopen(conn, run, state, result, report)
            return
        await self._fire(conn, run, state, result, report)

    def _within_dedup(self, state: _State, now: datetime) -> bool:
        window = timedelta(seconds=self.settings.alert_dedup_window_sec)
        return (
            state.last_incident_id is not None
            and state.last_resolved_at is not None
            and now - state.last_resolved_at < window
        )

    async def _muting(self, conn: AsyncConnection, run: _Run) -> Muting:
        if run.batch.muting is None:
            run.batch.muting = await self.stages.prepare(conn, run.now)
        return run.batch.muting

    async def _mute(self, conn: AsyncConnection, run: _Run, state: _State) -> Mute | None:
        """The mute stages' answer for this alert now (its flap state as this run leaves it)."""
        view = AlertView(
            run.detector.name,
            state.fingerprint,
            run.detector.labels,
            state.flapping_since,
            max(state.changes) if state.changes else None,
        )
        return (await self._muting(conn, run)).of(view)

    async def _fire(
        self, conn: AsyncConnection, run: _Run, state: _State, result: CheckResult, report: EngineReport
    ) -> None:
        detector, now = run.detector, run.now
        flap = self._record_change(state, now)
        mute = await self._mute(conn, run, state)
        routed = self.router.chats_for(detector, result.severity, result.key)
        chats = [] if mute else routed
        extras = {
            "value": result.value,
            "threshold": result.threshold,
            "key": result.key,
            "labels": detector.labels,
            "runbook": bool(detector.runbook),
            "remediation": detector.remediation,
            "status": result.status.value,
            "unit": result.unit,
        }
        route = self.router.route_for(detector, result.severity, result.key)
        joining = Joining.of(
            result.detector,
            state.fingerprint,
            result.key,
            {**detector.labels, "severity": result.severity.value, "detector": detector.name, "key": result.key},
            route.group_by if route else [],
            route.group_window if route else 0.0,
            list(getattr(detector, "depends_on", None) or []),
            route.key if route else "",
        )
        incident = run.writes.incident(
            {
                "created_at": now,
                "fingerprint": state.fingerprint,
                "source": result.detector,
                "key": result.key,
                "severity": result.severity.value,
                "message": result.message,
                "extras_json": json.dumps(extras),
                "status": "firing",
                "last_seen_at": now,
                "last_notified_at": now if chats else None,
                "notification_count": 1 if chats else 0,
                **_mute_columns(mute),
            },
            joining,
        )
        state.incident_id = incident  # type: ignore[assignment]  # an id after the flush
        for chat_id in chats:
            run.writes.enqueue(chat_id, AlertCard(), now, incident)
        if mute:
            run.writes.event(mute.kind.value, now, incident, state.fingerprint, f"{mute.by}: nothing sent")
        else:
            run.writes.event("fired", now, incident, state.fingerprint, f"notified {len(chats)} chat(s)")
        if flap == FLAP_STARTED and mute is not None and mute.kind is MuteKind.flapping:
            report.notifications += self._flap_notice(run, incident, state, routed)
        run.alerts.append((result.detector, result.severity.value))
        run.fired.append(incident)
        report.notifications += len(chats)

    async def _still_failing(
        self,
        conn: AsyncConnection,
        run: _Run,
        state: _State,
        incident: Incident,
        result: CheckResult,
        report: EngineReport,
    ) -> None:
        now = run.now
        extras = {**incident.extras, "value": result.value, "threshold": result.threshold}
        values: dict[str, Any] = {
            "last_seen_at": now,
            "message": result.message,
            "extras_json": json.dumps(extras),
        }
        if result.severity <= incident.severity:
            run.writes.update_incident(incident.id, **values)
            report.deduplicated += 1
            return
        # A rise in severity is news: it notifies at once, past any dedup (unless something mutes it now).
        mute = await self._mute(conn, run, state)
        chats = run.chats.get(incident.id, [])
        values.update(severity=result.severity.value)
        if mute is None and incident.muted is not None:
            pass  # its mute ended since the last tick: the tick tells the chats, the new severity included
        else:
            values.update(_mute_columns(mute))
        if mute is None and incident.muted is None:
            values.update(last_notified_at=now, notification_count=incident.notification_count + 1)
            for chat_id in chats:
                run.writes.enqueue(chat_id, SeverityRaised(previous=incident.severity), now, incident.id)
            report.notifications += len(chats)
        run.writes.update_incident(incident.id, **values)
        for chat_id in chats:
            run.writes.enqueue(chat_id, CardRefresh(), now, incident.id)
        run.writes.event(
            "severity_raised",
            now,
            incident.id,
            incident.fingerprint,
            f"{incident.severity.value} → {result.severity.value}",
        )
        report.raised.append(incident.id)

    async def _reopen(
        self, conn: AsyncConnection, run: _Run, state: _State, result: CheckResult, report: EngineReport
    ) -> None:
        """Fire → resolve → fire within the dedup window: the same incident, back to firing, and a reply to
        its card in every chat that had it (the last message there says it was resolved)."""
        now = run.now
        incident_id = state.last_incident_id
        assert incident_id is not None
        state.incident_id = incident_id
        flap = self._record_change(state, now)
        mute = await self._mute(conn, run, state)
        chats = run.chats.get(incident_id, [])
        stored = run.incidents[incident_id].muted if incident_id in run.incidents else None
        values: dict[str, Any] = {
            "status": "firing",
            "resolved_at": None,
            "resolved_by": None,
            "last_seen_at": now,
            "message": result.message,
            "acknowledged_at": None,
            "acknowledged_by": None,
        }
        if mute is None and stored is not None:
            # What muted it ended since the tick last looked: the tick sends what an ended mute sends (the
            # card where it never went, a reply where it is), so the stored answer stays for it to compare.
            detail = f"fired again within the dedup window: reopened, {stored.kind.value} ended"
        elif mute is None:
            values.update(last_notified_at=now)
            for chat_id in chats:
                run.writes.enqueue(chat_id, CardRefresh(), now, incident_id)
                run.writes.enqueue(chat_id, FiredAgain(message=result.message), now, incident_id)
            report.notifications += len(chats)
            detail = f"fired again within the dedup window: reopened, {len(chats)} chat(s) told"
        elif flap == FLAP_STARTED and mute.kind is MuteKind.flapping:
            report.notifications += self._flap_notice(run, incident_id, state, chats)
            detail = "fired again within the dedup window: reopened, flapping"
        else:
            if mute.kind is not MuteKind.flapping:  # the card shows it firing again, and what mutes it
                for chat_id in chats:
                    run.writes.enqueue(chat_id, CardRefresh(), now, incident_id)
            detail = f"fired again within the dedup window: reopened, {mute.kind.value}"
        if mute is not None or stored is None:
            values.update(_mute_columns(mute))
        run.writes.update_incident(incident_id, **values)
        run.writes.event("deduplicated", now, incident_id, state.fingerprint, detail)
        report.reopened.append(incident_id)
        report.deduplicated += 1

    def _resolve(self, run: _Run, state: _State, message: str, report: EngineReport) -> None:
        now = run.now
        incident_id = state.incident_id
        assert isinstance(incident_id, int)
        run.writes.update_incident(
            incident_id, status="resolved", resolved_at=now, resolved_by="check", last_seen_at=now
        )
        state.incident_id = None
        state.last_incident_id = incident_id
        state.last_resolved_at = now
        flap = self._record_change(state, now)
        chats = run.chats.get(incident_id, [])
        if flap == FLAP_STARTED:
            report.notifications += self._flap_notice(run, incident_id, state, chats)
        elif not flap:
            for chat_id in chats:
                run.writes.enqueue(chat_id, Resolved(message=message), now, incident_id)
            report.notifications += len(chats)
        run.writes.event("resolved", now, incident_id, state.fingerprint, message[:500])
        report.resolved.append(incident_id)

    # -- flapping ----------------------------------------------------------------------------
    def _record_change(self, state: _State, now: datetime) -> str:
        """Note a fire/resolve; FLAP_STARTED when this change makes it flap, FLAP_QUIET while it flaps.
        When it settles is the `Flapping` mute stage's answer (ops.engine.stages), asked every tick."""
        threshold = self.settings.flap_threshold
        if threshold <= 0:
            return ""
        window = timedelta(seconds=self.settings.flap_window)
        state.changes = [t for t in state.changes if now - t < window] + [now]
        if state.flapping_since is not None:
            return FLAP_QUIET
        if len(state.changes) > threshold:
            state.flapping_since = now
            return FLAP_STARTED
        return ""

    def _flap_notice(self, run: _Run, incident: IncidentRef, state: _State, chats: list[int]) -> int:
        notice = FlappingStarted(changes=len(state.changes), window=self.settings.flap_window)
        for chat_id in chats:
            run.writes.enqueue(chat_id, notice, run.now, incident)
        run.writes.event(
            "flapping_started",
            run.now,
            incident,
            state.fingerprint,
            f"{len(state.changes)} state changes within {format_duration(self.settings.flap_window)}",
        )
        run.flaps += 1
        return len(chats)

    def _count(self, report: EngineReport, detector: str) -> None:
        if report.deduplicated:
            self.metrics.alerts_deduplicated_total.labels(detector).inc(report.deduplicated)
        if report.notifications or report.reopened or report.raised or report.resolved:
            if self.on_enqueue is not None:
                self.on_enqueue()


def _mute_columns(mute: Mute | None) -> dict[str, Any]:
    return {"muted": mute.kind.value if mute else None, "muted_by": mute.by[:200] if mute else None}


def _check_row(r: CheckResult, now: datetime) -> dict[str, Any]:
    return {
        "ts": now,
        "detector": r.detector,
        "key": r.key,
        "status": r.status.value,
        "ok": r.ok,
        "severity": r.severity.value,
        "value": r.value,
        "message": r.message[:2000],
        "duration_ms": r.duration_ms,
        "error": r.error,
    }


def _chunks(items: list[Accepted]) -> Iterator[list[Accepted]]:
    """`items` in groups of about CHUNK_RESULTS results; a detector's results are never split."""
    chunk: list[Accepted] = []
    size = 0
    for item in items:
        if chunk and size + len(item.results) > CHUNK_RESULTS:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.results)
    if chunk:
        yield chunk


def _database_unavailable(exc: BaseException) -> bool:
    """The database's fault rather than the results': locked, down, or its connection lost. The caller
    retries or fails loudly; writing the detectors one by one would not help."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
