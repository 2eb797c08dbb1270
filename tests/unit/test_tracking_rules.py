"""Tracking-link rules without I/O: codes, click ids, the bot list, visitor identity, the
redirect location and the request bodies."""

import datetime as dt
import uuid

import pytest

from kernel.errors import InvalidInput
from kernel.schemas import parse_model
from services.analytics import clicks
from services.analytics.tracking_schemas import ConversionCreate, TrackingLinkCreate

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def test_codes_are_long_random_and_url_safe():
    codes = {clicks.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == clicks.CODE_LENGTH
        assert set(code) <= set(clicks.CODE_ALPHABET)
        assert clicks.is_code(code)
    # every position takes many letters: not a counter or a timestamp in disguise
    assert all(len({code[i] for code in codes}) > 40 for i in range(clicks.CODE_LENGTH))


@pytest.mark.parametrize("code", ["", "short", "a" * 33, "abc-def-ghij", "abcdefgh/", "äbcdefghij"])
def test_malformed_codes_are_not_codes(code):
    assert not clicks.is_code(code)


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "",
        "   ",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.23.20.0",
        "TelegramBot (like TwitterBot)",
        "curl/8.5.0",
        "Wget/1.21.3",
        "python-requests/2.32.3",
        "Go-http-client/1.1",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0",
        "UptimeRobot/2.0",
    ],
)
def test_bots_are_recognised(agent):
    assert clicks.is_bot(agent)


@pytest.mark.parametrize("agent", [CHROME, IPHONE, "Mozilla/5.0 (Android 14; Mobile) Firefox/132"])
def test_browsers_are_people(agent):
    assert not clicks.is_bot(agent)


def test_a_visitor_is_address_and_user_agent_per_link():
    link = str(uuid.uuid4())
    key = clicks.visitor_key(link, "203.0.113.7", CHROME)
    assert key == clicks.visitor_key(link, "203.0.113.7", CHROME)
    assert key != clicks.visitor_key(link, "203.0.113.8", CHROME)
    assert key != clicks.visitor_key(link, "203.0.113.7", IPHONE)
    assert key != clicks.visitor_key(str(uuid.uuid4()), "203.0.113.7", CHROME)
    assert "203.0.113.7" not in key  # hashed: no address kept in Redis


def test_click_ids_name_their_link_and_an_event():
    click_id = clicks.new_click_id("AbCdEfGh1234")
    code, event_id = clicks.parse_click_id(click_id)
    assert code == "AbCdEfGh1234" and isinstance(event_id, uuid.UUID)
    assert clicks.parse_click_id("AbCdEfGh1234") is None
    assert clicks.parse_click_id("AbCdEfGh1234.not-hex") is None
    assert clicks.parse_click_id(f"ab.{uuid.uuid4().hex}") is None


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("https://shop.example/p/1", "https://shop.example/p/1?click_id=C"),
        ("https://shop.example/p?a=1&b=", "https://shop.example/p?a=1&b=&click_id=C"),
        ("https://shop.example/?click_id=old&x=2", "https://shop.example/?x=2&click_id=C"),
        ("https://shop.example/p#reviews", "https://shop.example/p?click_id=C#reviews"),
    ],
)
def test_the_redirect_adds_the_click_id_to_the_destination(destination, expected):
    assert clicks.with_click_id(destination, "C") == expected


def test_a_click_event_is_a_valid_analytics_event():
    from services.analytics.ingestion import EVENT

    link = {
        "link_id": str(uuid.uuid4()),
        "code": "AbCdEfGh1234",
        "campaign_id": str(uuid.uuid4()),
        "creator_id": str(uuid.uuid4()),
        "platform": "tiktok",
        "destination_url": "https://shop.example/",
    }
    click_id = clicks.new_click_id(link["code"])
    event = clicks.click_event(link, click_id, IPHONE, dt.datetime.now(dt.UTC))
    parsed = EVENT.validate_python(event)
    assert (parsed.event_type, parsed.platform, parsed.device) == ("click", "tiktok", "mobile")
    assert str(parsed.event_id) == str(clicks.parse_click_id(click_id)[1])
    assert parsed.model_dump(mode="json") == event


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/x",
        "javascript:alert(1)",
        "data:text/html,hi",
        "/relative/path",
        "shop.example/no-scheme",
        "https://user:secret@shop.example/",
        "https://shop.example/" + "a" * 2100,
        "",
        42,
    ],
)
def test_destinations_are_absolute_http_urls(url):
    with pytest.raises(InvalidInput) as error:
        parse_model(TrackingLinkCreate, {"destination_url": url})
    assert error.value.errors[0]["field"] == "destination_url"


