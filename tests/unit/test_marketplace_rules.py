"""Marketplace rules that need no broker or database: schemas, cursors, derived fields,
campaign edit policy, entrypoints rejecting bad input before any I/O."""

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory

from kernel.errors import Conflict, InvalidInput, Unauthenticated
from kernel.pagination import (
    as_number,
    as_timestamp,
    decode_cursor,
    encode_cursor,
    keyset,
    page,
    page_by,
)
from kernel.schemas import Principal, parse_model
from services.applications.service import ApplicationsService
from services.campaigns.campaigns import TRANSITIONS, _check_editable
from services.campaigns.models import CampaignRow
from services.campaigns.schemas import CampaignCreate, CampaignPatch
from services.campaigns.service import CampaignsService
from services.users.profiles import _derived_creator_fields
from services.users.schemas import CreatorProfileBody, CreatorQuery
from services.users.service import UsersService
from tests.e2e.marketplace import campaign_body, creator_profile

BRAND = {"user_id": str(uuid.uuid4()), "role": "brand"}
CREATOR = {"user_id": str(uuid.uuid4()), "role": "creator"}


def test_cursor_round_trips_and_rejects_garbage():
    row_id = str(uuid.uuid4())
    assert decode_cursor(encode_cursor(1234, row_id)) == (1234, row_id)
    for bad in ("", "zzz", encode_cursor(1, row_id)[:-3], "W10"):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def by_budget(cursor: str, descending: bool, sort_value):
    """The campaigns' keyset query by budget, 10 rows after `cursor`."""
    return keyset(
        CampaignRow,
        [],
        CampaignRow.budget_amount,
        CampaignRow.id,
        descending=descending,
        cursor=cursor,
        limit=10,
        sort_value=sort_value,
    )


@pytest.mark.parametrize(
    ("sort_value", "cursor_value"),
    [(as_number, "2026-01-01T00:00:00+00:00"), (as_number, True), (as_timestamp, "soon")],
)
def test_a_cursor_whose_sort_value_does_not_fit_the_list_is_refused(sort_value, cursor_value):
    cursor = encode_cursor(cursor_value, str(uuid.uuid4()))
    with pytest.raises(InvalidInput, match="cursor"):
        by_budget(cursor, descending=True, sort_value=sort_value)


def test_a_keyset_query_continues_after_the_cursor_row():
    cursor = encode_cursor(500, str(uuid.uuid4()))
    sql = str(by_budget(cursor, descending=False, sort_value=as_number))
    assert "(campaigns.campaigns.budget_amount, campaigns.campaigns.id) >" in sql
    assert "ORDER BY campaigns.campaigns.budget_amount, campaigns.campaigns.id" in sql


def test_page_reports_a_next_cursor_only_when_more_rows_exist():
    rows = [{"id": str(n), "k": n} for n in range(3)]
    assert page(rows[:2], 2, "k")["next_cursor"] is None
    more = page(rows, 2, "k")
    assert len(more["items"]) == 2 and decode_cursor(more["next_cursor"]) == (1, "1")


def test_page_by_puts_the_last_shown_items_sort_value_in_the_cursor():
    items = [{"id": str(n)} for n in range(3)]
    assert page_by(items[:2], [10, 11], 2) == {"items": items[:2], "next_cursor": None}
    more = page_by(items, [10, 11, 12], 2)
    assert more["items"] == items[:2] and decode_cursor(more["next_cursor"]) == (11, "1")


