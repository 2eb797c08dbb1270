"""Exactly-once effects over an at-least-once pipe: 1,000 campaign changes written through the
outbox while RabbitMQ is stopped and started in the middle. Every event reaches the consumers
and is applied once.

DISRUPTIVE: stopping RabbitMQ breaks whatever else uses the broker at that moment (other test
runs on this machine). Deselect with -m "not disruptive". The broker is always restarted, and the
test waits for it, even when it fails.
"""

import subprocess
import time
import uuid

import pytest
import requests
from nameko.events import event_handler
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dependencies.consumers import claim_event, processed_events_table
from dependencies.postgres import Database
from kernel.schemas import Principal
from scripts.isolated_stack import RABBIT_API
from services.applications.service import ApplicationsService
from services.campaigns import campaigns
from services.campaigns.service import CampaignsService
from tests.conftest import wait_until
from tests.e2e.marketplace import campaign_body

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]

DELIVERIES: list[str] = []
CHANGES = 1000
REPLAYED = 100
STOP_AFTER = 400
START_AFTER = 700

probe_metadata = MetaData(schema="delivery_probe")
probe_processed = processed_events_table(probe_metadata)
probe_applied = Table(
    "applied",
    probe_metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("times", Integer, nullable=False),
)


class DeliveryProbe:
    """A consumer counting how often each event's effect was applied."""

    name = "delivery_probe"
    db = Database()

    @event_handler("campaigns", "campaign_updated")
    def on_updated(self, payload):
        DELIVERIES.append(payload["event_id"])
        if claim_event(self.db, probe_processed, "campaigns.campaign_updated", payload):
            statement = insert(probe_applied).values(event_id=payload["event_id"], times=1)
            self.db.execute(
                statement.on_conflict_do_update(
                    index_elements=[probe_applied.c.event_id],
                    set_={"times": probe_applied.c.times + 1},
                )
            )


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def broker_is_up():
    try:
        return requests.get(f"{RABBIT_API}/overview", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def probe_schema(db_engine):
    with db_engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS delivery_probe CASCADE"))
        connection.execute(text("CREATE SCHEMA delivery_probe"))
    probe_metadata.create_all(db_engine)
    yield
    with db_engine.begin() as connection:
        connection.execute(text("DROP SCHEMA delivery_probe CASCADE"))


def count(db_engine, sql):
    with db_engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def test_every_event_applied_exactly_once_across_a_broker_restart(
    container_factory, service_config, db_engine, probe_schema
):
    DELIVERIES.clear()
    for service in (CampaignsService, ApplicationsService, DeliveryProbe):
        container_factory(service, service_config).start()
    brand = Principal(user_id=str(uuid.uuid4()), role="brand")
    body = campaign_body()
    with Session(db_engine) as session:
        campaign_id = campaigns.create_campaign(session, brand, body)["id"]
        session.commit()

    def change(index):
        with Session(db_engine) as session:
            campaigns.update_campaign(session, brand, campaign_id, {"title": f"take {index}"}, None)
            session.commit()

    stopped = False
    try:
        for index in range(CHANGES):
            if index == STOP_AFTER:
                rabbitmqctl("stop_app")
                stopped = True
            if index == START_AFTER:
                rabbitmqctl("start_app")
                stopped = False
            change(index)
    finally:
        if stopped:
            rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        wait_until(broker_is_up, timeout=60, interval=0.5)

    started = time.monotonic()
    wait_until(
        lambda: count(db_engine, "SELECT count(*) FROM delivery_probe.applied") == CHANGES,
        timeout=120,
        interval=0.5,
    )
    assert count(db_engine, "SELECT max(times) FROM delivery_probe.applied") == 1
    assert count(db_engine, "SELECT count(*) FROM campaigns.outbox WHERE published_at IS NULL") == 0
    # The real consumer (applications' copy of the campaign) saw every event once, too.
    wait_until(
        lambda: (
            count(
                db_engine,
                "SELECT count(*) FROM applications.processed_events "
                "WHERE event_type = 'campaigns.campaign_updated'",
            )
            == CHANGES
        ),
        timeout=60,
        interval=0.5,
    )
    assert count(db_engine, "SELECT max(version) FROM applications.campaign_slots") == CHANGES + 1

    # A relay that dies between publishing and marking rows published sends them again.
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE campaigns.outbox SET published_at = NULL WHERE id IN (SELECT id FROM "
                "campaigns.outbox WHERE event_type = 'campaign_updated' LIMIT :n)"
            ),
            {"n": REPLAYED},
        )
        connection.execute(text("NOTIFY campaigns_outbox"))
    wait_until(lambda: len(DELIVERIES) >= CHANGES + REPLAYED, timeout=60, interval=0.2)
    assert len(set(DELIVERIES)) == CHANGES
    assert count(db_engine, "SELECT count(*) FROM delivery_probe.applied") == CHANGES
    assert count(db_engine, "SELECT max(times) FROM delivery_probe.applied") == 1
    print(f"caught up {time.monotonic() - started:.1f}s after the broker came back")
