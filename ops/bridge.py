"""The Alertmanager bridge: Alertmanager's webhook (payload version 4) in, opsbot incidents out.

Each alert becomes an incident of a detector named `am:<alertname>`, keyed by Alertmanager's
fingerprint; `firing` and `resolved` follow Alertmanager. The alert's labels are the detector's labels,
so routes, silences by label, escalation, ack and storm digests work as for opsbot's own detectors.
A notification carries only its group's alerts, so alerts it does not mention are left as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops.config.models import DetectorBase
from ops.engine import AlertEngine, EngineReport
from ops.model import CheckResult, CheckStatus, Severity
from ops.redaction import redact_message
from ops.storage.clean import clean_text

SEVERITIES = {"critical": Severity.critical, "page": Severity.critical, "error": Severity.error}
SEVERITIES |= {"warning": Severity.warning, "warn": Severity.warning, "info": Severity.info, "none": Severity.info}


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    fingerprint: str = Field(min_length=1, max_length=64)
    generatorURL: str = ""  # Alertmanager's field name


class AmPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: str = ""
    receiver: str = ""
    alerts: list[AmAlert] = Field(max_length=5000)


class BadPayload(ValueError):
    """The webhook body is not Alertmanager's payload version 4; one line says why."""


def parse_payload(body: Any) -> AmPayload:
    try:
        return AmPayload.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadPayload(f"{where}: {first['msg']}") from None


def detector_for(alert: AmAlert) -> DetectorBase:
    name = clean_text(alert.labels.get("alertname", "alert"))
    return DetectorBase.model_construct(
        name=f"am:{name}"[:64],
        severity=severity_of(alert),
        every=None,
        timeout=30.0,
        for_=1,
        runbook=None,
        labels=dict(alert.labels),
        description=alert.annotations.get("description"),
        no_data="ok",
        remediation=None,
    )


def severity_of(alert: AmAlert) -> Severity:
    return SEVERITIES.get(alert.labels.get("severity", "").lower(), Severity.warning)


def message_of(alert: AmAlert) -> str:
    notes = alert.annotations
    parts = [notes.get("summary") or alert.labels.get("alertname", "alert")]
    if notes.get("description"):
        parts.append(notes["description"])
    if notes.get("runbook_url"):
        parts.append(f"runbook: {notes['runbook_url']}")
    return redact_message("\n".join(parts))  # a password in an annotation's URL is shown nowhere


async def receive(engine: AlertEngine, payload: AmPayload) -> list[EngineReport]:
    """One webhook notification: every alert in it through the engine (in transactions of bounded size).

    An alert the notification carries twice (firing and resolved, say) is one result, the worse: firing."""
    runs = []
    for alert in payload.alerts:
        detector = detector_for(alert)
        firing = alert.status == "firing"
        result = CheckResult(
            detector=detector.name,
            key=alert.fingerprint,
            status=CheckStatus.fail if firing else CheckStatus.ok,
            severity=detector.severity,
            message=message_of(alert),
        )
        runs.append((detector, [result]))
    return await engine.process_many(runs, partial=True) if runs else []
