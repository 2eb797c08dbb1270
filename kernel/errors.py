"""Domain errors shared by services, gateway and ws.

Each error is registered with Nameko so it crosses RPC as the same class (not a RemoteError), and
carries the HTTP status the gateway answers with. Args stay JSON-serialisable: (detail, errors).
"""

from typing import Any, ClassVar

from nameko.exceptions import deserialize_to_instance


class DomainError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors or [])
        self.detail = detail
        self.errors = errors or []

    def __str__(self) -> str:
        return self.detail


@deserialize_to_instance
class InvalidInput(DomainError):
    status = 422
    title = "Validation failed"
    slug = "validation-failed"


@deserialize_to_instance
class Unauthenticated(DomainError):
    status = 401
    title = "Unauthenticated"
    slug = "unauthenticated"


@deserialize_to_instance
class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


@deserialize_to_instance
class NotFound(DomainError):
    status = 404
    title = "Not found"
    slug = "not-found"


@deserialize_to_instance
class Conflict(DomainError):
    status = 409
    title = "Conflict"
    slug = "conflict"


@deserialize_to_instance
class TooManyRequests(DomainError):
    """errors carries one item {"retry_after": seconds} so the value survives RPC."""

    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    @classmethod
    def retry_in(cls, detail: str, seconds: int) -> "TooManyRequests":
        return cls(detail, [{"retry_after": max(1, int(seconds))}])

    @property
    def retry_after(self) -> int:
        return int(self.errors[0]["retry_after"]) if self.errors else 1


@deserialize_to_instance
class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"
    slug = "precondition-failed"


@deserialize_to_instance
class ServiceUnavailable(DomainError):
    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"


@deserialize_to_instance
class MalformedJson(DomainError):
    status = 400
    title = "Malformed JSON"
    slug = "malformed-json"
