"""Every route of the API, declared once: the server routes from this table and the OpenAPI document
is built from it, so a route cannot be served without its entry in the document, nor the reverse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ops.api.answers import (
    Ack,
    Alerts,
    Detector,
    Error,
    Health,
    IncidentDetail,
    Incidents,
    Remediation,
    RunDetectors,
    Slo,
)
from ops.api.params import (
    AckParams,
    AlertsParams,
    IncidentParams,
    IncidentsParams,
    NoParams,
    RemediateParams,
    SloParams,
    SloSummaryParams,
)

PREFIX = "/api/v1/ops"
OPENAPI_PATH = "/api/v1/openapi.json"
JSON = "application/json"
MARKDOWN = "text/markdown"
Access = Literal["open", "read", "write"]  # open: no token needed while the API is on; read: API_PUBLIC_READ


@dataclass(frozen=True)
class Endpoint:
    method: Literal["get", "post"]
    path: str  # aiohttp's and OpenAPI's spelling alike: `{id}` is a path parameter
    name: str  # the handler (`OpsApi.<name>`) and the operationId
    summary: str
    answer: Any  # the type of a 200 answer
    access: Access = "read"
    params: type[BaseModel] = NoParams
    other: dict[int, tuple[str, Any]] = field(default_factory=dict)  # status → (when, answer type)
    media: str = JSON  # the 200 answer's content type: JSON of `answer`, or text (`answer` is str)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("get", OPENAPI_PATH, "openapi", "This document", dict[str, Any], access="open"),
    Endpoint("get", f"{PREFIX}/health", "health", "vw_ops_health counts and each detector's last result", Health),
    Endpoint("get", f"{PREFIX}/alerts", "alerts", "Alerts, newest first", Alerts, params=AlertsParams),
    Endpoint(
        "get",
        f"{PREFIX}/incidents",
        "incidents",
        "Incidents (alerts grouped as they fired), newest first",
        Incidents,
        params=IncidentsParams,
    ),
    Endpoint(
        "get",
        f"{PREFIX}/incidents/{{id}}",
        "incident",
        "An incident: its alerts and its timeline",
        IncidentDetail,
        params=IncidentParams,
        other={404: ("no such incident, or the API is off", Error)},
    ),
    Endpoint(
        "get",
        f"{PREFIX}/incidents/{{id}}/postmortem",
        "postmortem",
        "An incident's postmortem draft in Markdown (facts from its timeline, empty sections to write)",
        str,
        params=IncidentParams,
        other={404: ("no such incident, or the API is off", Error)},
        media=MARKDOWN,
    ),
    Endpoint("get", f"{PREFIX}/detectors", "detectors", "Configured detectors", list[Detector]),
    Endpoint(
        "get",
        f"{PREFIX}/slo",
        "slo",
        "Compliance per day and per detector, and each SLO now",
        Slo,
        params=SloParams,
    ),
    Endpoint(
        "get",
        f"{PREFIX}/slo/summary",
        "slo_summary",
        "The last N days, and each SLO now",
        Slo,
        params=SloSummaryParams,
    ),
    Endpoint("post", f"{PREFIX}/run-detectors", "run_detectors", "Run every detector now", RunDetectors, "write"),
    Endpoint(
        "post",
        f"{PREFIX}/remediate",
        "remediate",
        "Run a detector's remediation (trigger `api`)",
        Remediation,
        "write",
        RemediateParams,
        {404: ("no such detector, or the API is off", Error), 409: ("the detector has no remediation", Error)},
    ),
    Endpoint(
        "post",
        f"{PREFIX}/alerts/{{id}}/ack",
        "ack",
        "Acknowledge an alert",
        Ack,
        "write",
        AckParams,
        {404: ("no such alert, or the API is off", Ack | Error)},
    ),
)
