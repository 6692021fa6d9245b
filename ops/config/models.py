"""Pydantic models of the config file's sections. The detector and remediation kinds' models live with the
kinds (ops/detectors, ops/remediation/actions.py); `OpsConfig` takes them through their registries."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal

from pydantic import (
    Discriminator,
    Field,
    PlainValidator,
    SerializeAsAny,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ops.config.fields import Cron, Duration, Name, Strict, TimeZone
from ops.config.kinds import DetectorBase, RemediationBase, detector_kinds, remediation_kinds
from ops.config.schedules import Handoff, parse_report_time
from ops.model import Severity

__all__ = [
    "DetectorBase",
    "EscalationPolicy",
    "EscalationStep",
    "MaintenanceWindow",
    "OnCallSchedule",
    "OpsConfig",
    "QuietHours",
    "RemediationBase",
    "RouteConfig",
    "SliConfig",
    "SloConfig",
    "StatusComponent",
    "StatusPageConfig",
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

    @property
    def key(self) -> str:
        """The route's identity for grouping alerts into incidents: what it matches and where it sends
        (a reload that keeps the route keeps its incidents)."""
        spec = json.dumps([sorted(self.match.items()), sorted(self.chats)], ensure_ascii=False)
        return hashlib.sha256(spec.encode()).hexdigest()[:16]

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
    """The first form: unacknowledged after `after` → ADMIN_CHAT_IDS, again every `repeat`."""

    after: Duration
    repeat: Duration | None = None

    def steps(self) -> list[EscalationStep]:
        """The same, as a policy's steps: the routed chats at once, then the admins."""
        return [
            EscalationStep(after=0, notify="chats"),
            EscalationStep(after=self.after, notify="admins", repeat=self.repeat),
        ]


_NOTIFY = re.compile(r"^(chats|admins|oncall:[A-Za-z0-9_.-]+)$")


class EscalationStep(Strict):
    """One step of an escalation policy: `after` the alert fired, unacknowledged, notify `chats` (the
    routed chats), `admins` (ADMIN_CHAT_IDS) or `oncall:NAME` (whoever is on call, in private); with
    `repeat`, again every `repeat` until acknowledged or the next step."""

    after: Duration
    notify: str
    repeat: Duration | None = None

    @field_validator("notify")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _NOTIFY.match(value):
            raise ValueError(f"expected chats, admins or oncall:<schedule>, got {value!r}")
        return value

    @property
    def schedule(self) -> str | None:
        return self.notify.removeprefix("oncall:") if self.notify.startswith("oncall:") else None


class OnCallSchedule(Strict):
    """Who is on call: `members` (Telegram user ids) take turns of `rotation`, handing off at `handoff`
    (`mon 09:00`, or `09:00`) in `tz`."""

    name: Name
    members: list[int] = Field(min_length=1)
    rotation: Duration = 7 * 86400.0
    handoff: str = "mon 09:00"
    tz: TimeZone = "UTC"

    @field_validator("rotation")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 3600:
            raise ValueError("a rotation is at least 1h")
        return value

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        Handoff.parse(value)
        return value


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class QuietHours(Strict):
    """Notifications to `chats` below severity `below` are quiet `when` (`22:00-08:00`, local to `tz`)
    and/or on `days`: `silent` sends them without a sound, `hold` keeps them for one morning digest."""

    chats: list[int] = Field(min_length=1)
    when: str | None = None
    days: list[str] = Field(default_factory=list)
    tz: TimeZone = "UTC"
    below: Severity = Severity.critical
    mode: Literal["silent", "hold"] = "silent"

    @field_validator("when")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        if value is not None:
            match = _SPAN.match(value)
            if (
                not match
                or int(match.group(1)) > 23
                or int(match.group(3)) > 23
                or int(match.group(2)) > 59
                or int(match.group(4)) > 59
            ):
                raise ValueError(f'expected a span like "22:00-08:00", got {value!r}')
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        wrong = [d for d in value if d.lower() not in _WEEKDAYS]
        if wrong:
            raise ValueError(f"unknown day(s) {', '.join(wrong)}: use {', '.join(_WEEKDAYS)}")
        return [d.lower() for d in value]

    @model_validator(mode="after")
    def _some_time(self) -> QuietHours:
        if self.when is None and not self.days:
            raise ValueError("give `when` (like 22:00-08:00), `days`, or both")
        return self


