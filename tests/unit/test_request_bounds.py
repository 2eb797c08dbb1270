"""Every string and array a client can send has a documented maximum, visible in the OpenAPI
document: request bodies (with every schema they reference) and query parameters. Strings bounded
otherwise (an enum, a const, a pattern, a format such as uuid or date-time) are exempt."""

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from gateway_http.openapi import document
from gateway_http.service import GatewayService

BOUNDED_STRING_KEYS = {"maxLength", "enum", "const", "pattern", "format"}


def walk(schema: Any, path: str, schemas: dict[str, Any], seen: set[str]) -> Iterator[str]:
    """Paths of unbounded strings and arrays under `schema` (following $refs once each)."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from walk(schemas[name], f"{path}({name})", schemas, seen | {name})
        return
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if "string" in types and not BOUNDED_STRING_KEYS & set(schema):
        yield f"{path}: string without maxLength"
    if "array" in types and "maxItems" not in schema:
        yield f"{path}: array without maxItems"
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for index, option in enumerate(schema.get(key, [])):
            yield from walk(option, f"{path}.{key}[{index}]", schemas, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}", schemas, seen)
    for key in ("items", "additionalProperties"):
        yield from walk(schema.get(key), f"{path}.{key}", schemas, seen)


def unbounded() -> list[str]:
    doc = document(GatewayService)
    schemas = doc["components"]["schemas"]
    found: list[str] = []
    for url, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {url}"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                found += walk(body["schema"], f"{where} body", schemas, set())
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    found += walk(
                        parameter["schema"], f"{where} ?{parameter['name']}", schemas, set()
                    )
    return found


def test_every_request_string_and_array_has_a_maximum():
    assert unbounded() == []


def test_the_walk_finds_what_it_should():
    schemas = {
        "M": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
        }
    }
    assert list(walk({"$ref": "#/components/schemas/M"}, "body", schemas, set())) == [
        "body(M).tags: array without maxItems",
        "body(M).tags.items: string without maxLength",
    ]


def test_a_50000_character_objective_is_refused():
    from services.campaigns.schemas import CampaignPatch

    with pytest.raises(ValidationError) as refused:
        CampaignPatch.model_validate({"objectives": ["x" * 50_000]})
    assert refused.value.errors()[0]["type"] == "string_too_long"
    assert CampaignPatch.model_validate({"objectives": ["x" * 500]}).objectives == ["x" * 500]
