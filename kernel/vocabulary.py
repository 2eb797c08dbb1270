"""The marketplace's shared words: niches, platforms, countries, languages, web URLs and the
unit of content a creator owes (a deliverable)."""

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, TypeAdapter, ValidationError

from kernel.schemas import StrictModel

Niche = Literal[
    "beauty",
    "fashion",
    "fitness",
    "food",
    "gaming",
    "lifestyle",
    "music",
    "outdoors",
    "parenting",
    "pets",
    "tech",
    "travel",
    "finance",
    "education",
    "sports",
    "art",
]
Platform = Literal["instagram", "tiktok", "youtube", "twitch", "x", "other"]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]


_HTTP_URL = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    """An absolute http(s) URL, normalised (e.g. a trailing slash after a bare host)."""
    try:
        return str(_HTTP_URL.validate_python(value))
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None


WebUrl = Annotated[
    str,
    Field(max_length=2083, json_schema_extra={"format": "uri"}),
    AfterValidator(_http_url),
]


class Deliverable(StrictModel):
    type: Literal["post", "story", "reel", "video", "stream"]
    platform: Platform
    quantity: int = Field(ge=1, le=1000)
