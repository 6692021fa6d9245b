"""What the bot (and the CLI) ask of the domain: health, alert history, sweeps, acks (SLOs: ops.slo.read).

Read models are plain dataclasses; rendering them for Telegram is the bot's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ops.alertmanager_api import AlertmanagerClient, AmSilence
from ops.config.models import DetectorBase, OpsConfig
from ops.engine.incidents import AckResult, IncidentService, incident_from_row
from ops.engine.silences import Silence
from ops.model import Actor, Incident, Severity
from ops.remediation import RunView
from ops.settings import Settings
from ops.storage.digests import DigestStore
from ops.storage.outbox import OutboxStore
from ops.storage.tables import alert_state, alerts_history, check_results, outbox, silences
from ops.sweeper import Sweeper, SweepReport
from ops.timeutil import Clock, utcnow

AM_SCOPE = 5000  # a chat's newest bridged alerts its Alertmanager silences are matched against


def _labels_of(extras_json: str | None) -> dict[str, str]:
    labels = json.loads(extras_json or "{}").get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


@dataclass(frozen=True)
class LastCheck:
    key: str
    status: str
    ok: bool
    message: str
    ts: datetime


@dataclass(frozen=True)
class DetectorHealth:
    config: DetectorBase
    last: list[LastCheck]
    open_incidents: list[Incident]

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class HealthReport:
    now: datetime
    detectors: list[DetectorHealth]
    counts: dict[str, int]


@dataclass(frozen=True)
class DetectorStatus:
    """One detector as /health shows it: its last run in counts, and its open incidents a chat may see."""

    config: DetectorBase
    last_at: datetime | None  # when it last ran (None: never)
    checks: int  # results of its last run (one per key)
    failing: int  # of them failing or errors
    errors: int  # of them errors (it could not measure)
    no_data: int
    firing: int  # open incidents the chat may see, by status
    acknowledged: int
    worst: Severity | None  # the worst severity among them

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def open(self) -> int:
        return self.firing + self.acknowledged


@dataclass(frozen=True)
class FailingCheck:
    """A failing result of a detector's last run that has no open incident (not yet `for` runs, or below
    ALERT_MIN_SEVERITY)."""

    detector: str
    key: str
    status: str
    message: str


@dataclass(frozen=True)
class HealthSummary:
    """/health in bounded size, however many keys and incidents there are: counts for everything, and the
    worst few open incidents (and failing checks with none) to show."""

    now: datetime
    detectors: list[DetectorStatus]
    incidents: list[Incident]  # the worst open incidents the chat may see, newest first within a severity
    open_total: int  # every open incident the chat may see
    unalerted: list[FailingCheck]  # a few failing checks without an incident (only for chats that see all)
    unalerted_total: int
    counts: dict[str, int]


@dataclass(frozen=True)
class AlertPage:
    incidents: list[Incident]
    total: int
    offset: int
    limit: int


class OpsServices:
    def __init__(
        self,
        db: AsyncEngine,
        settings: Settings,
        config: OpsConfig,
        sweeper: Sweeper,
        incidents: IncidentService,
        outbox_store: OutboxStore,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.config = config
        self.sweeper = sweeper
        self.incidents = incidents
        self.outbox = outbox_store
        self.digests = DigestStore(db)
        self.clock = clock
        self.remediation: Any = None  # the RemediationRunner, set by the wiring
        self.slo_evaluator: Any = None  # the SloEvaluator, likewise
        self.slo_reader: Any = None  # the SloReader (what /slo and the API show), likewise
        self.silences: Any = None  # the SilenceService, likewise
        # Alertmanager's API, for silences of alerts that came over the bridge (ALERTMANAGER_URL).
        self.alertmanager = AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None

    # -- who may see what --------------------------------------------------------------
    def is_alert_chat(self, chat_id: int) -> bool:
        """A chat alerts go to: ALERT_CHAT_IDS, or a chat named by a route."""
        return chat_id in self.settings.alert_chat_ids or any(chat_id in r.chats for r in self.config.routes)

    def is_admin_chat(self, chat_id: int) -> bool:
        return chat_id in self.settings.admin_chat_ids

    def is_admin_user(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_user_ids

    def sees_everything(self, chat_id: int, user_id: int | None, private: bool) -> bool:
        return self.is_admin_chat(chat_id) or (private and self.is_admin_user(user_id))

    async def incident_visible(self, incident_id: int, chat_id: int, sees_all: bool) -> bool:
        if sees_all:
            return True
        async with self.db.connect() as conn:
            n = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.incident_id == incident_id, outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            )
        return bool(n)

    def sent_to(self, chat_id: int) -> Select[Any]:
        """Ids of the incidents whose alert card went to this chat: all that chat may see."""
        return select(outbox.c.incident_id).where(outbox.c.chat_id == chat_id, outbox.c.kind == "alert")

    async def may_act_on(
        self, incident: Incident | None, *, chat_id: int, sees_all: bool, actor: Actor, what: str
    ) -> bool:
        """Whether this chat may act on `incident` (it was sent there, or the chat sees all). If not, the
        refusal is recorded as a button press on it is: event `refused`, with who, where and what."""
        if incident is not None and await self.incident_visible(incident.id, chat_id, sees_all):
            return True
        await self.record(
            "refused",
            actor,
            incident_id=incident.id if incident is not None else None,
            chat_id=chat_id,
            detail=f"{what}: not sent to this chat" if incident is not None else f"{what}: unknown incident",
        )
        return False

    # -- silences and remediation runs, as a chat may see them -------------------------
    async def create_silence(self, *, chat_id: int, **kw: Any) -> tuple[Silence, int]:
        """A silence made in a chat (SilenceService.create's arguments); that chat sees it in /silences."""
        silence, muted = await self.silences.create(**kw)
        async with self.db.begin() as conn:
            await conn.execute(update(silences).where(silences.c.id == silence.id).values(chat_id=chat_id))
        return silence, muted

    async def silences_for(self, chat_id: int, sees_all: bool) -> list[Silence]:
        """Active silences this chat may see: those made in it, and those that mute an alert sent to it."""
        active: list[Silence] = await self.silences.active()
        if sees_all or not active:
            return active
        sent = self.sent_to(chat_id)
        async with self.db.connect() as conn:
            seen = set(
                await conn.scalars(
                    select(silences.c.id).where(
                        silences.c.id.in_([s.id for s in active]),
                        or_(silences.c.chat_id == chat_id, silences.c.incident_id.in_(sent)),
                    )
                )
            )
            for silence in active:
                if silence.id not in seen and await self._mutes_an_alert_sent(conn, silence, sent):
                    seen.add(silence.id)
        return [s for s in active if s.id in seen]

    async def _mutes_an_alert_sent(self, conn: AsyncConnection, silence: Silence, sent: Select[Any]) -> bool:
        """One indexed query per silence (there are few): does it match an incident among `sent`?"""
        here = alerts_history.c.id.in_(sent)
        if silence.kind == "detector":
            match = alerts_history.c.source == silence.value
        elif silence.kind == "fingerprint":
            match = alerts_history.c.fingerprint.startswith(silence.value, autoescape=True)
        else:
            label, value = silence.label or "", silence.value
            sources = [d.name for d in self.config.detectors if d.labels.get(label) == value]
            if sources and await conn.scalar(
                select(alerts_history.c.id).where(here, alerts_history.c.source.in_(sources)).limit(1)
            ):
                return True
            # Alertmanager's alerts carry labels of their own (in extras): narrowed by text, then read.
            rows = await conn.execute(
                select(alerts_history.c.extras_json).where(
                    here,
                    alerts_history.c.source.startswith("am:"),
                    alerts_history.c.extras_json.contains(json.dumps(value), autoescape=True),
                )
            )
            return any(_labels_of(r.extras_json).get(label) == value for r in rows)
        return await conn.scalar(select(alerts_history.c.id).where(here, match).limit(1)) is not None

    async def am_silences_for(self, chat_id: int, sees_all: bool) -> list[AmSilence]:
        """Alertmanager's active silences this chat may see: those muting a bridged alert sent to it
        (its newest AM_SCOPE bridged alerts are looked at). Raises AlertmanagerError."""
        assert self.alertmanager is not None
        theirs = await self.alertmanager.active()
        if sees_all or not theirs:
            return theirs
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(alerts_history.c.extras_json)
                .where(alerts_history.c.id.in_(self.sent_to(chat_id)), alerts_history.c.source.startswith("am:"))
                .order_by(alerts_history.c.id.desc())
                .limit(AM_SCOPE)
            )
            label_sets = [_labels_of(r.extras_json) for r in rows]
        return [s for s in theirs if any(s.matches(labels) for labels in label_sets)]

    async def remediation_runs(self, chat_id: int, sees_all: bool, limit: int = 10) -> list[RunView]:
        """Recent runs this chat may see: those for incidents sent to it (admin chats: all)."""
        return await self.remediation.recent_runs(limit, incidents=None if sees_all else self.sent_to(chat_id))

    # -- incidents ---------------------------------------------------------------------
    async def acknowledge(self, incident_id: int, actor: Actor, chat_id: int | None) -> AckResult:
        return await self.incidents.acknowledge(incident_id, actor, chat_id)

    async def unacknowledge(self, incident_id: int, actor: Actor, chat_id: int | None) -> AckResult:
        return await self.incidents.unacknowledge(incident_id, actor, chat_id)

    async def record(self, event: str, actor: Actor, **kw: Any) -> None:
        await self.incidents.record(event, actor, **kw)

    async def open_incident_for(self, detector: str) -> Incident | None:
        """The newest open incident of a detector (for /remediate <detector>)."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(alerts_history)
                    .where(alerts_history.c.source == detector, alerts_history.c.status != "resolved")
                    .order_by(alerts_history.c.id.desc())
                    .limit(1)
                )
            ).first()
        return incident_from_row(row) if row else None

    async def resolve_reference(self, ref: str) -> Incident | None:
        """`17` (incident id) or `#a1b2c3d4` (fingerprint prefix)."""
        ref = ref.strip()
        if ref.startswith("#"):
            prefix = ref[1:].lower()
            if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
                return None
            return await self.incidents.find_by_fingerprint(prefix)
        if re.fullmatch("[0-9]{1,9}", ref):  # ASCII digits ("²" is no number, "٥" not 5); an int4 id
            return await self.incidents.get(int(ref))
        return None

    async def alerts(
        self,
        *,
        chat_id: int | None,
        severity: Severity | None = None,
        limit: int = 10,
        offset: int = 0,
        status: str | None = None,
        before_id: int | None = None,
    ) -> AlertPage:
        """Incidents newest first; `chat_id` limits them to those sent to that chat (None: all);
        `before_id` pages by id (a cursor) instead of by offset."""
        conds = []
        if status is not None:
            conds.append(alerts_history.c.status == status)
        if before_id is not None:
            conds.append(alerts_history.c.id < before_id)
        if chat_id is not None:
            sent_here = select(outbox.c.incident_id).where(outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            conds.append(alerts_history.c.id.in_(sent_here))
        if severity is not None:
            conds.append(alerts_history.c.severity == severity.value)
        where = and_(*conds) if conds else None
        query: Select[Any] = select(alerts_history).order_by(alerts_history.c.id.desc()).limit(limit).offset(offset)
        count_q: Select[Any] = select(func.count()).select_from(alerts_history)
        if where is not None:
            query = query.where(where)
            count_q = count_q.where(where)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
            total = int(await conn.scalar(count_q) or 0)
        return AlertPage([incident_from_row(r) for r in rows], total, offset, limit)

    # -- health ------------------------------------------------------------------------
    async def health(self) -> HealthReport:
        # Each detector's last run, from its alert states (a small table) rather than a scan of history.
        latest = (
            select(alert_state.c.detector, func.max(alert_state.c.last_check_at).label("ts"))
            .group_by(alert_state.c.detector)
            .subquery()
        )
        last_q = (
            select(check_results)
            .join(latest, and_(latest.c.detector == check_results.c.detector, latest.c.ts == check_results.c.ts))
            .order_by(check_results.c.detector, check_results.c.key)
        )
        # Served by the partial index ix_ops_alerts_open, however many incidents were ever resolved.
        open_q = select(alerts_history).where(alerts_history.c.status != "resolved").order_by(alerts_history.c.id)
        async with self.db.connect() as conn:
            last_rows = (await conn.execute(last_q)).all()
            open_rows = (await conn.execute(open_q)).all()
            counts_row = (await conn.execute(text("SELECT * FROM vw_ops_health"))).mappings().first()
        by_detector: dict[str, list[LastCheck]] = {}
        for r in last_rows:
            by_detector.setdefault(r.detector, []).append(LastCheck(r.key, r.status, bool(r.ok), r.message, r.ts))
        open_by: dict[str, list[Incident]] = {}
        for r in open_rows:
            open_by.setdefault(r.source, []).append(incident_from_row(r))
        detectors = [
            DetectorHealth(d, by_detector.get(d.name, []), open_by.get(d.name, [])) for d in self.config.detectors
        ]
        counts = {k: int(v or 0) for k, v in (counts_row or {}).items()}
        return HealthReport(self.clock(), detectors, counts)

    async def health_summary(self, *, chat_id: int | None, limit: int = 20) -> HealthSummary:
        """/health for a chat: `chat_id` limits incidents to those sent to it (None: all, and failing checks
        without an incident too). A handful of aggregate queries and at most `limit` rows of each list:
        its cost does not grow with the number of keys or open incidents beyond a scan of them in SQL."""
        latest = (
            select(alert_state.c.detector, func.max(alert_state.c.last_check_at).label("ts"))
            .group_by(alert_state.c.detector)
            .subquery()
        )
        cr = check_results
        st = alert_state
        # Each detector's keys by the time of their last check, in one pass over the alert states (one row
        # per key): the newest time of a detector is its last run, and its counts are that run's.
        runs_q = select(
            st.c.detector,
            st.c.last_check_at.label("ts"),
            func.count().label("checks"),
            func.sum(case((st.c.last_status.in_(("fail", "error")), 1), else_=0)).label("failing"),
            func.sum(case((st.c.last_status == "error", 1), else_=0)).label("errors"),
            func.sum(case((st.c.last_status == "no_data", 1), else_=0)).label("no_data"),
        ).group_by(st.c.detector, st.c.last_check_at)
        ah = alerts_history
        configured = [d.name for d in self.config.detectors]
        visible = [ah.c.status != "resolved", ah.c.source.in_(configured)]  # the partial index ix_ops_alerts_open
        if chat_id is not None:
            visible.append(
                exists().where(outbox.c.incident_id == ah.c.id, outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            )
        open_q = select(ah.c.source, ah.c.status, ah.c.severity, func.count().label("n")).where(*visible)
        open_q = open_q.group_by(ah.c.source, ah.c.status, ah.c.severity)
        unalerted_where = and_(st.c.last_status.in_(("fail", "error")), st.c.incident_id.is_(None))
        unalerted_from = st.join(latest, and_(latest.c.detector == st.c.detector, latest.c.ts == st.c.last_check_at))
        async with self.db.connect() as conn:
            runs: dict[str, Any] = {}
            for r in await conn.execute(runs_q):
                if r.ts is not None and (r.detector not in runs or r.ts > runs[r.detector].ts):
                    runs[r.detector] = r
            open_rows = (await conn.execute(open_q)).all()
            # The worst first, newest first within a severity: one short backward walk of the open
            # incidents per severity that has any (an ORDER BY over all of them would sort them all).
            per_severity: dict[str, int] = {}
            for r in open_rows:
                per_severity[r.severity] = per_severity.get(r.severity, 0) + int(r.n)
            top: list[Incident] = []
            for severity in sorted(Severity, key=lambda s: -s.rank):
                want = min(limit - len(top), per_severity.get(severity.value, 0))
                if want <= 0:
                    continue
                rows = await conn.execute(
                    select(ah).where(*visible, ah.c.severity == severity.value).order_by(ah.c.id.desc()).limit(want)
                )
                top += [incident_from_row(r) for r in rows]
            unalerted: list[FailingCheck] = []
            unalerted_total = 0
            if chat_id is None:
                unalerted_total = int(
                    await conn.scalar(select(func.count()).select_from(unalerted_from).where(unalerted_where)) or 0
                )
                picked = await conn.execute(
                    select(st.c.detector, st.c.key, st.c.last_check_at)
                    .select_from(unalerted_from)
                    .where(unalerted_where)
                    .order_by(st.c.detector, st.c.key)
                    .limit(limit)
                )
                for p in picked.all():
                    row = (
                        await conn.execute(
                            select(cr.c.status, cr.c.message)
                            .where(cr.c.detector == p.detector, cr.c.key == p.key, cr.c.ts == p.last_check_at)
                            .limit(1)
                        )
                    ).first()
                    if row is not None:
                        unalerted.append(FailingCheck(p.detector, p.key, row.status, row.message))
            counts_row = (await conn.execute(text("SELECT * FROM vw_ops_health"))).mappings().first()
        opened: dict[str, dict[str, Any]] = {}
        for r in open_rows:
            o = opened.setdefault(r.source, {"firing": 0, "acknowledged": 0, "worst": None})
            o["firing" if r.status == "firing" else "acknowledged"] += int(r.n)
            severity = Severity(r.severity)
            if o["worst"] is None or severity > o["worst"]:
                o["worst"] = severity
        detectors = []
        for d in self.config.detectors:
            run = runs.get(d.name)
            o = opened.get(d.name, {"firing": 0, "acknowledged": 0, "worst": None})
            detectors.append(
                DetectorStatus(
                    d,
                    run.ts if run else None,
                    int(run.checks) if run else 0,
                    int(run.failing or 0) if run else 0,
                    int(run.errors or 0) if run else 0,
                    int(run.no_data or 0) if run else 0,
                    o["firing"],
                    o["acknowledged"],
                    o["worst"],
                )
            )
        open_total = sum(o["firing"] + o["acknowledged"] for o in opened.values())
        counts = {k: int(v or 0) for k, v in (counts_row or {}).items()}
        return HealthSummary(
            self.clock(),
            detectors,
            top,
            open_total,
            unalerted,
            unalerted_total,
            counts,
        )

    # -- detectors ---------------------------------------------------------------------
    async def sweep(self) -> SweepReport:
        return await self.sweeper.sweep()

    def detectors(self) -> list[DetectorBase]:
        return list(self.config.detectors)
