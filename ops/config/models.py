"""Pydantic models of the config file's sections. The detector and remediation kinds' models live with the
kinds (ops/detectors, ops/remediation/actions.py); `OpsConfig` takes them through their registries."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, PlainValidator, SerializeAsAny, field_validator, model_validator

from ops.config.fields import Cron, Duration, Name, Strict, TimeZone
from ops.config.kinds import DetectorBase, RemediationBase, detector_kinds, remediation_kinds
from ops.config.schedules import parse_report_time
from ops.model import Severity

__all__ = [
    "DetectorBase",
    "EscalationPolicy",
    "MaintenanceWindow",
    "OpsConfig",
    "RemediationBase",
    "RouteConfig",
    "SliConfig",
    "SloConfig",
]

# An item of `detectors:` / `remediations:`: validated by the model its `kind` names, whatever kinds are
# registered when it is validated; written out with all of its kind's fields.
AnyDetector = Annotated[SerializeAsAny[DetectorBase], PlainValidator(detector_kinds.validate)]
AnyRemediation = Annotated[SerializeAsAny[RemediationBase], PlainValidator(remediation_kinds.validate)]


class SliConfig(Strict):
    """Either `detector` (good = its passing checks) or `target` with `good_query` and `total_query`
    (counts of the service's own events between `:since` and `:until`)."""

    detector: str | None = None
    target: str | None = None
    good_query: str | None = None
    total_query: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SliConfig:
        event = (self.target, self.good_query, self.total_query)
        if self.detector is not None and any(v is not None for v in event):
            raise ValueError("give either detector, or target with good_query and total_query")
        if self.detector is None and not all(v is not None for v in event):
            raise ValueError("give either detector, or target with good_query and total_query")
        return self


class SloConfig(Strict):
    name: Name
    objective: float = Field(gt=0, lt=100)  # percent
    window: Duration = 30 * 86400.0
    sli: SliConfig
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    runbook: str | None = None

    @property
    def budget(self) -> float:
        """The error budget as a fraction: 1 − objective."""
        return 1 - self.objective / 100


class RouteConfig(Strict):
    """`match` keys: severity, detector, key (the alert's key), or a label; `=~…` is a regex."""

    match: dict[str, str] = Field(default_factory=dict)
    chats: list[int] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")
    # Alerts of this route that share these fields (labels, or detector/key/severity) and fire within
    # `group_window` of the incident's start join one incident; none: each alert is its own.
    group_by: list[str] = Field(default_factory=list)
    group_window: Duration = 300.0

    @field_validator("match")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            if pattern.startswith("=~"):
                try:
                    re.compile(pattern[2:])
                except re.error as exc:
                    raise ValueError(f"{key}: bad regex {pattern[2:]!r}: {exc}") from None
        return value

    def matches(self, fields: dict[str, str]) -> bool:
        for key, wanted in self.match.items():
            value = fields.get(key)
            if value is None:
                return False
            if wanted.startswith("=~"):
                if re.fullmatch(wanted[2:], value) is None:
                    return False
            elif value != wanted:
                return False
        return True


class EscalationPolicy(Strict):
    after: Duration
    repeat: Duration | None = None


class MaintenanceWindow(Strict):
    """Alerts of these detectors send nothing for `duration` after each `cron` time."""

    detectors: list[str] = Field(min_length=1)
    cron: Cron
    tz: TimeZone = "UTC"
    duration: Duration


class OpsConfig(Strict):
    routes: list[RouteConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    escalation: dict[Severity, EscalationPolicy] = Field(default_factory=dict)
    targets: dict[str, str] = Field(default_factory=dict)
    detectors: list[AnyDetector] = Field(default_factory=list)
    remediations: list[AnyRemediation] = Field(default_factory=list)
    slos: list[SloConfig] = Field(default_factory=list)
    slo_report: str | None = None  # weekly report, e.g. "mon 09:00"
    slo_report_tz: TimeZone = "UTC"

    @field_validator("slo_report")
    @classmethod
    def _report_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_report_time(value, "UTC")
        return value

    def slo(self, name: str) -> SloConfig | None:
        return next((s for s in self.slos if s.name == name), None)

    def remediation(self, name: str | None) -> RemediationBase | None:
        return next((r for r in self.remediations if r.name == name), None) if name else None

    def detector(self, name: str) -> DetectorBase | None:
        return next((d for d in self.detectors if d.name == name), None)
