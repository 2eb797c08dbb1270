import re
import tomllib

import pytest

from gateway_http import openapi
from gateway_http.edge import REQUEST_ID_PATTERN
from gateway_http.service import GatewayService
from kernel.config import PROJECT_ROOT
from kernel.errors import InvalidInput
from kernel.schemas import parse_model
from kernel.timestamps import TIMESTAMP_PATTERN
from services.analytics import figures
from services.messaging.schemas import MessageCreate, ReadMark

EXPECTED = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/me"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/docs"),
    ("get", "/api/v1/docs/{asset_name}"),
    ("get", "/api/v1/me/profile"),
    ("put", "/api/v1/me/profile"),
    ("patch", "/api/v1/me/profile"),
    ("get", "/api/v1/creators"),
    ("get", "/api/v1/creators/{creator_id}"),
    ("get", "/api/v1/brands/{brand_id}"),
    ("post", "/api/v1/campaigns"),
    ("get", "/api/v1/campaigns"),
    ("get", "/api/v1/campaigns/{campaign_id}"),
    ("patch", "/api/v1/campaigns/{campaign_id}"),
    ("delete", "/api/v1/campaigns/{campaign_id}"),
    ("post", "/api/v1/campaigns/{campaign_id}/publish"),
    ("post", "/api/v1/campaigns/{campaign_id}/pause"),
    ("post", "/api/v1/campaigns/{campaign_id}/resume"),
    ("post", "/api/v1/campaigns/{campaign_id}/close"),
    ("post", "/api/v1/campaigns/{campaign_id}/applications"),
    ("get", "/api/v1/campaigns/{campaign_id}/applications"),
    ("get", "/api/v1/applications"),
    ("get", "/api/v1/applications/{application_id}"),
    ("post", "/api/v1/applications/{application_id}/shortlist"),
    ("post", "/api/v1/applications/{application_id}/accept"),
    ("post", "/api/v1/applications/{application_id}/reject"),
    ("post", "/api/v1/applications/{application_id}/withdraw"),
    ("post", "/api/v1/applications/{application_id}/deliverables"),
    ("get", "/api/v1/applications/{application_id}/deliverables"),
    ("get", "/api/v1/campaigns/{campaign_id}/deliverables"),
    ("get", "/api/v1/deliverables/{deliverable_id}"),
    ("put", "/api/v1/deliverables/{deliverable_id}"),
    ("post", "/api/v1/deliverables/{deliverable_id}/approve"),
    ("post", "/api/v1/deliverables/{deliverable_id}/request-changes"),
    ("post", "/api/v1/analytics/events"),
    ("get", "/api/v1/campaigns/{campaign_id}/analytics/summary"),
    ("get", "/api/v1/campaigns/{campaign_id}/analytics/timeseries"),
    ("get", "/api/v1/campaigns/{campaign_id}/analytics/creators"),
    ("get", "/api/v1/campaigns/{campaign_id}/analytics/platforms"),
    ("post", "/api/v1/analytics/ingestion-keys"),
    ("get", "/api/v1/analytics/ingestion-keys"),
    ("delete", "/api/v1/analytics/ingestion-keys/{key_id}"),
    ("get", "/api/v1/conversations"),
    ("post", "/api/v1/conversations"),
    ("get", "/api/v1/conversations/{conversation_id}/messages"),
    ("post", "/api/v1/conversations/{conversation_id}/messages"),
    ("post", "/api/v1/conversations/{conversation_id}/read"),
    ("post", "/api/v1/applications/{application_id}/tracking-links"),
    ("get", "/api/v1/applications/{application_id}/tracking-links"),
    ("post", "/api/v1/tracking-links/{link_id}/disable"),
    ("get", "/t/{code}"),
    ("post", "/api/v1/analytics/conversions"),
}


def test_document_lists_every_route():
    document = openapi.document(GatewayService)
    assert document["openapi"] == "3.1.0"
    present = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert present == EXPECTED


def test_every_reference_resolves():
    document = openapi.document(GatewayService)
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"], name


