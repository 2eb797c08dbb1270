"""Brand and creator profiles: request bodies, public and owner views, discovery query."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    RootModel,
    create_model,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from kernel.schemas import Cursor, Money, QueryModel, StrictModel
from kernel.vocabulary import Country, Language, Niche, Platform, WebUrl


class PlatformPresence(StrictModel):
    platform: Platform
    handle: str = Field(min_length=1, max_length=100)
    followers: int = Field(ge=0, le=10**10)
    engagement_rate: float = Field(ge=0, le=1, description="fraction, not percent")


class RateCardItem(StrictModel):
    deliverable: Literal["post", "story", "reel", "video", "stream"]
    platform: Platform
    rate: Money


class BrandProfileBody(StrictModel):
    company_name: str = Field(min_length=1, max_length=200)
    website: WebUrl | None = None
    industry: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=5000)
    logo_url: WebUrl | None = None
    country: Country | None = None


class CreatorProfileBody(StrictModel):
    display_name: str = Field(min_length=1, max_length=100)
    portfolio_url: WebUrl
    bio: str | None = Field(default=None, max_length=5000)
    niches: list[Niche] = Field(default_factory=list, max_length=10)
    platforms: list[PlatformPresence] = Field(default_factory=list, max_length=20)
    country: Country | None = None
    languages: list[Language] = Field(default_factory=list, max_length=20)
    rate_card: list[RateCardItem] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _distinct(self) -> "CreatorProfileBody":
        if len(set(self.niches)) != len(self.niches):
            raise ValueError("niches must not repeat")
        if len({(p.platform, p.handle) for p in self.platforms}) != len(self.platforms):
            raise ValueError("platforms must not repeat the same handle")
        return self


class BrandProfile(StrictModel):
    """A brand's public profile."""

    id: uuid.UUID
    company_name: str | None
    website: str | None
    industry: str | None
    description: str | None
    logo_url: str | None
    country: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CreatorProfile(StrictModel):
    """A creator's public profile."""

    id: uuid.UUID
    display_name: str | None
    portfolio_url: str | None
    bio: str | None
    niches: list[str]
    platforms: list[PlatformPresence]
    country: str | None
    languages: list[str]
    rate_card: list[RateCardItem]
    followers_total: int
    engagement_rate: float
    created_at: dt.datetime
    updated_at: dt.datetime


class OwnBrandProfile(BrandProfile):
    """The signed-in brand's own profile (private fields included)."""

    role: Literal["brand"]
    email: str | None
    complete: bool


class OwnCreatorProfile(CreatorProfile):
    """The signed-in creator's own profile (private fields included)."""

    role: Literal["creator"]
    email: str | None
    complete: bool


class CreatorPage(StrictModel):
    """A page of creators."""

    items: list[CreatorProfile]
    next_cursor: str | None


class CreatorQuery(QueryModel):
    niche: Niche | None = None
    platform: Platform | None = None
    min_followers: int | None = Field(default=None, ge=0)
    max_followers: int | None = Field(default=None, ge=0)
    min_engagement: float | None = Field(default=None, ge=0, le=1)
    max_engagement: float | None = Field(default=None, ge=0, le=1)
    country: Country | None = None
    language: Language | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200)
    sort: Literal["followers", "-followers", "engagement", "-engagement"] = "-followers"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None


def _partial(model: type[StrictModel], name: str) -> type[StrictModel]:
    """The same fields, all optional: a PATCH body (merged over the stored profile, then the
    result is validated as a whole). Leaving a field out keeps it; null resets an optional field
    to its default (empty), and is refused (422) for a required one, which the document states
    by not allowing null there."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        # the field's own bounds (max_length, ...) stay, on the value when it is not null
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        nullable = annotation | (SkipJsonSchema[None] if info.is_required() else None)
        fields[field_name] = (nullable, Field(default=None, description=info.description))
    return create_model(
        name, __base__=StrictModel, __doc__=f"Partial {model.__name__}: " + _PATCH_DOC, **fields
    )


_PATCH_DOC = (
    "leave a field out to keep it; null resets an optional field to its default (empty) and "
    "is not allowed for a required one"
)


BrandProfilePatch = _partial(BrandProfileBody, "BrandProfilePatch")
CreatorProfilePatch = _partial(CreatorProfileBody, "CreatorProfilePatch")


class ProfileBody(RootModel[BrandProfileBody | CreatorProfileBody]):
    """Brand profile for brand accounts, creator profile for creator accounts."""


class ProfilePatch(RootModel[BrandProfilePatch | CreatorProfilePatch]):  # type: ignore[valid-type]
    """Any subset of the profile fields of the caller's role."""


class OwnProfile(RootModel[OwnBrandProfile | OwnCreatorProfile]):
    """The caller's own profile."""


class CreatorSummary(StrictModel):
    """What other services check a creator against (campaign requirements)."""

    id: uuid.UUID
    complete: bool
    followers_total: int
    country: str | None
    platforms: list[str]
