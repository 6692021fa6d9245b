"""Each endpoint's parameters as one pydantic model: it validates a request, and its JSON schema
(`model_json_schema()`) is what the OpenAPI document says of them — a bound is stated once.

A field named in the endpoint's path (`{id}`) is a path parameter, every other one a query parameter.
Query strings and path segments are text: before pydantic sees them an integer must be ASCII digits
(`int()` takes "٥" for 5, pydantic takes " 5" and "5_0") and a date `YYYY-MM-DD`; every other check
is the model's. A bad value is a `BadParameter` naming it, with a
message made from the same field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Literal, TypeVar

import annotated_types
from pydantic import BaseModel, Field, ValidationError

from ops.model import Severity

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 31)  # the dates the SLO endpoints take
# The same range as a pattern, so that clients generating dates from the document stay inside it
# (tests/ops/test_api.py holds the two together).
DAY_PATTERN = "^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"
INT4 = 2**31 - 1  # incident ids are int4
_INTEGER = re.compile(r"-?[0-9]{1,4000}")  # ASCII digits; under Python's 4,300-digit int() limit
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

M = TypeVar("M", bound=BaseModel)


def day(description: str) -> Any:
    """An optional date parameter, YYYY-MM-DD from FIRST_DAY to LAST_DAY."""
    return Field(None, ge=FIRST_DAY, le=LAST_DAY, description=description, json_schema_extra={"pattern": DAY_PATTERN})


class NoParams(BaseModel):
    """An endpoint that takes no parameters."""


class AlertsParams(BaseModel):
    limit: int = Field(50, ge=1, le=500, description="page size")
    severity: Severity | None = Field(None, description="only this severity")
    state: Literal["firing", "acknowledged", "resolved"] | None = Field(None, description="only this state")
    cursor: int | None = Field(None, ge=1, le=INT4, description="next_cursor of the previous page")


class RemediateParams(BaseModel):
    alert_source: str = Field(min_length=1, description="the detector whose remediation runs")


class AckParams(BaseModel):
    id: int = Field(ge=0, description="the incident's id")  # beyond int4 it is a 404, not a bad parameter


class IncidentsParams(BaseModel):
    status: Literal["open", "resolved", "all"] = Field(
        "open", description="open (firing or acknowledged), resolved, or all"
    )
    limit: int = Field(50, ge=1, le=500, description="page size")
    before: int | None = Field(
        None, ge=1, le=INT4, description="only incidents older than this id (next_before of the previous page)"
    )


class IncidentParams(BaseModel):
    id: int = Field(ge=0, description="the incident's id")  # beyond int4 it is a 404, not a bad parameter


class SloParams(BaseModel):
    date_from: date | None = day("first day (default: 6 days before date_to)")
    date_to: date | None = day("last day (default: today)")


class SloSummaryParams(BaseModel):
    days: int = Field(7, ge=1, le=90, description="the last N days, today included")


class BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Parameter:
    """One field of a parameters model, as the document states it and as a refusal names it."""

    name: str
    required: bool
    description: str
    schema: dict[str, Any]  # the JSON schema of one value: no null branch, no $ref, no title
    low: Any  # the field's `ge`, if any
    high: Any  # the field's `le`, if any

    @property
    def problem(self) -> str:
        if "enum" in self.schema:
            return f"{self.name} must be one of {', '.join(str(v) for v in self.schema['enum'])}"
        if self.schema.get("type") == "integer":
            if self.high is not None:
                return f"{self.name} must be an integer from {self.low} to {self.high}"
            return f"{self.name} must be an integer of at least {self.low}"
        if self.schema.get("format") == "date":
            return f"{self.name} must be a date like 2026-11-23, from {self.low} to {self.high}"
        return f"{self.name} ({self.description}) is required"


@cache
def parameters(model: type[BaseModel]) -> dict[str, Parameter]:
    schema = model.model_json_schema()
    defs, required = schema.get("$defs", {}), set(schema.get("required", ()))
    out = {}
    for name, field in model.model_fields.items():
        value = _one_value(schema["properties"][name], defs)
        low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
        description = value.pop("description", "")
        out[name] = Parameter(name, name in required, description, value, low, high)
    return out


def _one_value(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`X | None` is `X` for a parameter (absent is its null), and a `$ref` is spelt out."""
    prop = dict(prop)
    branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        prop = {**branches[0], **prop}
    if "$ref" in prop:
        prop = {**defs[prop.pop("$ref").rsplit("/", 1)[-1]], **prop}
    prop.pop("title", None)
    if prop.get("default", 0) is None:
        del prop["default"]
    return prop


def parse(model: type[M], given: Mapping[str, str]) -> M:
    """The parameters of one request (query and path values by name), or a BadParameter for the first
    bad one."""
    values: dict[str, Any] = {}
    for name, p in parameters(model).items():
        if name not in given:
            continue
        text = given[name]
        if p.schema.get("type") == "integer":
            if not _INTEGER.fullmatch(text):
                raise BadParameter(name, p.problem)
            values[name] = int(text)
        elif p.schema.get("format") == "date" and not _DATE.fullmatch(text):
            raise BadParameter(name, p.problem)
        else:
            values[name] = text
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        raise BadParameter(name, parameters(model)[name].problem) from None
