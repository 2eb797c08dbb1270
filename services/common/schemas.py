"""Base for request/response schemas: unknown fields rejected, no silent type coercion."""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.errors import InvalidInput

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


def parse_model(model: type[Model], data: Any) -> Model:
    """Validate plain data into `model` or raise InvalidInput with one entry per bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("request body failed validation", field_errors(exc)) from None