class MaintenanceWindow(Strict):
    """Alerts of these detectors send nothing for `duration` after each `cron` time."""

    detectors: list[str] = Field(min_length=1)
    cron: Cron
    tz: TimeZone = "UTC"
    duration: Duration


class StatusComponent(Strict):
    """One line of the public status page: `name` as the public sees it, and the detectors its state,
    uptime and incidents are read from (references checked by the loader)."""

    name: str = Field(min_length=1, max_length=80)
    detectors: list[str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _visible(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a component's name must not be blank")
        return value.strip()


class StatusPageConfig(Strict):
    """The public status page (`/status`, `/status.json`): off unless this section is present. Only the
    listed detectors are ever read for it. `components` has a default so that a mistake inside one
    component is reported once (the loader checks that some are listed)."""

    title: str = Field("Status", min_length=1, max_length=120)
    components: list[StatusComponent] = Field(default_factory=list)

    @field_validator("components")
    @classmethod
    def _names_unique(cls, value: list[StatusComponent]) -> list[StatusComponent]:
        names = [c.name for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two components share a name: {', '.join(twice)}")
        return value

    @property
    def detectors(self) -> list[str]:
        """Every listed detector, once, in the order the components name them."""
        return list(dict.fromkeys(d for c in self.components for d in c.detectors))


def _escalation_form(value: object) -> str:
    return "steps" if isinstance(value, list) else "policy"


# A severity's policy: `{after, repeat}` or a list of steps, told apart by shape (a mistake in one form is
# reported in that form's terms, not as "neither form").
AnyEscalation = Annotated[
    Annotated[EscalationPolicy, Tag("policy")] | Annotated[list[EscalationStep], Tag("steps")],
    Discriminator(_escalation_form),
]


class OpsConfig(Strict):
    routes: list[RouteConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    oncall: list[OnCallSchedule] = Field(default_factory=list)  # before `escalation`, which names them
    escalation: dict[Severity, AnyEscalation] = Field(default_factory=dict)
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    targets: dict[str, str] = Field(default_factory=dict)
    detectors: list[AnyDetector] = Field(default_factory=list)
    remediations: list[AnyRemediation] = Field(default_factory=list)
    slos: list[SloConfig] = Field(default_factory=list)
    slo_report: str | None = None  # weekly report, e.g. "mon 09:00"
    slo_report_tz: TimeZone = "UTC"
    status_page: StatusPageConfig | None = None  # the public status page; None: off (404)

    @field_validator("slo_report")
    @classmethod
    def _report_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_report_time(value, "UTC")
        return value

    # Field validators, not a model one: an error located at its section lets `check-config` report it on
    # its own line and still check the rest (a model-level error has no place to point at).
    @field_validator("oncall")
    @classmethod
    def _names_unique(cls, value: list[OnCallSchedule]) -> list[OnCallSchedule]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("two schedules share a name")
        return value

    @field_validator("escalation")
    @classmethod
    def _schedules_exist(
        cls, value: dict[Severity, EscalationPolicy | list[EscalationStep]], info: ValidationInfo
    ) -> dict[Severity, EscalationPolicy | list[EscalationStep]]:
        if "oncall" not in info.data:
            return value  # the schedules are wrong themselves: reported already
        names = [s.name for s in info.data["oncall"]]
        for severity, policy in value.items():
            for number, step in enumerate(policy if isinstance(policy, list) else [], start=1):
                if step.schedule is not None and step.schedule not in names:
                    known = ", ".join(names) or "none defined"
                    where = f"{severity.value} step {number}"
                    raise ValueError(f"{where}: no oncall schedule named {step.schedule!r} (schedules: {known})")
        return value

    def escalation_steps(self, severity: Severity) -> list[EscalationStep]:
        """A severity's policy as steps, whichever form the config used (none: no escalation)."""
        policy = self.escalation.get(severity)
        if policy is None:
            return []
        return list(policy) if isinstance(policy, list) else policy.steps()

    def schedule(self, name: str) -> OnCallSchedule | None:
        return next((s for s in self.oncall if s.name == name), None)

    def slo(self, name: str) -> SloConfig | None:
        return next((s for s in self.slos if s.name == name), None)

    def remediation(self, name: str | None) -> RemediationBase | None:
        return next((r for r in self.remediations if r.name == name), None) if name else None

    def detector(self, name: str) -> DetectorBase | None:
        return next((d for d in self.detectors if d.name == name), None)
