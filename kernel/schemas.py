"""Base for request/response schemas: unknown fields rejected, no silent type coercion."""

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.errors import InvalidInput

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(body)",
            "message": item["msg"],
            "code": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]


def nul_characters(data: Any, path: str = "") -> list[dict[str, Any]]:
    """Fields whose text holds U+0000: valid JSON, but PostgreSQL text cannot store it."""
    if isinstance(data, str):
        return (
            [{"field": path or "(body)", "message": "must not contain NUL", "code": "nul"}]
            if "\x00" in data
            else []
        )
    if isinstance(data, dict):
        return [
            error
            for key, value in data.items()
            for error in nul_characters(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(data, list):
        return [
            error
            for index, value in enumerate(data)
            for error in nul_characters(value, f"{path}.{index}" if path else str(index))
        ]
    return []


def integral_floats(data: Any) -> Any:
    """`data` with every integral float (1354.0) as an int. JSON has one number type and JSON
    Schema's `integer` includes 1354.0, so strict int fields take it too; strict float fields
    take ints, and fractional floats stay floats (an int field refuses them)."""
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {key: integral_floats(value) for key, value in data.items()}
    if isinstance(data, list):
        return [integral_floats(value) for value in data]
    return data


def parse_model(model: type[Model], data: Any) -> Model:
    """Validate plain data into `model` or raise InvalidInput with one entry per bad field."""
    if isinstance(data, model):
        return data
    if errors := nul_characters(data):
        raise InvalidInput("request body failed validation", errors)
    try:
        return model.model_validate(integral_floats(data))
    except ValidationError as exc:
        raise InvalidInput("request body failed validation", field_errors(exc)) from None


def as_response(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Our own data (rows hold UUIDs, datetimes, Decimals) shaped by a response contract, as JSON
    types: what a reply must look like, checked on the way out."""
    return model.model_validate(data, strict=False).model_dump(mode="json")


# Opaque to clients: the next_cursor of the previous page, sent back unchanged. Anything else
# (even in this alphabet) answers 422 "invalid cursor".
Cursor = Annotated[
    str,
    Field(
        max_length=500,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="opaque: the next_cursor of the previous page, unchanged (anything else: 422)",
    ),
]


class QueryModel(BaseModel):
    """Query-string parameters: unknown ones rejected; strings converted to the declared types
    (a query string has no other types)."""

    model_config = ConfigDict(extra="forbid")


class Money(StrictModel):
    amount: int = Field(ge=0, le=10**12, description="integer minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class Principal(StrictModel):
    """The caller as the gateway authenticated it, passed to every service RPC."""

    user_id: str
    role: Literal["brand", "creator", "admin"]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
