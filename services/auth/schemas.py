"""Auth request and response shapes: the gateway validates HTTP bodies with them, the service
validates RPC input with them, and the OpenAPI document is generated from them."""

import datetime as dt
import uuid
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from kernel.schemas import StrictModel

MAX_PASSWORD_LENGTH = 128  # bounds the argon2 work an anonymous caller can request


def normalise_email(value: str) -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.normalized.lower()


Email = Annotated[str, Field(max_length=254), AfterValidator(normalise_email)]


class RegisterRequest(StrictModel):
    email: Email
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    role: Literal["brand", "creator"]
    display_name: str | None = Field(default=None, min_length=1, max_length=100)


class LoginRequest(StrictModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(StrictModel):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class TokenPair(StrictModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class Account(StrictModel):
    id: uuid.UUID
    email: str
    role: Literal["brand", "creator", "admin"]
    display_name: str | None
    created_at: dt.datetime
