"""The OpenAPI 3.1 document of /api/v1/ops, built from the pydantic models the answers are made of."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from ops import api

_MODELS = [
    api.Error,
    api.Health,
    api.Alerts,
    api.Detector,
    api.RunDetectors,
    api.Remediation,
    api.Ack,
    api.Slo,
]


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _responses(ok: Any, *extra: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
        "401": {
            "description": "missing or wrong bearer token",
            "content": {"application/json": {"schema": _ref(api.Error)}},
        },
        "404": {"description": "the API is off", "content": {"application/json": {"schema": _ref(api.Error)}}},
    }
    for code in extra:
        out[str(code)] = {"description": "bad parameter", "content": {"application/json": {"schema": _ref(api.Error)}}}
    return out


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    severity = {"type": "string", "enum": ["info", "warning", "error", "critical"]}
    read = [{"bearer": []}, {}]
    write = [{"bearer": []}]
    # YYYY-MM-DD in ASCII digits, 1970-01-01 to 9999-12-31 (api.FIRST_DAY, api.LAST_DAY).
    date = {"type": "string", "format": "date", "pattern": "^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "opsbot ops API", "version": "1"},
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/v1/ops/health": {
                "get": {
                    "summary": "vw_ops_health counts and each detector's last result",
                    "security": read,
                    "responses": _responses(_ref(api.Health)),
                }
            },
            "/api/v1/ops/alerts": {
                "get": {
                    "summary": "Incidents, newest first",
                    "security": read,
                    "parameters": [
                        _q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size"),
                        _q("severity", severity, "only this severity"),
                        _q(
                            "state",
                            {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
                            "only this state",
                        ),
                        _q(
                            "cursor",
                            {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                            "next_cursor of the previous page",
                        ),
                    ],
                    "responses": _responses(_ref(api.Alerts), 422),
                }
            },
            "/api/v1/ops/detectors": {
                "get": {
                    "summary": "Configured detectors",
                    "security": read,
                    "responses": _responses({"type": "array", "items": _ref(api.Detector)}),
                }
            },
            "/api/v1/ops/run-detectors": {
                "post": {
                    "summary": "Run every detector now",
                    "security": write,
                    "responses": _responses(_ref(api.RunDetectors)),
                }
            },
            "/api/v1/ops/remediate": {
                "post": {
                    "summary": "Run a detector's remediation (trigger `api`)",
                    "security": write,
                    "parameters": [
                        _q("alert_source", {"type": "string", "minLength": 1}, "the detector", required=True)
                    ],
                    "responses": {
                        **_responses(_ref(api.Remediation), 422),
                        "404": {
                            "description": "no such detector, or the API is off",
                            "content": {"application/json": {"schema": _ref(api.Error)}},
                        },
                        "409": {
                            "description": "the detector has no remediation",
                            "content": {"application/json": {"schema": _ref(api.Error)}},
                        },
                    },
                }
            },
            "/api/v1/ops/alerts/{id}/ack": {
                "post": {
                    "summary": "Acknowledge an incident",
                    "security": write,
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                    ],
                    "responses": {
                        **_responses(_ref(api.Ack), 422),
                        "404": {
                            "description": "no such incident, or the API is off",
                            "content": {"application/json": {"schema": {"anyOf": [_ref(api.Ack), _ref(api.Error)]}}},
                        },
                    },
                }
            },
            "/api/v1/ops/slo": {
                "get": {
                    "summary": "Compliance per day and per detector",
                    "security": read,
                    "parameters": [
                        _q("date_from", date, "first day (default: 6 days before date_to)"),
                        _q("date_to", date, "last day (default: today)"),
                    ],
                    "responses": _responses(_ref(api.Slo), 422),
                }
            },
            "/api/v1/ops/slo/summary": {
                "get": {
                    "summary": "The last N days",
                    "security": read,
                    "parameters": [_q("days", {"type": "integer", "minimum": 1, "maximum": 90, "default": 7}, "days")],
                    "responses": _responses(_ref(api.Slo), 422),
                }
            },
        },
    }
