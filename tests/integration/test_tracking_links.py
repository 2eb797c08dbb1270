"""Tracking links on the real Redis, RabbitMQ, PostgreSQL and ClickHouse: the gateway's code
cache and visitor window, and the durable path of a click (gateway -> analytics.ingest ->
batch writer -> ClickHouse), which holds while the analytics service is down."""

import datetime as dt
import json
import uuid

import pytest
import redis as redis_lib
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy.orm import Session

from gateway_http import link_redirect
from gateway_http.service import GatewayService
from kernel.errors import NotFound
from scripts.isolated_stack import free_port
from services.analytics import clicks
from services.analytics.keys import _digest
from services.analytics.link_models import TrackingLink
from services.analytics.models import IngestionKey
from services.analytics.service import AnalyticsService
from services.analytics.writer import AnalyticsWriter
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148 Safari/604.1"


def a_link(code: str | None = None) -> dict:
    return {
        "link_id": str(uuid.uuid4()),
        "code": code or clicks.new_code(),
        "campaign_id": str(uuid.uuid4()),
        "creator_id": str(uuid.uuid4()),
        "platform": "youtube",
        "destination_url": "https://shop.example/",
    }


class LinkService:
    """Stands in for analytics' link lookup: answers `link` and notes every code it was asked."""

    def __init__(self, link: dict) -> None:
        self.link = link
        self.asked: list[str] = []

    def fetch(self, code: str) -> dict:
        self.asked.append(code)
        return self.link

    def unknown(self, code: str) -> dict:
        self.asked.append(code)
        raise NotFound("no such link")


def add_link(engine, disabled: bool = False) -> TrackingLink:
    row = TrackingLink(
        id=uuid.uuid4(),
        code=clicks.new_code(),
        application_id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        brand_id=uuid.uuid4(),
        creator_id=uuid.uuid4(),
        platform="youtube",
        destination_url="https://shop.example/p?x=1",
        created_by=uuid.uuid4(),
        disabled_at=dt.datetime.now(dt.UTC) if disabled else None,
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    return row


def test_codes_are_resolved_once_and_a_disable_wins_over_a_racing_fill(redis_client):
    link = a_link()
    service = LinkService(link)
    fetch = service.fetch

    for _ in range(3):
        assert link_redirect.resolve(redis_client, link["code"], fetch, 60) == link
    assert service.asked == [link["code"]]

    # A gateway that asked before the disable committed fills the cache after it: no effect.
    link_redirect.forget(redis_client, link["code"], 60)
    assert link_redirect.resolve(redis_client, link["code"], fetch, 60) is None
    redis_client.set(link_redirect.cache_key(link["code"]), "{}", nx=True)
    assert link_redirect.resolve(redis_client, link["code"], fetch, 60) is None

    code = clicks.new_code()
    assert link_redirect.resolve(redis_client, code, service.unknown, 60) is None
    assert link_redirect.resolve(redis_client, code, service.unknown, 60) is None
    assert service.asked.count(code) == 1
    assert link_redirect.resolve(redis_client, "bad/code", service.unknown, 60) is None
    assert "bad/code" not in service.asked


def test_a_visitor_counts_once_per_window_and_gets_its_first_click_id_back(redis_client):
    link = a_link()
    click_id, counted = link_redirect.visit(redis_client, link, "198.51.100.4", BROWSER)
    assert counted and click_id.startswith(link["code"] + ".")
    assert link_redirect.visit(redis_client, link, "198.51.100.4", BROWSER) == (click_id, False)
    ttl = redis_client.ttl(clicks.visitor_key(link["link_id"], "198.51.100.4", BROWSER))
    assert 0 < ttl <= clicks.DEDUPE_SECONDS
    assert link_redirect.visit(redis_client, link, "198.51.100.5", BROWSER)[1]
    assert link_redirect.visit(redis_client, link, "198.51.100.4", PHONE)[1]
    assert link_redirect.visit(redis_client, a_link(), "198.51.100.4", BROWSER)[1]
    assert link_redirect.visit(redis_client, link, "198.51.100.4", "Googlebot/2.1") == (None, False)
    # The window is over (expired key): the visitor counts again.
    redis_client.delete(clicks.visitor_key(link["link_id"], "198.51.100.4", BROWSER))
    again, counted = link_redirect.visit(redis_client, link, "198.51.100.4", BROWSER)
    assert counted and again != click_id
    # A click that could not be queued is forgotten, so the next one counts.
    link_redirect.unrecord(redis_client, link, "198.51.100.4", BROWSER)
    assert link_redirect.visit(redis_client, link, "198.51.100.4", BROWSER)[1]


def test_without_redis_links_still_resolve_and_clicks_still_count():
    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)
    link = a_link()
    assert link_redirect.resolve(down, link["code"], lambda code: link, 60) == link
    click_id, counted = link_redirect.visit(down, link, "198.51.100.4", BROWSER)
    assert counted and click_id