def test_authenticated_routes_declare_bearer_and_401():
    me = openapi.document(GatewayService)["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
    register = openapi.document(GatewayService)["paths"]["/api/v1/auth/register"]["post"]
    assert "security" not in register
    assert {"400", "413", "415", "422", "201", "409"} <= set(register["responses"])


def operations_by_id(document: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for operations in document["paths"].values()
        for operation in operations.values()
    }


def links_of(document: dict):
    """(source operation, status, response, link name, link) for every link in the document."""
    for operation in operations_by_id(document).values():
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                yield operation, status, response, name, link


def resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_link_expression_names_what_the_source_response_always_has():
    document = openapi.document(GatewayService)
    operations = operations_by_id(document)
    checked = 0
    for source, status, response, name, link in links_of(document):
        assert status.startswith("2"), (source["operationId"], name)
        target = operations[link["operationId"]]
        target_parameters = {(p["in"], p["name"]) for p in target.get("parameters", [])}
        for parameter, expression in link["parameters"].items():
            location, _, parameter_name = parameter.rpartition(".")
            assert (location or "path", parameter_name) in target_parameters, (name, parameter)
            if expression.startswith("$response.header."):
                assert expression.removeprefix("$response.header.") in response["headers"]
                continue
            field = expression.removeprefix("$response.body#/")
            schema = resolve(response["content"]["application/json"]["schema"], document)
            assert field in schema["required"], (source["operationId"], expression)
            value = resolve(schema["properties"][field], document)
            assert value["type"] == "string", expression
            checked += 1
    assert checked > 100


def test_every_object_the_links_name_is_a_response_schema():
    schemas = openapi.document(GatewayService)["components"]["schemas"]
    for name, fields in openapi.RESOURCES.items():
        assert set(fields.values()) <= set(schemas[name]["required"]), name


def link(document: dict, operation_id: str, status: str, target: str) -> dict:
    response = operations_by_id(document)[operation_id]["responses"][status]
    return response["links"][target]["parameters"]


def test_the_chains_stateful_testing_walks_are_linked():
    document = openapi.document(GatewayService)
    by_id = {"campaign_id": "$response.body#/id"}
    for target in ("get_campaign", "publish_campaign", "delete_campaign", "close_campaign"):
        assert link(document, "create_campaign", "201", target) == by_id
    assert link(document, "create_campaign", "201", "update_campaign") == {
        **by_id,
        "header.If-Match": "$response.header.ETag",  # PATCH needs the version it edits
    }
    assert link(document, "publish_campaign", "200", "pause_campaign") == by_id
    assert link(document, "pause_campaign", "200", "resume_campaign") == by_id
    assert not operations_by_id(document)["list_campaigns"]["responses"]["200"].get("links")
    for target in ("get_application", "withdraw_application", "accept_application"):
        assert link(document, "apply", "201", target) == {"application_id": "$response.body#/id"}
    for source, target, parameter, value in (
        ("submit_deliverable", "approve_deliverable", "deliverable_id", "id"),
        ("create_tracking_link", "follow_tracking_link", "code", "code"),
        ("create_tracking_link", "disable_tracking_link", "link_id", "id"),
        ("create_ingestion_key", "revoke_ingestion_key", "key_id", "id"),
        ("create_ingestion_key", "ingest_events", "header.X-Ingestion-Key", "key"),
        ("open_conversation", "send_message", "conversation_id", "id"),
    ):
        assert link(document, source, "201", target) == {parameter: f"$response.body#/{value}"}


def test_each_role_fuzzes_statefully_only_what_it_may_call():
    from scripts.api_fuzz import SERVICE_ROLES, refused_to

    document = openapi.document(GatewayService)
    operations = operations_by_id(document)
    for name in SERVICE_ROLES:  # once the route states the roles, the fuzz run needs no entry
        assert "x-roles" not in operations[name], name
    brand, creator = refused_to("brand", document), refused_to("creator", document)
    assert {"apply", "withdraw_application", "submit_deliverable", "resubmit_deliverable"} <= set(
        brand
    )
    assert {"create_campaign", "publish_campaign", "accept_application", "approve_deliverable"} <= (
        set(creator)
    )
    assert "create_campaign" not in brand and "apply" not in creator
    assert not {"get_campaign", "create_tracking_link", "send_message"} & set(brand + creator)


def test_the_document_states_dates_cursors_and_patch_nulls():

    doc = openapi.document(GatewayService)
    patch = doc["components"]["schemas"]["CampaignPatch"]["properties"]
    assert "anyOf" not in patch["title"]  # null is refused: not offered
    assert patch["starts_at"]["pattern"] == TIMESTAMP_PATTERN
    campaigns = {p["name"]: p for p in doc["paths"]["/api/v1/campaigns"]["get"]["parameters"]}
    assert "opaque" in campaigns["cursor"]["schema"]["description"]


def test_the_redirect_is_public_and_documents_its_location():
    follow = openapi.document(GatewayService)["paths"]["/t/{code}"]["get"]
    assert "security" not in follow
    assert "Location" in follow["responses"]["302"]["headers"]
    assert "application/problem+json" in follow["responses"]["404"]["content"]


# --- what the document says the API accepts (issue 10, item 18) ---------------------------------


def operations_with_rules() -> set[str]:
    return {
        operation["operationId"]
        for operations in openapi.document(GatewayService)["paths"].values()
        for operation in operations.values()
        if operation.get("x-rules-beyond-schema")
    }


def test_fuzzing_tolerates_422_exactly_where_the_document_states_rules_beyond_the_schema():
    config = tomllib.loads((PROJECT_ROOT / "schemathesis.toml").read_text())
    assert "422" not in config["checks"]["positive_data_acceptance"]["expected-statuses"]
    [tolerant] = config["operations"]
    assert set(tolerant["include-operation-id"]) == operations_with_rules()
    statuses = tolerant["checks"]["positive_data_acceptance"]["expected-statuses"]
    assert statuses == ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]


