"""The value types config fields share, as people write them: durations, conditions, names, URLs, time zones,
cron lines and `package.module:callable` references. Every kind's model builds on these."""

from __future__ import annotations

import importlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from ops.config.schedules import parse_cron
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
_NAME = re.compile(r"^[a-z0-9_]{1,48}$")


class Strict(BaseModel):
    """A section of the config: unknown fields are errors, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
            example = 'a size, e.g. "> 5GB"' if sizes else 'a number, e.g. "< -10000"'
            raise ValueError(f"expected an operator and {example}")
        op, number = match.groups()
        try:
            threshold = parse_size(number) if sizes else float(number)
        except ValueError:
            what = "a size like 5GB" if sizes else "a number"
            raise ValueError(f"expected an operator and {what}, got {raw!r}") from None
        return cls(op, threshold, f"{op} {number}")


def _condition(raw: object) -> object:
    return raw if raw is None or isinstance(raw, Condition) else Condition.parse(raw)


def _size_condition(raw: object) -> object:
    return raw if isinstance(raw, Condition) else Condition.parse(raw, sizes=True)


def _trend_condition(raw: object) -> object:
    """`> 50GB` or `< 100`: a number or a size, compared one way (a trend crosses a bound, never `==`)."""
    if isinstance(raw, Condition):
        return raw
    match = _CONDITION.match(raw) if isinstance(raw, str) else None
    if not match:
        raise ValueError('expected an operator and a number or size, e.g. "> 50GB" or "< 100"')
    op, number = match.groups()
    if op in ("==", "!="):
        raise ValueError(f"a trend crosses a bound: use <, <=, > or >=, not {op}")
    try:
        threshold = parse_size(number)
    except ValueError:
        raise ValueError(f"expected an operator and a number or size like 50GB, got {raw!r}") from None
    return Condition(op, threshold, f"{op} {number}")


def resolve_function(spec: str) -> Callable[..., Any]:
    """The callable `package.module:callable` names (imported now); ValueError says what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("expected package.module:callable")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error in user code is a config error, said plainly
        raise ValueError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"{module_name} has no {attr}")
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


def _importable(value: str) -> str:
    resolve_function(value)
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {value!r} (e.g. UTC, Europe/Berlin)") from None
    return value


def _cron(value: str) -> str:
    parse_cron(value, "UTC")  # the syntax; the timezone is its own field, checked on its own
    return value


def _check_name(value: object) -> object:
    if isinstance(value, str) and not _NAME.match(value):
        raise ValueError("use 1-48 lowercase letters, digits and _ (it appears in commands and metrics)")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]  # seconds, from `90s`, `5m`, `1h`, `30d`
AlertIf = Annotated[Condition, BeforeValidator(_condition)]  # `alert_if: "< -10000"`
OptionalAlertIf = Annotated[Condition | None, BeforeValidator(_condition)]
SizeAlertIf = Annotated[Condition, BeforeValidator(_size_condition)]  # `alert_if: "> 5GB"`
TrendAlertIf = Annotated[Condition, BeforeValidator(_trend_condition)]  # `alert_if: "> 50GB"` or `"< 100"`
HttpUrl = Annotated[str, AfterValidator(_http_url)]
TimeZone = Annotated[str, AfterValidator(_timezone)]  # an IANA name, e.g. Europe/Berlin
Cron = Annotated[str, AfterValidator(_cron)]  # 5 fields, e.g. "0 3 * * *"
FunctionRef = Annotated[str, AfterValidator(_importable)]  # package.module:callable, imported at load
Name = Annotated[str, BeforeValidator(_check_name)]  # it appears in commands and metrics
