"""The OpenAPI 3.1 document of the API, built from the endpoint table: its parameters from each
endpoint's parameters model, its answers from the answer models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from ops.api.answers import Error
from ops.api.endpoints import ENDPOINTS, JSON, Endpoint
from ops.api.params import parameters

REF = "#/components/schemas/{model}"
SECURITY = {"open": [], "read": [{"bearer": []}, {}], "write": [{"bearer": []}]}


class _Schemas:
    """Component schemas, gathered as the operations refer to them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, answer: Any) -> dict[str, Any]:
        schema = TypeAdapter(answer).json_schema(ref_template=REF, mode="serialization")
        self.components.update(schema.pop("$defs", {}))
        if isinstance(answer, type) and issubclass(answer, BaseModel):
            self.components[answer.__name__] = schema
            return {"$ref": REF.format(model=answer.__name__)}
        return schema


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    def answer(description: str, of: Any, media: str = JSON) -> dict[str, Any]:
        return {"description": description, "content": {media: {"schema": schemas.of(of)}}}

    params = [
        {
            "name": p.name,
            "in": "path" if f"{{{p.name}}}" in endpoint.path else "query",
            "required": p.required or f"{{{p.name}}}" in endpoint.path,
            "description": p.description,
            "schema": p.schema,
        }
        for p in parameters(endpoint.params).values()
    ]
    responses = {
        "200": answer("OK", endpoint.answer, endpoint.media),
        "401": answer("missing or wrong bearer token" if endpoint.access != "open" else "wrong bearer token", Error),
        "404": answer("the API is off", Error),
    }
    if params:
        responses["422"] = answer("bad parameter", Error)
    for status, (description, of) in endpoint.other.items():
        responses[str(status)] = answer(description, of)
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "security": SECURITY[endpoint.access],
    }
    if params:
        operation["parameters"] = params
    operation["responses"] = responses
    return operation


@cache
def openapi_document() -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "opsbot ops API", "version": "1"},
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
