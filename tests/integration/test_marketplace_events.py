"""The marketplace services in real containers publish the events other services rely on, with
the payloads of the event contracts (messaging opens a conversation on accept; analytics and
caches follow campaigns)."""

import uuid

import pytest
from nameko.events import event_handler

from kernel.events import CONTRACTS
from services.applications.service import ApplicationsService
from services.campaigns.service import CampaignsService
from services.users.service import UsersService
from tests.acting import acting_as
from tests.conftest import wait_until
from tests.e2e.marketplace import campaign_body, creator_profile

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []


class ContractListener:
    name = "contract_listener"

    @event_handler("users", "profile_updated")
    def profile_updated(self, payload):
        SEEN.append(("users.profile_updated", payload))

    @event_handler("campaigns", "campaign_created")
    def campaign_created(self, payload):
        SEEN.append(("campaigns.campaign_created", payload))

    @event_handler("campaigns", "campaign_status_changed")
    def campaign_status_changed(self, payload):
        SEEN.append(("campaigns.campaign_status_changed", payload))

    @event_handler("applications", "submitted")
    def submitted(self, payload):
        SEEN.append(("applications.submitted", payload))

    @event_handler("applications", "status_changed")
    def status_changed(self, payload):
        SEEN.append(("applications.status_changed", payload))


def events(kind):
    return [payload for name, payload in SEEN if name == kind]


def test_marketplace_events_follow_the_contracts(container_factory, service_config):
    SEEN.clear()
    for service in (UsersService, CampaignsService, ApplicationsService, ContractListener):
        container_factory(service, service_config).start()
    brand = {"user_id": str(uuid.uuid4()), "role": "brand"}
    creators = [{"user_id": str(uuid.uuid4()), "role": "creator"} for _ in range(2)]
    with (
        acting_as(service_config, brand) as as_brand,
        acting_as(service_config, creators[0]) as as_first,
        acting_as(service_config, creators[1]) as as_second,
    ):
        for rpc in (as_first, as_second):
            rpc.users.replace_profile(creator_profile())
        campaign = as_brand.campaigns.create_campaign(campaign_body())
        as_brand.campaigns.change_status(campaign["id"], "publish")
        pitch = {"pitch": "hi", "proposed_rate": {"amount": 100, "currency": "EUR"}}
        first = as_first.applications.submit(campaign["id"], pitch)
        second = as_second.applications.submit(campaign["id"], pitch)
        as_brand.applications.change_status(first["id"], "accept")
        as_brand.campaigns.change_status(campaign["id"], "close")

    wait_until(lambda: len(events("applications.status_changed")) == 2)
    for kind, payload in SEEN:  # each payload is exactly what its contract allows
        source, event_type = kind.split(".")
        contract = CONTRACTS[(source, event_type)]
        assert contract.checked(payload) == payload, kind
    profile = events("users.profile_updated")[0]
    assert profile["role"] == "creator" and profile["user_id"] == creators[0]["user_id"]
    assert {"display_name", "niches", "platforms"} <= set(profile["profile"])
    assert "email" not in profile["profile"]
    created = events("campaigns.campaign_created")[0]
    assert created["budget"] == {"amount": 500_000, "currency": "EUR"}
    statuses = [
        (e["previous_status"], e["status"]) for e in events("campaigns.campaign_status_changed")
    ]
    assert statuses == [("draft", "published"), ("published", "closed")]
    submitted = events("applications.submitted")
    assert {e["application_id"] for e in submitted} == {first["id"], second["id"]}
    changes = {e["application_id"]: e for e in events("applications.status_changed")}
    accepted, rejected = changes[first["id"]], changes[second["id"]]
    assert (accepted["previous_status"], accepted["status"]) == ("submitted", "accepted")
    assert accepted["creator_id"] == creators[0]["user_id"]
    assert accepted["brand_id"] == brand["user_id"]
    assert (rejected["previous_status"], rejected["status"]) == ("submitted", "rejected")


def test_a_deleted_draft_leaves_no_copy_in_applications(
    container_factory, service_config, db_engine
):
    from sqlalchemy import text

    from kernel.errors import NotFound

    for service in (CampaignsService, ApplicationsService):
        container_factory(service, service_config).start()
    brand = {"user_id": str(uuid.uuid4()), "role": "brand"}

    def copied(campaign_id: str) -> bool:
        with db_engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM applications.campaign_slots WHERE campaign_id = :id"),
                {"id": campaign_id},
            )
            return found.first() is not None

    with acting_as(service_config, brand) as as_brand:
        campaign = as_brand.campaigns.create_campaign(campaign_body())
        wait_until(lambda: copied(campaign["id"]))
        listed = as_brand.applications.list_campaign_deliverables(campaign["id"], {})
        assert listed["items"] == []
        as_brand.campaigns.delete_campaign(campaign["id"])
        wait_until(lambda: not copied(campaign["id"]))
        with pytest.raises(NotFound):  # like the campaign itself
            as_brand.applications.list_campaign_deliverables(campaign["id"], {})
