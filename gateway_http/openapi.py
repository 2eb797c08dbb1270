"""OpenAPI 3.1 document generated from the routes' RouteSpec and their pydantic schemas."""

import functools
import inspect
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway_http.edge import REQUEST_ID_PATTERN, Route
from gateway_http.specs import RouteSpec

PATH_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "request_id", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
STANDARD_ERRORS = {
    400: "Malformed JSON",
    401: "Missing, invalid, expired or revoked access token",
    403: "Signed in, but not allowed to do this",
    413: "Request body too large",
    415: "Content-Type is not application/json",
    422: "Request failed validation (unknown or missing fields, wrong types)",
    429: "Rate limited; see Retry-After",
    503: "A backing service did not answer in time",
}


# Every request may carry a correlation id; every answer carries one (the caller's when it fits
# the pattern, else a new one), so a caller's id is never refused, only replaced.
REQUEST_ID_PARAMETER = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "correlation id, echoed when it matches "
    f"{REQUEST_ID_PATTERN.pattern} (anything else is replaced by a new one)",
}
REQUEST_ID_HEADER = {
    "description": "the request's correlation id (the caller's X-Request-ID, or a new one)",
    "required": True,
    "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN.pattern},
}


def collect_routes(service: type) -> list[tuple[str, Route]]:
    """The @route entrypoints of a Nameko service class (the gateway passes its own class, so
    this module needs no import of the service that serves the document)."""
    routes = []
    for name, member in inspect.getmembers(service, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                routes.append((name, entrypoint))
    return routes


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _query_model_parameters(model: type | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        field_schema.pop("title", None)
        # Optional fields are `anyOf [X, null]`; a query parameter is either present or absent.
        options = [o for o in field_schema.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            field_schema = {**options[0], **field_schema}
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": field_schema}
        )
    return parameters


CURSOR_RULE = "cursor: only a next_cursor this list answered, unchanged"
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold U+0000: every body string refuses it


def rules_beyond_schema(spec: RouteSpec) -> tuple[str, ...]:
    fields = getattr(spec.query_model, "model_fields", {})
    return (CURSOR_RULE,) * ("cursor" in fields or "cursor" in spec.query) + spec.rules


def _refuse_nul(schema: Any) -> None:
    """Adds NO_NUL to every free-text string of a body schema (one without a pattern, enum,
    const or format, which exclude U+0000 already), as kernel.schemas.parse_model
    refuses it in any body."""
    if isinstance(schema, list):
        for item in schema:
            _refuse_nul(item)
        return
    if not isinstance(schema, dict):
        return
    types = schema.get("type")
    if (types == "string" or (isinstance(types, list) and "string" in types)) and not {
        "pattern",
        "enum",
        "const",
        "format",
    } & set(schema):
        schema["pattern"] = NO_NUL
    for key in ("properties", "patternProperties", "$defs"):
        for value in schema.get(key, {}).values():
            _refuse_nul(value)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in schema:
            _refuse_nul(schema[key])


def _optional_strings(location: str, described: dict[str, str]) -> list[dict[str, Any]]:
    """Optional string parameters in `location` (query, header), each with its description."""
    return [
        {
            "name": name,
            "in": location,
            "required": False,
            "schema": {"type": "string"},
            "description": description,
        }
        for name, description in described.items()
    ]


def _operation(name: str, method: str, url: str, spec: RouteSpec) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": name, "summary": spec.summary, "tags": [spec.tag]}
    if spec.roles:
        operation["description"] = f"Roles: {', '.join(spec.roles)} (others: 403)."
        operation["x-roles"] = list(spec.roles)
    parameters = [
        {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
        for param in PATH_PARAMETER.findall(url)
    ]
    parameters += _optional_strings("query", spec.query)
    parameters += _query_model_parameters(spec.query_model)
    parameters += _optional_strings("header", spec.headers)
    operation["parameters"] = [*parameters, REQUEST_ID_PARAMETER]
    if spec.body is not None:
        operation["requestBody"] = {
            "required": spec.body_required,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}
                }
            },
        }
    responses: dict[str, Any] = {}
    for status, answer in spec.responses.items():
        if isinstance(answer, type) and issubclass(answer, BaseModel):
            responses[str(status)] = {
                "description": answer.__doc__.strip() if answer.__doc__ else answer.__name__,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{answer.__name__}"}
                    }
                },
            }
        elif answer is None:
            responses[str(status)] = {"description": "No content"}
        elif 200 <= status < 300:  # a body that is not JSON (the docs page and its assets)
            responses[str(status)] = {"description": str(answer), "content": {spec.media_type: {}}}
        elif 300 <= status < 400:
            responses[str(status)] = {"description": str(answer)}
        else:
            responses[str(status)] = _problem(str(answer))
    for status, response in responses.items():
        if spec.response_headers and status.startswith(("2", "3")):
            response["headers"] = {
                name: {"description": description, "schema": {"type": "string"}}
                for name, description in spec.response_headers.items()
            }
    if not responses:
        responses["200"] = {"description": "OK", "content": {spec.media_type: {}}}
    relevant = {429, 503}
    if spec.body is not None:
        relevant |= {400, 413, 415, 422}
    if spec.query or spec.query_model is not None:
        relevant.add(422)
    rules = rules_beyond_schema(spec)
    if rules:
        first = responses["422"]["description"] if "422" in responses else STANDARD_ERRORS[422]
        responses["422"] = _problem(f"{first}; also when: {'; '.join(rules)}")
        operation["x-rules-beyond-schema"] = list(rules)
    if spec.authenticated:
        relevant |= {401, 403}
    for status in sorted(relevant):
        responses.setdefault(str(status), _problem(STANDARD_ERRORS[status]))
    responses["default"] = _problem("Unexpected error (problem+json, never a stack trace)")
    for response in responses.values():
        response["headers"] = {**response.get("headers", {}), "X-Request-ID": REQUEST_ID_HEADER}
    operation["responses"] = responses
    if spec.authenticated:
        operation["security"] = [{"bearerAuth": []}]
    return operation


