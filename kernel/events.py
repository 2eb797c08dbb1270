"""Event contracts: one pydantic model per event type, the single description of what crosses
the bus.

Producers check every payload against its contract when they record or publish it
(`checked_payload`: unknown or missing fields are a bug in the producer and fail loudly there);
consumers read payloads with `Contract.read` (or `read_json`), which ignores fields it does not
know, so a producer may add a field without breaking older consumers. A change that removes or
retypes a field is a new version: bump `contract_version`; consumers read `event_version`.
docs/events.md is generated from these models (`python -m scripts.event_docs`).
"""

import datetime as dt
import uuid
from typing import Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from kernel.schemas import Money
from kernel.vocabulary import Deliverable

UserRole = Literal["brand", "creator", "admin"]


class EventContract(BaseModel):
    """The envelope every event carries; subclasses add the payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: ClassVar[str]
    name: ClassVar[str]
    contract_version: ClassVar[int] = 1

    event_id: uuid.UUID = Field(description="unique per event; consumers are idempotent on it")
    occurred_at: AwareDatetime = Field(description="when the producer recorded the event (UTC)")
    event_version: int = Field(
        default=1, ge=1, description="the contract version it was written to"
    )

    @classmethod
    def read(cls, payload: Any) -> Self:
        """A consumer's view of a payload (fields it doesn't know are ignored)."""
        return cls.model_validate(payload)

    @classmethod
    def read_json(cls, payload: Any) -> dict[str, Any]:
        """`read`, as JSON data (for domain code written against plain payloads)."""
        return cls.read(payload).model_dump(mode="json")

    @classmethod
    def checked(cls, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload a producer sends: exactly the contract's fields, in JSON form."""
        unknown = set(payload) - set(cls.model_fields)
        if unknown:
            raise ContractViolation(f"{cls.key()} has no fields {sorted(unknown)}")
        try:
            event = cls.model_validate({**payload, "event_version": cls.contract_version})
        except ValidationError as exc:
            raise ContractViolation(f"{cls.key()} payload breaks its contract: {exc}") from None
        return event.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def key(cls) -> str:
        return f"{cls.source}.{cls.name}"


class ContractViolation(ValueError):
    """A producer tried to send a payload its event contract doesn't allow."""


# --- auth ------------------------------------------------------------------------------------


class UserRegistered(EventContract):
    """An account was created (registration or an operator's create-admin)."""

    source = "auth"
    name = "user_registered"

    user_id: uuid.UUID
    email: str
    role: UserRole
    display_name: str | None


class SessionRevoked(EventContract):
    """A refresh-token family ended (logout, reuse detected): its sockets close with 4401."""

    source = "auth"
    name = "session_revoked"

    session_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


# --- users -----------------------------------------------------------------------------------


class ProfileUpdated(EventContract):
    """A brand or creator saved their profile; `profile` is the public view."""

    source = "users"
    name = "profile_updated"

    user_id: uuid.UUID
    role: Literal["brand", "creator"]
    profile: dict[str, Any]


# --- campaigns -------------------------------------------------------------------------------