def test_every_rule_beyond_the_schema_is_in_the_422_description():
    for operations in openapi.document(GatewayService)["paths"].values():
        for operation in operations.values():
            for rule in operation.get("x-rules-beyond-schema", []):
                assert rule in operation["responses"]["422"]["description"]
    assert "list_campaigns" in operations_with_rules()  # its cursor, min_budget <= max_budget


def test_every_free_text_body_string_refuses_nul_as_the_api_does():
    body = openapi.document(GatewayService)["components"]["schemas"]["MessageCreate"]["properties"][
        "body"
    ]
    assert re.fullmatch(body["pattern"].replace("\\u0000", "\x00"), "hello")
    assert not re.search(body["pattern"].replace("\\u0000", "\x00"), "a\x00b")
    with pytest.raises(InvalidInput):
        parse_model(MessageCreate, {"client_msg_id": "m1", "body": "a\x00b"})


def test_an_integral_float_is_an_integer_as_json_schema_says():
    assert parse_model(ReadMark, {"seq": 1354.0}).seq == 1354
    with pytest.raises(InvalidInput):
        parse_model(ReadMark, {"seq": 1354.5})


def test_an_unknown_time_zone_is_refused_and_the_document_lists_the_known_ones():

    summary = openapi.document(GatewayService)["paths"][
        "/api/v1/campaigns/{campaign_id}/analytics/summary"
    ]
    [tz] = [p for p in summary["get"]["parameters"] if p["name"] == "tz"]
    assert "Europe/Berlin" in tz["schema"]["enum"] and "Mars/Olympus" not in tz["schema"]["enum"]
    for name in tz["schema"]["enum"]:
        figures.zone(name)
    for name in ("Mars/Olympus", "posixrules", "../etc/passwd"):
        with pytest.raises(InvalidInput):
            figures.zone(name)


def test_role_restricted_routes_say_which_roles():
    document = openapi.document(GatewayService)
    assert (
        "Roles: brand (others: 403)."
        in document["paths"]["/api/v1/campaigns"]["post"]["description"]
    )
    assert "description" not in document["paths"]["/api/v1/campaigns"]["get"]  # any role


def test_the_docs_page_and_assets_are_documented_with_their_media_types():
    paths = openapi.document(GatewayService)["paths"]
    assert "text/html" in paths["/api/v1/docs"]["get"]["responses"]["200"]["content"]
    asset = paths["/api/v1/docs/{asset_name}"]["get"]
    assert "application/octet-stream" in asset["responses"]["200"]["content"]
    assert "security" not in asset


def test_every_operation_takes_and_answers_a_request_id():
    """The fuzz run sends X-Request-ID variants everywhere and checks every answer's header."""
    for operation in operations_by_id(openapi.document(GatewayService)).values():
        parameter = {(p["in"], p["name"]): p for p in operation["parameters"]}
        assert parameter[("header", "X-Request-ID")]["schema"] == {"type": "string"}
        for response in operation["responses"].values():
            header = response["headers"]["X-Request-ID"]
            assert header["required"] and header["schema"]["pattern"] == REQUEST_ID_PATTERN.pattern
