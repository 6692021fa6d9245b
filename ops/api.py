"""The JSON API for scripts and dashboards: /api/v1/ops/*, over the same services the bot uses.

Bearer `API_TOKEN`; without it the API is off (404). Reads are open without a token only with
`API_PUBLIC_READ=true`. A bad parameter is 422 naming it; a wrong token 401; never a traceback.
The OpenAPI document at /api/v1/openapi.json is built from the same pydantic models the answers are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from ops.alert_history import AlertHistory
from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.engine.incidents import IncidentService
from ops.health import HealthReadModel
from ops.model import Actor, Severity
from ops.redaction import same_secret
from ops.remediation import RemediationRunner
from ops.services import OpsServices
from ops.settings import Settings
from ops.sweeper import Sweeper
from ops.timeutil import Clock

if TYPE_CHECKING:
    from ops.runtime import OpsCore

log = logging.getLogger(__name__)
PREFIX = "/api/v1/ops"
API_ACTOR = Actor(id=0, name="api")
MAX_DAYS = 366  # history the SLO endpoints look at
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- answers -------------------------------------------------------------------------------
class Error(BaseModel):
    error: str
    parameter: str | None = None


class LastCheck(BaseModel):
    key: str
    status: str
    ok: bool
    message: str
    ts: datetime | None


class DetectorHealth(BaseModel):
    name: str
    kind: str
    firing: int
    last: list[LastCheck]


class Health(BaseModel):
    alerts_last_hour: int
    critical_last_24h: int
    remediations_last_hour: int
    remediation_failures_24h: int
    detectors: list[DetectorHealth]


class Alert(BaseModel):
    id: int
    created_at: datetime
    source: str
    key: str
    severity: str
    status: str
    message: str
    fingerprint: str
    acknowledged_by: str | None
    resolved_at: datetime | None
    extras: dict[str, Any]


class Alerts(BaseModel):
    alerts: list[Alert]
    total: int
    next_cursor: int | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class Detector(BaseModel):
    name: str
    kind: str
    every_s: float
    severity: str
    labels: dict[str, str]
    runbook: bool
    remediation: str | None


class CheckOut(BaseModel):
    detector: str
    key: str
    ok: bool
    status: str
    severity: str
    msg: str
    value: float | None
    fingerprint: str


class RunDetectors(BaseModel):
    status: Literal["completed"]
    total_checks: int
    passed: int
    failed: int
    results: list[CheckOut]


class Remediation(BaseModel):
    status: str
    action_name: str | None
    details: str
    run_id: int | None
    retry_count: int


class Ack(BaseModel):
    id: int
    outcome: str
    status: str | None
    acknowledged_by: str | None


class SloDayOut(BaseModel):
    date: str
    checks: int
    good: int
    compliance_pct: float | None
    incidents: int


class SloDetectorOut(BaseModel):
    detector: str
    checks: int
    good: int
    actual_pct: float | None
    target_pct: float | None
    passed: bool | None = Field(alias="pass", serialization_alias="pass")


class Slo(BaseModel):
    status: Literal["ok"]
    d_from: str
    d_to: str
    days_analyzed: int
    daily: list[SloDayOut]
    detectors: list[SloDetectorOut]


# -- errors --------------------------------------------------------------------------------
class BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def _utc(ts: datetime | None) -> datetime | None:
    """Stored times are naive UTC; the API says so (RFC 3339, with the offset)."""
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _round(pct: float | None) -> float | None:
    return round(pct, 3) if pct is not None else None


def _json(model: BaseModel | list[Any], status: int = 200) -> web.Response:
    if isinstance(model, BaseModel):
        return web.json_response(text=model.model_dump_json(by_alias=True), status=status)
    return web.json_response(text="[" + ",".join(m.model_dump_json(by_alias=True) for m in model) + "]", status=status)


def _error(status: int, message: str, parameter: str | None = None) -> web.Response:
    return _json(Error(error=message, parameter=parameter), status)


# ASCII digits only: str.isdigit() and int() also take "²" (which int() then refuses) and "٥" (5).
_INTEGER = re.compile(r"-?[0-9]{1,12}")
_ID = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 31)  # dates the SLO endpoints take


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadParameter(name, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise BadParameter(name, f"{name} must be one of {', '.join(choices)}")
    return raw


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be a date like 2026-11-23") from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise BadParameter(name, f"{name} must be from {FIRST_DAY} to {LAST_DAY}")
    return value


# -- the API -------------------------------------------------------------------------------
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
    slo_history: OpsServices

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
            core.slo_history,
        )

    @property
    def config(self) -> OpsConfig:
        return self.current.config


class OpsApi:
    def __init__(self, services: ApiServices, token: str, public_read: bool) -> None:
        self.services = services
        self.token = token
        self.public_read = public_read

    def routes(self, app: web.Application) -> None:
        get, post = app.router.add_get, app.router.add_post
        get("/api/v1/openapi.json", self._guard(self.openapi, write=False, always=True))
        get(f"{PREFIX}/health", self._guard(self.health, write=False))
        get(f"{PREFIX}/alerts", self._guard(self.alerts, write=False))
        get(f"{PREFIX}/detectors", self._guard(self.detectors, write=False))
        get(f"{PREFIX}/slo", self._guard(self.slo, write=False))
        get(f"{PREFIX}/slo/summary", self._guard(self.slo_summary, write=False))
        post(f"{PREFIX}/run-detectors", self._guard(self.run_detectors, write=True))
        post(f"{PREFIX}/remediate", self._guard(self.remediate, write=True))
        post(f"{PREFIX}/alerts/{{id}}/ack", self._guard(self.ack, write=True))

    def _guard(self, handler: Handler, *, write: bool, always: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.token:
                return _error(404, "the API is off: set API_TOKEN to turn it on")
            given = request.headers.get("Authorization", "")
            if given or write or not (self.public_read or always):
                secret = given.removeprefix("Bearer ").strip()
                if not given.startswith("Bearer ") or not same_secret(secret, self.token):
                    return _error(401, "a valid `Authorization: Bearer <API_TOKEN>` is required")
            try:
                return await handler(request)
            except BadParameter as exc:
                return _error(422, str(exc), exc.parameter)
            except Exception:  # logged here, never shown
                log.exception("api %s %s failed", request.method, request.path)
                return _error(500, "internal error; it has been logged")

        return guarded

    async def openapi(self, _request: web.Request) -> web.Response:
        from ops.api_schema import openapi_document

        return web.json_response(openapi_document())

    async def health(self, _request: web.Request) -> web.Response:
        report = await self.services.health.health()
        counts = report.counts
        return _json(
            Health(
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
                            LastCheck(key=c.key, status=c.status, ok=c.ok, message=c.message, ts=_utc(c.ts))
                            for c in d.last
                        ],
                    )
                    for d in report.detectors
                ],
            )
        )

    async def alerts(self, request: web.Request) -> web.Response:
        limit = _int(request, "limit", 50, 1, 500)
        severity = _choice(request, "severity", tuple(s.value for s in Severity))
        state = _choice(request, "state", ("firing", "acknowledged", "resolved"))
        cursor = _int(request, "cursor", 0, 1, 2**31 - 1) if "cursor" in request.query else None
        page = await self.services.history.alerts(
            chat_id=None,
            severity=Severity(severity) if severity else None,
            limit=limit,
            status=state,
            before_id=cursor,
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
            )
            for i in page.incidents
        ]
        more = len(items) == limit and page.total > limit
        return _json(Alerts(alerts=items, total=page.total, next_cursor=items[-1].id if more else None))

    async def detectors(self, _request: web.Request) -> web.Response:
        default = self.services.settings.sweep_interval_sec
        return _json(
            [
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
        )

    async def run_detectors(self, _request: web.Request) -> web.Response:
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
        return _json(
            RunDetectors(
                status="completed",
                total_checks=len(results),
                passed=passed,
                failed=len(results) - passed,
                results=results,
            )
        )

    async def remediate(self, request: web.Request) -> web.Response:
        source = request.query.get("alert_source", "")
        runner = self.services.remediation
        if not source:
            raise BadParameter("alert_source", "alert_source (a detector name) is required")
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
        return _json(
            Remediation(
                status=status,
                action_name=action.name,
                details=(details or "")[:2000],
                run_id=started.run_id,
                retry_count=max(0, (run.attempts if run else 1) - 1),
            )
        )

    async def ack(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not _ID.fullmatch(raw):
            raise BadParameter("id", "id must be an incident id (an integer)")
        if len(raw) > 10 or int(raw) > 2**31 - 1:
            return _error(404, f"no incident {raw[:20]}")
        result = await self.services.incidents.acknowledge(int(raw), API_ACTOR, None)
        incident = result.incident
        body = Ack(
            id=int(raw),
            outcome=result.outcome.value,
            status=incident.status.value if incident else None,
            acknowledged_by=incident.acknowledged_by if incident else None,
        )
        return _json(body, 404 if incident is None else 200)

    async def slo(self, request: web.Request) -> web.Response:
        today = self.services.clock().date()
        date_to = _date(request, "date_to") or today
        date_from = _date(request, "date_from") or max(date.min, date_to - timedelta(days=6))
        return _json(await self._slo(date_from, date_to))

    async def slo_summary(self, request: web.Request) -> web.Response:
        days = _int(request, "days", 7, 1, 90)
        today = self.services.clock().date()
        return _json(await self._slo(today - timedelta(days=days - 1), today))

    async def _slo(self, date_from: date, date_to: date) -> Slo:
        """Days outside the last 366 (or in the future) simply have no data."""
        today = self.services.clock().date()
        report = await self.services.slo_history.slo(min(max((today - date_from).days + 1, 1), MAX_DAYS))
        daily = [
            SloDayOut(
                date=d.day,
                checks=d.checks,
                good=d.good,
                compliance_pct=_round(d.pct),
                incidents=d.incidents,
            )
            for d in report.daily
            if date_from.isoformat() <= d.day <= date_to.isoformat()
        ]
        detectors = [
            SloDetectorOut(
                detector=d.name,
                checks=d.checks,
                good=d.good,
                actual_pct=_round(d.pct),
                target_pct=d.objective,
                **{"pass": d.pct >= d.objective if d.pct is not None and d.objective is not None else None},
            )
            for d in report.detectors
        ]
        return Slo(
            status="ok",
            d_from=date_from.isoformat(),
            d_to=date_to.isoformat(),
            days_analyzed=max(0, (date_to - date_from).days + 1),
            daily=daily,
            detectors=detectors,
        )
