"""What the API answers: pydantic models, serialised as they are and described by their own JSON schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


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


class Muted(BaseModel):
    kind: str  # inhibited | maintenance | silenced | flapping
    by: str  # the parent detector, the window's cron, the silence's id, when it started flapping


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
    muted: Muted | None = None  # what keeps it from notifying now


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


class SloStatusOut(BaseModel):
    name: str
    objective_pct: float
    window_s: float
    good: float
    total: float
    sli_pct: float | None = Field(description="percent of good events over the window; null: no events")
    budget_remaining_pct: float | None = Field(description="error budget left; negative when overspent")
    burn: dict[str, float | None] = Field(description="burn rate per window (bad share / error budget)")
    budget_exhausted_in_seconds: float | None = Field(
        description="seconds until the error budget is spent at the current burn (the 6h burn rate, the 1h one "
        "when 6h has no events); null when not burning faster than the budget allows, or already exhausted"
    )
    state: Literal["ok", "no_data", "breached", "ticket", "page"]


class Slo(BaseModel):
    status: Literal["ok"]
    d_from: str
    d_to: str
    days_analyzed: int
    daily: list[SloDayOut]
    detectors: list[SloDetectorOut]
    slos: list[SloStatusOut] = Field(description="each configured SLO now, over its own window, as /slo shows it")


SeverityName = Literal["info", "warning", "error", "critical"]
AlertState = Literal["firing", "acknowledged", "resolved"]


class IncidentSummary(BaseModel):
    """An incident (alerts grouped by their route's `group_by`, or a child with its `depends_on` parent's);
    its state is its alerts': open while any fires, acknowledged when one of its open alerts is."""

    id: int = Field(ge=1)
    title: str = Field(max_length=200)
    status: AlertState
    severity: SeverityName = Field(description="the highest of its open alerts (of all, once resolved)")
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None = Field(description="when its last alert resolved; null while open")
    alert_count: int = Field(ge=0)
    detectors: list[str]


class Incidents(BaseModel):
    incidents: list[IncidentSummary] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")


class IncidentAlert(BaseModel):
    """One alert of an incident (`/alerts` has the rest of it)."""

    id: int = Field(ge=1)
    source: str
    key: str
    severity: SeverityName
    status: AlertState
    message: str
    created_at: datetime
    acknowledged_by: str | None
    resolved_at: datetime | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(
        description="joined, fired, notified, reminded, escalated, acknowledged, unacknowledged, silenced, "
        "inhibited, remediation_started, remediation_succeeded, remediation_failed, rechecked, checked, "
        "resolved, reopened, severity_raised, flapping_started, note, message, …"
    )
    actor: str | None = Field(description="the person's name; null for opsbot itself")
    detector: str | None = Field(description="the alert's detector, when the entry is about one alert")
    alert_id: int | None
    chat_id: int | None
    detail: str = Field(description="what happened: a note's text, a remediation's output tail, …")


class IncidentDetail(IncidentSummary):
    alerts: list[IncidentAlert] = Field(description="oldest first")
    timeline: list[TimelineEntry] = Field(description="oldest first, with time and actor")