# What a response object names, by its schema: parameter -> the (required) property holding it.
RESOURCES: dict[str, dict[str, str]] = {
    "Campaign": {"campaign_id": "id", "brand_id": "brand_id"},
    "CampaignView": {"campaign_id": "id", "brand_id": "brand_id"},
    "Application": {"application_id": "id", "creator_id": "creator_id"},
    "ContentDeliverable": {"deliverable_id": "id"},
    "ContentDeliverableDetail": {"deliverable_id": "id"},
    "TrackingLink": {"link_id": "id", "code": "code"},
    "IngestionKeyCreated": {"key_id": "id", "X-Ingestion-Key": "key"},
    "IngestionKeyView": {"key_id": "id"},
    "Conversation": {"conversation_id": "id"},
    "CreatorProfile": {"creator_id": "id"},
}


def _schema_name(response: dict[str, Any]) -> str | None:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from every success response that is an object to the operations on it:
    POST /campaigns -> publish, PATCH (If-Match: the ETag it answered), ...; POST
    .../applications -> withdraw, accept, ...; a tracking link -> GET /t/{code}; a new ingestion
    key -> the ingestion endpoints (X-Ingestion-Key). Stateful testing (and clients) follow them
    to use real ids. Pages link nowhere: `#/items/0/id` names nothing in an empty page (the fuzz
    run's own inference reaches listed objects)."""
    takes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "header"):
                    takes.setdefault(parameter["name"], []).append((parameter["in"], operation))
    for operations in paths.values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                fields = RESOURCES.get(_schema_name(response) or "", {})
                if status[0] != "2" or not fields:
                    continue
                links = {}
                for parameter, field in fields.items():
                    for location, target in takes.get(parameter, []):
                        name = parameter if location == "path" else f"{location}.{parameter}"
                        values = {name: f"$response.body#/{field}"}
                        headers = {p["name"] for p in target.get("parameters", [])}
                        if "If-Match" in headers and "ETag" in response.get("headers", {}):
                            values["header.If-Match"] = "$response.header.ETag"
                        links[target["operationId"]] = {
                            "operationId": target["operationId"],
                            "parameters": values,
                        }
                if links:
                    response["links"] = dict(sorted(links.items()))


def _referenced(names: set[str], schemas: dict[str, Any]) -> set[str]:
    """`names` and every component schema they reference, transitively."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found or name not in schemas:
            continue
        found.add(name)
        todo += [
            ref.rsplit("/", 1)[-1] for ref in re.findall(r"'\$ref': '([^']+)'", str(schemas[name]))
        ]
    return found


@functools.cache
def document(service: type) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = set()
    bodies: set[str] = set()
    for name, entrypoint in collect_routes(service):
        spec = entrypoint.spec
        path = PATH_PARAMETER.sub(r"{\1}", entrypoint.url)
        for method in entrypoint.method.split(","):
            paths.setdefault(path, {})[method.lower()] = _operation(
                name, method, entrypoint.url, spec
            )
        for model in [spec.body, *spec.responses.values()]:
            if isinstance(model, type) and issubclass(model, BaseModel):
                models.add(model)
        if isinstance(spec.body, type):
            bodies.add(spec.body.__name__)
    _, definitions = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = {**definitions.get("$defs", {}), "Problem": PROBLEM_SCHEMA}
    for body in sorted(_referenced(bodies, schemas)):
        _refuse_nul(schemas[body])
    _add_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Influencer marketing platform API", "version": "1.0.0"},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