def test_a_link_request_names_a_known_platform_and_nothing_else():
    ok = parse_model(TrackingLinkCreate, {"destination_url": "http://shop.example/a?b=c"})
    assert (ok.destination_url, ok.platform) == ("http://shop.example/a?b=c", "other")
    for body in (
        {"destination_url": "https://shop.example/", "platform": "myspace"},
        {"destination_url": "https://shop.example/", "surprise": 1},
        {},
    ):
        with pytest.raises(InvalidInput):
            parse_model(TrackingLinkCreate, body)


def test_a_conversion_names_exactly_one_of_code_or_click_id():
    base = {"value": 4900, "order_id": "order-1"}
    assert parse_model(ConversionCreate, {**base, "code": "AbCdEfGh1234"}).code == "AbCdEfGh1234"
    click_id = clicks.new_click_id("AbCdEfGh1234")
    assert parse_model(ConversionCreate, {**base, "click_id": click_id}).click_id == click_id
    for body in (
        base,
        {**base, "code": "AbCdEfGh1234", "click_id": click_id},
        {**base, "code": "AbCdEfGh1234", "value": -1},
        {**base, "code": "AbCdEfGh1234", "value": "4900"},
        {**base, "code": "AbCdEfGh1234", "order_id": ""},
        {**base, "code": "AbCdEfGh1234", "order_id": "has space"},
        {**base, "code": "AbCdEfGh1234", "order_id": "x" * 129},
        {**base, "code": "bad code!"},
    ):
        with pytest.raises(InvalidInput):
            parse_model(ConversionCreate, body)


def application_view(status="accepted", **overrides):
    return {
        "id": str(uuid.uuid4()),
        "campaign_id": str(uuid.uuid4()),
        "brand_id": str(uuid.uuid4()),
        "creator_id": str(uuid.uuid4()),
        "status": status,
        **overrides,
    }


def test_only_the_parties_of_an_accepted_application_make_links():
    from kernel.errors import Conflict, Forbidden, NotFound
    from kernel.schemas import Principal
    from services.analytics import links

    request = TrackingLinkCreate(destination_url="https://shop.example/")
    application = application_view()
    stranger = Principal(user_id=str(uuid.uuid4()), role="brand")
    with pytest.raises(NotFound):  # checked before the database is touched (session None)
        links.create_link(None, stranger, application, request, "http://x")
    other_creator = Principal(user_id=application["brand_id"], role="creator")
    with pytest.raises(NotFound):  # the brand's id in a creator token is not the brand
        links.create_link(None, other_creator, application, request, "http://x")
    for status in ("submitted", "shortlisted", "rejected", "withdrawn"):
        brand = Principal(user_id=application["brand_id"], role="brand")
        with pytest.raises(Conflict):
            links.create_link(None, brand, {**application, "status": status}, request, "http://x")
    with pytest.raises(Forbidden):
        links.check_link_request(Principal(user_id=str(uuid.uuid4()), role="admin"), {})


def test_a_click_the_broker_does_not_confirm_in_time_is_given_up():
    import eventlet

    from gateway_http.link_redirect import queue_click

    event = {"campaign_id": str(uuid.uuid4())}
    sent = []
    assert queue_click(sent.append, event) is True
    assert sent == [{"events": [event]}]

    def broker_down(body):
        raise ConnectionRefusedError("broker down")

    assert queue_click(broker_down, event) is False
    assert queue_click(lambda body: eventlet.sleep(30), event, timeout=0.05) is False