def clicks_stored(clickhouse, campaign_id) -> list[tuple]:
    return clickhouse.execute(
        "SELECT toString(creator_id), event_type, platform, device FROM events "
        "WHERE campaign_id = %(campaign)s",
        {"campaign": campaign_id},
    )


def test_a_click_takes_the_durable_path_even_while_analytics_is_down(
    db_engine, clickhouse, container_factory, service_config
):
    port = free_port()
    config = {
        **service_config,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "ANALYTICS": {"INSERT_BATCH_EVENTS": 100, "INSERT_BATCH_SECONDS": 0.1},
    }
    link, disabled = add_link(db_engine), add_link(db_engine, disabled=True)
    gateway = container_factory(GatewayService, config)
    analytics = container_factory(AnalyticsService, config)
    writer = container_factory(AnalyticsWriter, config)
    gateway.start()
    analytics.start()
    writer.start()

    def follow(code, agent=BROWSER):
        return requests.get(
            f"http://127.0.0.1:{port}/t/{code}",
            headers={"User-Agent": agent},
            allow_redirects=False,
            timeout=10,
        )

    first = follow(link.code)
    assert first.status_code == 302
    assert first.headers["Location"].startswith("https://shop.example/p?x=1&click_id=")
    assert follow(link.code).headers["Location"] == first.headers["Location"]
    assert follow(disabled.code).status_code == 404
    expected = [(str(link.creator_id), "click", "youtube", "desktop")]
    wait_until(lambda: clicks_stored(clickhouse, str(link.campaign_id)) == expected, timeout=20)

    analytics.stop()  # the redirect needs neither analytics nor ClickHouse: the code is cached
    writer.stop()  # and the click waits in the queue for the writer
    assert follow(link.code, PHONE).status_code == 302
    analytics = container_factory(AnalyticsService, config)
    analytics.start()
    container_factory(AnalyticsWriter, config).start()
    expected.append((str(link.creator_id), "click", "youtube", "mobile"))
    wait_until(
        lambda: sorted(clicks_stored(clickhouse, str(link.campaign_id))) == sorted(expected),
        timeout=30,
    )


def test_a_conversion_is_recorded_once_per_order(
    db_engine, clickhouse, container_factory, service_config
):
    link = add_link(db_engine)
    key_id, secret = uuid.uuid4(), "s3cret-for-tests"
    with Session(db_engine) as session, session.begin():
        session.add(
            IngestionKey(
                id=key_id,
                name="shop",
                secret_sha256=_digest(secret),
                brand_id=link.brand_id,
                created_by=uuid.uuid4(),
            )
        )
    key = f"ik_{key_id.hex}_{secret}"
    config = {
        **service_config,
        "ANALYTICS": {"INSERT_BATCH_EVENTS": 100, "INSERT_BATCH_SECONDS": 0.1},
    }
    container_factory(AnalyticsService, config).start()
    container_factory(AnalyticsWriter, config).start()
    order = {"code": link.code, "value": 2500, "order_id": "A-1"}
    with ClusterRpcProxy(config, timeout=20) as cluster:
        answers = [cluster.analytics.record_conversion(key, order) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["value"] == 2500
    wait_until(
        lambda: (
            clickhouse.execute(
                "SELECT count(), sum(value) FROM events WHERE event_type = 'conversion' "
                "AND campaign_id = %(campaign)s",
                {"campaign": str(link.campaign_id)},
            )
            == [(1, 2500)]
        ),
        timeout=20,
    )


def test_a_zero_cache_time_asks_the_service_every_time(redis_client):
    link = a_link()
    service = LinkService(link)

    for _ in range(3):
        assert link_redirect.resolve(redis_client, link["code"], service.fetch, 0) == link
    assert len(service.asked) == 3
    assert redis_client.get(link_redirect.cache_key(link["code"])) is None


def test_redirects_are_rate_limited_per_address(container_factory, service_config, redis_client):
    """Served from the code cache alone (no analytics service running): a bot or a visitor
    hammering links from one address is refused with 429 like any other request."""
    port = free_port()
    gateway_config = {
        **service_config,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "GATEWAY": {**service_config["GATEWAY"], "RATE_LIMIT_PER_IP": "3/minute"},
    }
    link = a_link()
    redis_client.set(link_redirect.cache_key(link["code"]), json.dumps(link))
    container_factory(GatewayService, gateway_config).start()
    url = f"http://127.0.0.1:{port}/t/{link['code']}"
    answers = [
        requests.get(
            url, headers={"User-Agent": "Googlebot/2.1"}, allow_redirects=False, timeout=10
        )
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert answers[0].headers["Location"] == link["destination_url"]  # a bot: no click id
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[3].headers["Retry-After"]
    assert answers[3].headers["Content-Type"] == "application/problem+json"
