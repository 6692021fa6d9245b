"""Pydantic models of the config file. One model per detector kind, sharing `DetectorBase`."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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
_NAME = re.compile(r"^[a-z0-9_]{1,48}$")


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
    alert_if: Condition

    @field_validator("alert_if", mode="before")
    @classmethod
    def _condition(cls, raw: object) -> Condition:
        return raw if isinstance(raw, Condition) else Condition.parse(raw)


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
    alert_if: Condition

    @field_validator("alert_if", mode="before")
    @classmethod
    def _condition(cls, raw: object) -> Condition:
        return raw if isinstance(raw, Condition) else Condition.parse(raw, sizes=True)


DetectorConfig = SqlDetector | FreshnessDetector | DbSizeDetector
DETECTOR_KINDS: dict[str, type[DetectorBase]] = {
    "sql": SqlDetector,
    "freshness": FreshnessDetector,
    "db_size": DbSizeDetector,
}


class OpsConfig(_Strict):
    targets: dict[str, str] = {}
    detectors: list[Any] = []  # DetectorConfig, validated one by one by the loader

    @property
    def detector_configs(self) -> list[DetectorConfig]:
        return list(self.detectors)

    def detector(self, name: str) -> DetectorConfig | None:
        return next((d for d in self.detectors if d.name == name), None)