def test_creator_derived_fields_weight_engagement_by_followers():
    body = parse_model(CreatorProfileBody, creator_profile())
    derived = _derived_creator_fields(body)
    assert derived["followers_total"] == 70_000
    assert derived["platform_names"] == ["instagram", "youtube"]
    assert derived["handles"] == "avatrails avatrails"
    assert derived["engagement_rate"] == pytest.approx(0.045714, abs=1e-6)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"portfolio_url": "javascript:alert(1)"}, "portfolio_url"),
        ({"niches": ["outdoors", "outdoors"]}, "(body)"),
        ({"languages": ["english"]}, "languages.0"),
        ({"country": "de"}, "country"),
        ({"bio": "a\x00b"}, "bio"),
    ],
)
def test_creator_profile_rules(changes, field):
    with pytest.raises(InvalidInput) as error:
        parse_model(CreatorProfileBody, {**creator_profile(), **changes})
    assert field in [e["field"] for e in error.value.errors]


def test_query_models_convert_strings_and_reject_unknown_parameters():
    query = parse_model(CreatorQuery, {"min_followers": "10", "limit": "5"})
    assert query.min_followers == 10 and query.limit == 5
    with pytest.raises(InvalidInput):
        parse_model(CreatorQuery, {"followers": "10"})


@pytest.mark.parametrize(
    "override",
    [
        {"application_deadline": "2031-01-01T00:00:00+00:00"},  # after starts_at
        {"starts_at": "1999-01-01T00:00:00+00:00"},
        {"ends_at": 1_900_000_000},
        {"ends_at": "2030-01-01T00:00:00"},  # naive
    ],
)
def test_campaign_dates_are_checked(override):
    with pytest.raises(InvalidInput):
        parse_model(CampaignCreate, campaign_body(**override))


def test_timestamps_are_normalised_to_utc():
    patch = parse_model(CampaignPatch, {"ends_at": "2030-01-01T02:00:00+02:00"})
    assert patch.ends_at == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert patch.ends_at.utcoffset() == dt.timedelta(0)


def live_campaign(status="published"):
    return SimpleNamespace(
        status=status,
        max_creators=5,
        application_deadline=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )


def test_live_campaign_edit_policy():
    _check_editable(live_campaign(), {"title": "x", "brief": "y", "objectives": []})
    _check_editable(live_campaign(), {"max_creators": 6})
    _check_editable(live_campaign(), {"application_deadline": "2030-02-01T00:00:00+00:00"})
    for frozen in (
        {"max_creators": 4},
        {"application_deadline": "2029-12-01T00:00:00+00:00"},
        {"budget": {"amount": 1, "currency": "EUR"}},
        {"requirements": {"min_followers": 0, "countries": []}},
    ):
        with pytest.raises(Conflict):
            _check_editable(live_campaign(), frozen)
    with pytest.raises(Conflict):
        _check_editable(live_campaign("closed"), {"title": "x"})
    _check_editable(live_campaign("draft"), {"budget": {"amount": 1, "currency": "EUR"}})


def test_lifecycle_table():
    assert {
        "publish": ({"draft"}, "published"),
        "pause": ({"published"}, "paused"),
        "resume": ({"paused"}, "published"),
        "close": ({"published", "paused"}, "closed"),
    } == TRANSITIONS


def acting_as(service_cls, user):
    """The service with its Caller dependency answering `user` (as if its token verified)."""
    service = worker_factory(service_cls)
    service.caller.principal.return_value = Principal(**user)
    return service


def test_entrypoints_reject_bad_input_before_any_io():
    users = acting_as(UsersService, CREATOR)
    with pytest.raises(InvalidInput):
        users.replace_profile({"display_name": "x"})
    anonymous = worker_factory(UsersService)
    anonymous.caller.principal.side_effect = Unauthenticated("no token")
    with pytest.raises(Unauthenticated):
        anonymous.get_own_profile()
    assert anonymous.db.mock_calls == []
    campaigns = acting_as(CampaignsService, BRAND)
    with pytest.raises(InvalidInput):
        campaigns.create_campaign({"title": "only a title"})
    assert not campaigns.db.add.called
    applications = acting_as(ApplicationsService, CREATOR)
    with pytest.raises(InvalidInput):
        applications.submit(str(uuid.uuid4()), {"pitch": ""})
    assert not applications.campaigns_rpc.get_campaign.called
    assert not applications.db.add.called
