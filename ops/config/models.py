"""Pydantic models of the config file. One model per detector kind, sharing `DetectorBase`."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ops.model import Severity
from ops.timeutil import parse_duration, parse_size

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    """`alert_if: "< -10000"`: the check fails when `value <op> threshold` holds."""

    op: str
    threshold: float
    text: str

    def fails(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    @classmethod
    def parse(cls, raw: object, *, sizes: bool = False) -> Condition:
        match = _CONDITION.match(str(raw)) if isinstance(raw, str) else None
        if not match:
            raise ValueError('expected an operator and a number, e.g. "< -10000"')
        op, number = match.groups()
        try:
            threshold = parse_size(number) if sizes else float(number)
        except ValueError:
            what = "a size like 5GB" if sizes else "a number"
            raise ValueError(f"expected an operator and {what}, got {raw!r}") from None
        return cls(op, threshold, f"{op} {number}")


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _condition(raw: object) -> object:
    return raw if raw is None or isinstance(raw, Condition) else Condition.parse(raw)


AlertIf = Annotated[Condition, BeforeValidator(_condition)]  # `alert_if: "< -10000"`
OptionalAlertIf = Annotated[Condition | None, BeforeValidator(_condition)]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _importable(value: str) -> str:
    from ops.detectors.python_fn import resolve_function

    resolve_function(value)
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {value!r} (e.g. UTC, Europe/Berlin)") from None
    return value


def _cron(value: str) -> str:
    from ops.detectors.cron import parse_cron

    parse_cron(value, "UTC")  # the syntax; the timezone is its own field, checked on its own
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
TimeZone = Annotated[str, AfterValidator(_timezone)]  # an IANA name, e.g. Europe/Berlin
Cron = Annotated[str, AfterValidator(_cron)]  # 5 fields, e.g. "0 3 * * *"
FunctionRef = Annotated[str, AfterValidator(_importable)]  # package.module:callable, imported at load
_NAME = re.compile(r"^[a-z0-9_]{1,48}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _check_name(value: object) -> object:
    if isinstance(value, str) and not _NAME.match(value):
        raise ValueError("use 1-48 lowercase letters, digits and _ (it appears in commands and metrics)")
    return value


Name = Annotated[str, BeforeValidator(_check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DetectorBase(_Strict):
    name: Name
    severity: Severity = Severity.warning
    every: Duration | None = None  # None: SWEEP_INTERVAL_SEC
    timeout: Duration = 30.0
    for_: int = Field(1, alias="for", ge=1)
    runbook: str | None = None
    labels: dict[str, str] = {}
    description: str = ""
    no_data: Literal["ok", "alert"] = "ok"
    remediation: str | None = None  # the name of an action under `remediations`
    depends_on: list[str] = []  # while one of these detectors fires, this one's alerts are inhibited

    @field_validator("every")
    @classmethod
    def _at_least_a_second(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value

    def interval(self, default_seconds: float) -> float:
        return self.every if self.every is not None else default_seconds


class SqlDetector(DetectorBase):
    """`query` returns one value, or rows of (key, value): each key is checked on its own."""

    kind: Literal["sql"] = "sql"
    target: str
    query: str
    alert_if: AlertIf


class FreshnessDetector(DetectorBase):
    """`query` returns a timestamp (or rows of key, timestamp); fails when older than `max_age`."""

    kind: Literal["freshness"] = "freshness"
    target: str
    query: str
    max_age: Duration


class DbSizeDetector(DetectorBase):
    """Size of a target database in bytes; `alert_if` takes sizes like `5GB`."""

    kind: Literal["db_size"] = "db_size"
    target: str
    alert_if: Condition  # parsed with sizes below

    @field_validator("alert_if", mode="before")
    @classmethod
    def _condition(cls, raw: object) -> Condition:
        return raw if isinstance(raw, Condition) else Condition.parse(raw, sizes=True)


class HttpDetector(DetectorBase):
    """`http`: one request; value = latency in ms. Fails on status, body, latency or transport errors."""

    kind: Literal["http"] = "http"
    url: HttpUrl
    method: Literal["GET", "POST", "HEAD", "PUT"] = "GET"
    headers: dict[str, str] = {}
    expect_status: list[int] = [200]
    contains: str | None = None
    max_latency: Duration | None = None
    alert_if: OptionalAlertIf = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _statuses(cls, raw: object) -> object:
        return [raw] if isinstance(raw, int) else raw


class HeartbeatDetector(DetectorBase):
    """`heartbeat`: a dead man's switch. The job pings /ping/<name>; silence past the grace fails."""

    kind: Literal["heartbeat"] = "heartbeat"
    period: Duration | None = None
    schedule: Cron | None = None
    tz: TimeZone = "UTC"
    grace: Duration = 300.0
    max_runtime: Duration | None = None

    @model_validator(mode="after")
    def _period_or_schedule(self) -> HeartbeatDetector:
        if (self.period is None) == (self.schedule is None):
            raise ValueError('give exactly one of period (e.g. 1h) or schedule (cron, e.g. "0 3 * * *")')
        return self


class MetricsDetector(DetectorBase):
    """`metrics`: scrape a Prometheus text endpoint; a gauge's value, a counter's rate, a histogram's quantile."""

    kind: Literal["metrics"] = "metrics"
    url: str
    metric: str
    # `labels` (from DetectorBase) filters the scraped series, and is shown on the alert as usual.
    quantile: float | None = Field(None, gt=0, lt=1)
    rate: bool = False
    scale: float = 1.0  # multiplies the value: 1000 turns a histogram in seconds into milliseconds
    alert_if: AlertIf

    @model_validator(mode="after")
    def _one_mode(self) -> MetricsDetector:
        if self.quantile is not None and self.rate:
            raise ValueError("quantile (a histogram) and rate (a counter) exclude each other")
        return self