class CampaignRequirements(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    min_followers: int
    countries: list[str]


class CampaignSnapshot(EventContract):
    """The campaign as it is after the change: its whole view, the id as `campaign_id`
    (copies in applications and analytics keep the highest `version`)."""

    source = "campaigns"

    campaign_id: uuid.UUID
    brand_id: uuid.UUID
    status: Literal["draft", "published", "paused", "closed"]
    title: str
    brief: str
    objectives: list[str]
    niches: list[str]
    platforms: list[str]
    deliverables: list[Deliverable]
    budget: Money
    compensation: str
    application_deadline: AwareDatetime
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    max_creators: int
    requirements: CampaignRequirements
    version: int = Field(description="the campaign's row version: copies keep the newest")
    created_at: AwareDatetime
    updated_at: AwareDatetime
    published_at: AwareDatetime | None
    previous_status: str | None = None


class CampaignCreated(CampaignSnapshot):
    """A brand created a campaign (a draft); the whole campaign as created."""

    name = "campaign_created"


class CampaignUpdated(CampaignSnapshot):
    """A brand edited a campaign; the whole campaign after the edit."""

    name = "campaign_updated"


class CampaignStatusChanged(CampaignSnapshot):
    """Published, paused, resumed or closed; the whole campaign and its `previous_status`."""

    name = "campaign_status_changed"


class CampaignDeleted(EventContract):
    """A draft was deleted."""

    source = "campaigns"
    name = "campaign_deleted"

    campaign_id: uuid.UUID
    brand_id: uuid.UUID
    status: Literal["deleted"]


# --- applications ----------------------------------------------------------------------------

ApplicationStatus = Literal["submitted", "shortlisted", "accepted", "rejected", "withdrawn"]


class ApplicationParties(EventContract):
    """Who an application's events concern: its campaign's brand and the creator."""

    source = "applications"

    application_id: uuid.UUID
    campaign_id: uuid.UUID
    brand_id: uuid.UUID
    creator_id: uuid.UUID


class ApplicationEvent(ApplicationParties):
    status: ApplicationStatus
    proposed_rate: Money


class ApplicationSubmitted(ApplicationEvent):
    """A creator applied to a campaign."""

    name = "submitted"


class ApplicationStatusChanged(ApplicationEvent):
    """An application moved (shortlist, accept, reject, withdraw, or rejected on close)."""

    name = "status_changed"

    previous_status: ApplicationStatus


class DeliverableEvent(ApplicationParties):
    """A deliverable's state changed; `note` is the brand's request on changes_requested."""

    deliverable_id: uuid.UUID
    type: str
    platform: str
    url: str
    status: Literal["submitted", "approved", "changes_requested"]
    revision: int
    submitted_at: AwareDatetime
    reviewed_at: AwareDatetime | None
    note: str | None = None


class DeliverableSubmitted(DeliverableEvent):
    """A creator submitted (or resubmitted) a deliverable."""

    name = "deliverable_submitted"


class DeliverableApproved(DeliverableEvent):
    """The brand approved a deliverable."""

    name = "deliverable_approved"


class DeliverableChangesRequested(DeliverableEvent):
    """The brand asked for changes; `note` says which."""

    name = "deliverable_changes_requested"


# --- messaging -------------------------------------------------------------------------------


class MessageSent(EventContract):
    """A message was stored: what ws hubs deliver and analytics' funnel reads."""

    source = "messaging"
    name = "message_sent"

    conversation_id: uuid.UUID
    campaign_id: uuid.UUID | None
    sender_id: uuid.UUID
    sender_role: Literal["brand", "creator", "admin", "system"]
    seq: int
    participants: list[str]
    message: dict[str, Any] = Field(description="the stored message as GET .../messages shows it")
    origin: str | None = Field(description="the socket that sent it (it gets no echo)")


class ConversationRead(EventContract):
    """A participant read a conversation up to `seq`."""

    source = "messaging"
    name = "conversation_read"

    conversation_id: uuid.UUID
    participants: list[str]
    user_id: uuid.UUID
    seq: int


# --- ws (ephemeral, between hubs) ------------------------------------------------------------


class Typing(EventContract):
    """Someone is typing in a conversation (ephemeral, between ws hubs; never stored)."""

    source = "ws"
    name = "typing"

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    participants: list[str]


class Presence(EventContract):
    """A user came online or went offline (ephemeral, between ws hubs; never stored)."""

    source = "ws"
    name = "presence"

    user_id: uuid.UUID
    status: Literal["online", "offline"]
    notify: list[str] = Field(description="the users told about it (conversation partners)")


CONTRACTS: dict[tuple[str, str], type[EventContract]] = {
    (contract.source, contract.name): contract
    for contract in (
        UserRegistered,
        SessionRevoked,
        ProfileUpdated,
        CampaignCreated,
        CampaignUpdated,
        CampaignStatusChanged,
        CampaignDeleted,
        ApplicationSubmitted,
        ApplicationStatusChanged,
        DeliverableSubmitted,
        DeliverableApproved,
        DeliverableChangesRequested,
        MessageSent,
        ConversationRead,
        Typing,
        Presence,
    )
}


def checked_payload(source: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What a producer sends for `source.event_type`: the payload checked against its contract."""
    contract = CONTRACTS.get((source, event_type))
    if contract is None:
        raise ContractViolation(f"no contract for event {source}.{event_type}")
    return contract.checked(payload)


def event_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a fresh event_id and the current time as occurred_at."""
    return {
        **payload,
        "event_id": str(uuid.uuid4()),
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def new_event(source: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A fresh event (new event_id, occurred_at now): `payload` checked against its contract."""
    return checked_payload(source, event_type, event_envelope(payload))
