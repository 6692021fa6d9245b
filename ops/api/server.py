"""The API's handlers, routed from the endpoint table.

Bearer `API_TOKEN`; without it the API is off (404). Reads are open without a token only with
`API_PUBLIC_READ=true`. A bad parameter is 422 naming it; a wrong token 401; never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from ops.alert_history import AlertHistory
from ops.api.answers import (
    Ack,
    Alert,
    Alerts,
    CheckOut,
    Detector,
    DetectorHealth,
    Error,
    Health,
    IncidentAlert,
    IncidentDetail,
    Incidents,
    IncidentSummary,
    LastCheck,
    Muted,
    Remediation,
    RunDetectors,
    Slo,
    SloDayOut,
    SloDetectorOut,
    SloStatusOut,
    TimelineEntry,
)
from ops.api.endpoints import ENDPOINTS, JSON, Endpoint
from ops.api.openapi import openapi_document
from ops.api.params import (
    INT4,
    AckParams,
    AlertsParams,
    BadParameter,
    IncidentParams,
    IncidentsParams,
    RemediateParams,
    SloParams,
    SloSummaryParams,
    parameters,
    parse,
)
from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.engine.incidents import IncidentService
from ops.health import HealthReadModel
from ops.incidents.log import IncidentLog
from ops.incidents.postmortem import Postmortems
from ops.incidents.read import IncidentGroup
from ops.model import Actor, Incident
from ops.redaction import same_secret
from ops.remediation import RemediationRunner
from ops.settings import Settings
from ops.slo.read import SloOverview, SloReader
from ops.sweeper import Sweeper
from ops.timeutil import Clock

if TYPE_CHECKING:
    from ops.runtime import OpsCore

log = logging.getLogger(__name__)
API_ACTOR = Actor(id=0, name="api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _utc(ts: datetime | None) -> datetime | None:
    """Stored times are naive UTC; the API says so (RFC 3339, with the offset)."""
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _round(pct: float | None) -> float | None:
    return round(pct, 3) if pct is not None else None


@cache
def _adapter(answer: Any) -> TypeAdapter[Any]:
    return TypeAdapter(answer)


def _json(answer: Any, value: Any, status: int = 200) -> web.Response:
    return web.json_response(text=_adapter(answer).dump_json(value, by_alias=True).decode(), status=status)


def _error(status: int, message: str, parameter: str | None = None) -> web.Response:
    return _json(Error, Error(error=message, parameter=parameter), status)


@dataclass(frozen=True)
class ApiServices:
    """The read and act services the API answers from (the same the bot uses)."""

    settings: Settings
    current: CurrentConfig
    clock: Clock
    health: HealthReadModel
    history: AlertHistory
    incidents: IncidentService
    sweeper: Sweeper
    remediation: RemediationRunner
    slo: SloReader
    incident_log: IncidentLog
    postmortems: Postmortems

    @classmethod
    def of(cls, core: OpsCore) -> ApiServices:
        return cls(
            core.settings,
            core.current,
            core.clock,
            core.health,
            core.history,
            core.incidents,
            core.sweeper,
            core.remediation,
            core.slo_reader,
            core.incident_log,
            core.postmortems,
        )

    @property
    def config(self) -> OpsConfig:
        return self.current.config


class OpsApi:
    def __init__(self, services: ApiServices, token: str, public_read: bool) -> None:
        self.services = services
        self.slo_reader = services.slo
        self.token = token
        self.public_read = public_read

    def routes(self, app: web.Application) -> None:
        for endpoint in ENDPOINTS:
            app.router.add_route(endpoint.method.upper(), endpoint.path, self._guard(endpoint))

    def _guard(self, endpoint: Endpoint) -> Handler:
        handler: Callable[[Any], Awaitable[Any]] = getattr(self, endpoint.name)
        names = tuple(parameters(endpoint.params))

        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.token:
                return _error(404, "the API is off: set API_TOKEN to turn it on")
            given = request.headers.get("Authorization", "")
            if given or endpoint.access == "write" or not (self.public_read or endpoint.access == "open"):
                secret = given.removeprefix("Bearer ").strip()
                if not given.startswith("Bearer ") or not same_secret(secret, self.token):
                    return _error(401, "a valid `Authorization: Bearer <API_TOKEN>` is required")
            try:
                answer = await handler(parse(endpoint.params, _values(request, names)))
            except BadParameter as exc:
                return _error(422, str(exc), exc.parameter)
            except Exception:  # logged here, never shown
                log.exception("api %s %s failed", request.method, request.path)
                return _error(500, "internal error; it has been logged")
            if isinstance(answer, web.StreamResponse):
                return answer
            if endpoint.media != JSON:
                return web.Response(text=answer, content_type=endpoint.media, charset="utf-8")
            return _json(endpoint.answer, answer)

        return guarded

    # -- handlers: each takes its endpoint's parameters model and answers with its answer type (200)
    # -- or a response of another status
    async def openapi(self, _params: BaseModel) -> dict[str, Any]:
        return openapi_document()

    async def health(self, _params: BaseModel) -> Health:
        report = await self.services.health.health()
        counts = report.counts
        return Health(
            alerts_last_hour=counts.get("alerts_last_hour", 0),
            critical_last_24h=counts.get("critical_last_24h", 0),
            remediations_last_hour=counts.get("remediations_last_hour", 0),
            remediation_failures_24h=counts.get("remediation_failures_24h", 0),
            detectors=[
                DetectorHealth(
                    name=d.config.name,
                    kind=d.config.kind,
                    firing=len(d.open_incidents),
                    last=[
                        LastCheck(key=c.key, status=c.status, ok=c.ok, message=c.message, ts=_utc(c.ts)) for c in d.last
                    ],
                )
                for d in report.detectors
            ],
        )

    async def alerts(self, params: AlertsParams) -> Alerts:
        page = await self.services.history.alerts(
            chat_id=None,
            severity=params.severity,
            limit=params.limit,
            status=params.state,
            before_id=params.cursor,
        )
        items = [
            Alert(
                id=i.id,
                created_at=_utc(i.opened_at),
                source=i.source,
                key=i.key,
                severity=i.severity.value,
                status=i.status.value,
                message=i.message,
                fingerprint=i.fingerprint,
                acknowledged_by=i.acknowledged_by,
                resolved_at=_utc(i.resolved_at),
                extras=i.extras,
                muted=Muted(kind=i.muted.kind.value, by=i.muted.by) if i.muted else None,
            )
            for i in page.incidents
        ]
        more = len(items) == params.limit and page.total > params.limit
        return Alerts(alerts=items, total=page.total, next_cursor=items[-1].id if more else None)

    async def incidents(self, params: IncidentsParams) -> Incidents:
        # One more than a page: a next page exists only when something is left for it.
        found = await self.services.incident_log.recent(
            status=params.status, limit=params.limit + 1, before=params.before
        )
        page = found[: params.limit]
        more = len(found) > params.limit
        return Incidents(incidents=[_summary(g) for g in page], next_before=page[-1].id if more else None)

    async def incident(self, params: IncidentParams) -> IncidentDetail | web.Response:
        record = await self.services.incident_log.get(params.id) if params.id <= INT4 else None
        if record is None:
            return _error(404, f"no incident {str(params.id)[:20]}")
        return IncidentDetail(
            **_summary(record.incident).model_dump(),
            alerts=[_alert(a) for a in record.incident.alerts],
            timeline=[
                TimelineEntry(
                    at=_utc(e.at),
                    kind=e.kind,
                    actor=e.actor,
                    detector=e.detector,
                    alert_id=e.alert_id,
                    chat_id=e.chat_id,
                    detail=e.detail,
                )
                for e in record.timeline
            ],
        )

    async def postmortem(self, params: IncidentParams) -> str | web.Response:
        draft = await self.services.postmortems.draft(params.id) if params.id <= INT4 else None
        if draft is None:
            return _error(404, f"no incident {str(params.id)[:20]}")
        return draft

    async def detectors(self, _params: BaseModel) -> list[Detector]:
        default = self.services.settings.sweep_interval_sec
        return [
            Detector(
                name=d.name,
                kind=d.kind,
                every_s=d.interval(default),
                severity=d.severity.value,
                labels=dict(d.labels),
                runbook=bool(d.runbook),
                remediation=d.remediation,
            )
            for d in self.services.config.detectors
        ]

    async def run_detectors(self, _params: BaseModel) -> RunDetectors:
        report = await self.services.sweeper.sweep()
        results = [
            CheckOut(
                detector=r.detector,
                key=r.key,
                ok=r.ok,
                status=r.status.value,
                severity=r.severity.value,
                msg=r.message,
                value=r.value,
                fingerprint=r.fingerprint,
            )
            for r in report.results
        ]
        passed = sum(1 for r in results if r.ok)
        return RunDetectors(
            status="completed", total_checks=len(results), passed=passed, failed=len(results) - passed, results=results
        )

    async def remediate(self, params: RemediateParams) -> Remediation | web.Response:
        source = params.alert_source
        runner = self.services.remediation
        if self.services.config.detector(source) is None:
            return _error(404, f"no detector named {source[:64]!r}", "alert_source")
        action = runner.action_for(source)
        if action is None:
            return _error(409, f"detector {source[:64]!r} has no remediation", "alert_source")
        incident = await self.services.history.open_incident_for(source)
        started = await runner.request(action, incident, "api", API_ACTOR)
        run = None
        if started.run_id is not None:
            await runner.wait_idle()
            run = await runner.get_run(started.run_id)
        status = run.status if run is not None and started.status == "started" else started.status
        details = (run.last_error or run.output or status) if run is not None else started.message
        return Remediation(
            status=status,
            action_name=action.name,
            details=(details or "")[:2000],
            run_id=started.run_id,
            retry_count=max(0, (run.attempts if run else 1) - 1),
        )

    async def ack(self, params: AckParams) -> Ack | web.Response:
        if params.id > INT4:
            return _error(404, f"no alert {str(params.id)[:20]}")
        result = await self.services.incidents.acknowledge(params.id, API_ACTOR, None)
        incident = result.incident
        body = Ack(
            id=params.id,
            outcome=result.outcome.value,
            status=incident.status.value if incident else None,
            acknowledged_by=incident.acknowledged_by if incident else None,
        )
        return body if incident is not None else _json(Ack, body, 404)

    async def slo(self, params: SloParams) -> Slo:
        date_to = params.date_to or self.services.clock().date()
        date_from = params.date_from or date_to - timedelta(days=6)
        return _slo(await self.slo_reader.read(days=(date_from, date_to)))

    async def slo_summary(self, params: SloSummaryParams) -> Slo:
        return _slo(await self.slo_reader.read(days=self.slo_reader.last_days(params.days)))


def _values(request: web.Request, names: tuple[str, ...]) -> dict[str, str]:
    """The parameters given, by name: from the path, else the query (its first value)."""
    path, query = request.match_info, request.query
    return {n: path[n] if n in path else query[n] for n in names if n in path or n in query}


def _summary(group: IncidentGroup) -> IncidentSummary:
    return IncidentSummary(
        id=group.id,
        title=group.title,
        status=group.status.value,
        severity=group.severity.value,
        opened_at=_utc(group.opened_at),
        acknowledged_at=_utc(group.acknowledged_at),
        acknowledged_by=group.acknowledged_by,
        resolved_at=_utc(group.resolved_at),
        alert_count=len(group.alerts),
        detectors=group.detectors,
    )


def _alert(alert: Incident) -> IncidentAlert:
    return IncidentAlert(
        id=alert.id,
        source=alert.source,
        key=alert.key,
        severity=alert.severity.value,
        status=alert.status.value,
        message=alert.message,
        created_at=_utc(alert.opened_at),
        acknowledged_by=alert.acknowledged_by,
        resolved_at=_utc(alert.resolved_at),
    )


def _slo(report: SloOverview) -> Slo:
    compliance = report.compliance
    assert compliance is not None  # both endpoints ask for days
    return Slo(
        status="ok",
        d_from=compliance.first.isoformat(),
        d_to=compliance.last.isoformat(),
        days_analyzed=compliance.days,
        daily=[
            SloDayOut(
                date=d.day.isoformat(),
                checks=d.checks,
                good=d.good,
                compliance_pct=_round(d.pct),
                incidents=d.incidents,
            )
            for d in compliance.daily
        ],
        detectors=[
            SloDetectorOut(
                detector=d.name,
                checks=d.checks,
                good=d.good,
                actual_pct=_round(d.pct),
                target_pct=d.objective,
                **{"pass": d.meets},
            )
            for d in compliance.detectors
        ],
        slos=[
            SloStatusOut(
                name=s.name,
                objective_pct=s.objective,
                window_s=s.window,
                good=s.good,
                total=s.total,
                sli_pct=_round(s.sli),
                budget_remaining_pct=_round(s.budget_remaining),
                burn={k: _round(v) for k, v in s.burn.items()},
                budget_exhausted_in_seconds=_round(s.budget_exhausted_in),
                state=s.state,
            )
            for s in report.slos
        ],
    )