class PrometheusDetector(DetectorBase):
    """`prometheus`: an instant PromQL query; each series of a vector is its own key."""

    kind: Literal["prometheus"] = "prometheus"
    url: str
    query: str
    alert_if: AlertIf


class PythonDetector(DetectorBase):
    """`python`: `function: package.module:callable` returning a number, a bool or {ok, value, message}."""

    kind: Literal["python"] = "python"
    function: FunctionRef
    alert_if: OptionalAlertIf = None


DetectorConfig = (
    SqlDetector
    | FreshnessDetector
    | DbSizeDetector
    | HttpDetector
    | HeartbeatDetector
    | MetricsDetector
    | PrometheusDetector
    | PythonDetector
)
DETECTOR_KINDS: dict[str, type[DetectorBase]] = {
    "sql": SqlDetector,
    "freshness": FreshnessDetector,
    "db_size": DbSizeDetector,
    "http": HttpDetector,
    "heartbeat": HeartbeatDetector,
    "metrics": MetricsDetector,
    "prometheus": PrometheusDetector,
    "python": PythonDetector,
}


class RemediationBase(_Strict):
    name: Name
    description: str = ""
    confirm: bool = False  # the button first asks "Run <name>?" with Yes / Cancel
    auto: bool = False  # may run by itself when the alert fires (if AUTO_REMEDIATION_ENABLED)
    retries: int | None = Field(None, ge=1, le=10)  # attempts; default AUTO_REMEDIATION_MAX_RETRIES
    timeout: Duration = 60.0
    max_auto_per_hour: int = Field(3, ge=1)

    def attempts(self, default: int) -> int:
        return self.retries if self.retries is not None else max(1, default)


class SqlRemediation(RemediationBase):
    kind: Literal["sql"] = "sql"
    target: str
    statement: str


class ShellRemediation(RemediationBase):
    """An argv list, run without a shell: nothing is ever interpolated into it. It runs with PATH, HOME
    and LANG only, plus `env:` — `{NAME: value}`, or a name alone (a list, or no value) to pass opsbot's own."""

    kind: Literal["shell"] = "shell"
    command: list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str | None] = {}

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, raw: object) -> object:
        if isinstance(raw, list):
            raw = {name if isinstance(name, str) else repr(name): None for name in raw}
        if not isinstance(raw, dict):
            return raw
        out: dict[str, str | None] = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            out[name] = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return out

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, raw: object) -> object:
        if isinstance(raw, str):
            raise ValueError(
                "expected an argv list, e.g. [systemctl, restart, ingest.service]; it never runs in a shell"
            )
        return raw


class HttpRemediation(RemediationBase):
    kind: Literal["http"] = "http"
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"] = "POST"
    headers: dict[str, str] = {}
    json_body: Any = Field(None, alias="json")


class NotifyAdminRemediation(RemediationBase):
    """Posts the alert with its whole context to ADMIN_CHAT_IDS."""

    kind: Literal["notify_admin"] = "notify_admin"


class PythonRemediation(RemediationBase):
    """`function: package.module:callable`, called with the alert as a dict; returns its output."""

    kind: Literal["python"] = "python"
    function: FunctionRef


RemediationConfig = SqlRemediation | ShellRemediation | HttpRemediation | NotifyAdminRemediation | PythonRemediation
REMEDIATION_KINDS: dict[str, type[RemediationBase]] = {
    "sql": SqlRemediation,
    "shell": ShellRemediation,
    "http": HttpRemediation,
    "notify_admin": NotifyAdminRemediation,
    "python": PythonRemediation,
}


class SliConfig(_Strict):
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


class SloConfig(_Strict):
    name: Name
    objective: float = Field(gt=0, lt=100)  # percent
    window: Duration = 30 * 86400.0
    sli: SliConfig
    description: str = ""
    labels: dict[str, str] = {}
    runbook: str | None = None

    @property
    def budget(self) -> float:
        """The error budget as a fraction: 1 − objective."""
        return 1 - self.objective / 100


class RouteConfig(_Strict):
    """`match` keys: severity, detector, key (the alert's key), or a label; `=~…` is a regex."""

    match: dict[str, str] = {}
    chats: list[int] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")

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


class EscalationPolicy(_Strict):
    after: Duration
    repeat: Duration | None = None


class MaintenanceWindow(_Strict):
    """Alerts of these detectors send nothing for `duration` after each `cron` time."""

    detectors: list[str] = Field(min_length=1)
    cron: Cron
    tz: TimeZone = "UTC"
    duration: Duration


class OpsConfig(_Strict):
    routes: list[RouteConfig] = []
    maintenance: list[MaintenanceWindow] = []
    escalation: dict[Severity, EscalationPolicy] = {}
    targets: dict[str, str] = {}
    detectors: list[Any] = []  # DetectorConfig, validated one by one by the loader
    remediations: list[Any] = []  # RemediationConfig, likewise
    slos: list[SloConfig] = []
    slo_report: str | None = None  # weekly report, e.g. "mon 09:00"
    slo_report_tz: TimeZone = "UTC"

    @field_validator("slo_report")
    @classmethod
    def _report_time(cls, value: str | None) -> str | None:
        if value is not None:
            from ops.slo.report import parse_report_time

            parse_report_time(value, "UTC")
        return value

    def slo(self, name: str) -> SloConfig | None:
        return next((s for s in self.slos if s.name == name), None)

    def remediation(self, name: str | None) -> Any:
        return next((r for r in self.remediations if r.name == name), None) if name else None

    @property
    def detector_configs(self) -> list[DetectorConfig]:
        return list(self.detectors)

    def detector(self, name: str) -> DetectorConfig | None:
        return next((d for d in self.detectors if d.name == name), None)
