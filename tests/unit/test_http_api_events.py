"""The contract behind an HTTP API (payload format 1.0): the same answers as behind the REST API.

`api_type = "HTTP"` (infra/terraform/http_api.tf) puts an HTTP API in front of the same `live`
alias. Its format 1.0 event keeps the REST proxy shape Chalice routes on, but differs in the details
(lower-case header names, no stage in the path on `$default`, `version`, `routeKey`). Each request
below is sent both ways, in-process as Lambda would, and must get the same status, headers and body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app
from chalicelib import contract
from scripts.harness.lambda_events import LambdaContext, api_gateway_event, http_api_event

from .support import make_item

# Differ by design between two invocations: the request id is the event's, the cache state the container's.
PER_INVOCATION_HEADERS = {"x-request-id", "x-cache"}
MODELS = ("gpt-4o", "o1", "claude-3", "gemini-2", "llama-3")


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    response = app(event, LambdaContext())
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    multi = {name.lower(): value for name, value in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], {**headers, **multi}, response["body"]


# Body fields that differ between two invocations: error bodies carry the request id, deep health the snapshot's age.
PER_INVOCATION_FIELDS = {"request_id", "age_seconds"}


def comparable(body: str) -> Any:
    """The body without its per-invocation fields."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items() if key not in PER_INVOCATION_FIELDS}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(json.loads(body)) if body else body


Query = dict[str, str | list[str]]


def both_ways(
    path: str, query: Query | None = None, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, Any], str]:
    """Sends the request as a REST proxy event and as an HTTP API 1.0 event; returns the HTTP API's answer."""
    rest_status, rest_headers, rest_body = invoke(api_gateway_event(path, query, headers, method))
    http_event = http_api_event(path, query, headers, method)
    http_status, http_headers, http_body = invoke(http_event)
    assert http_status == rest_status, (method, path, query)
    for name in set(rest_headers) | set(http_headers):
        if name not in PER_INVOCATION_HEADERS:
            assert http_headers.get(name) == rest_headers.get(name), (method, path, name)
    assert comparable(http_body) == comparable(rest_body), (method, path, query)
    assert http_headers["x-request-id"] == http_event["requestContext"]["requestId"]
    return http_status, http_headers, http_body


@pytest.fixture
def seeded(fresh_service, put_items):
    put_items(*(make_item(name, score=float(index)) for index, name in enumerate(MODELS)))
    # One read first, so both shapes of every request below are served from the same snapshot.
    assert invoke(http_api_event("/llms"))[0] == 200


def test_http_api_event_has_the_payload_1_0_shape_chalice_routes_on() -> None:
    event = http_api_event("/llms/gpt-4o", query={"x": ["1", "2"]}, headers={"If-None-Match": '"abc"'}, method="HEAD")
    assert event["version"] == "1.0"
    assert event["resource"] == event["requestContext"]["resourcePath"] == contract.ITEM.path
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "HEAD"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["routeKey"] == "HEAD /llms/{model_name}"
    assert event["pathParameters"] == {"model_name": "gpt-4o"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["headers"]["if-none-match"] == '"abc"' and "If-None-Match" not in event["headers"]


def test_every_contract_route_and_method_is_routed_alike_from_an_http_api_event(seeded) -> None:
    paths = {contract.LIST.path: "/llms", contract.ITEM.path: "/llms/gpt-4o", contract.HEALTH.path: "/health"}
    assert set(paths) == set(contract.ROUTES), "a route added to the contract needs a request here"
    for route, path in paths.items():
        for method in contract.METHODS:
            status, headers, body = both_ways(path, method=method)
            assert status == 200, (method, route)
            assert (body == "") is (method == "HEAD"), (method, route)
            assert headers["content-type"].startswith("application/json"), (method, route)
        # OPTIONS is declared on every route for CORS preflights (chalicelib/cors.py); whatever it answers
        # with CORS off or on, both event shapes get the same.
        for method in set(contract.ROUTE_METHODS) - set(contract.METHODS):
            both_ways(path, method=method, headers={"Origin": "https://example.test"})


def test_list_paginates_the_same_behind_an_http_api(seeded) -> None:
    seen: list[str] = []
    query: Query = {"limit": "2", "sort": "score", "order": "desc"}
    for _ in range(len(MODELS)):
        status, _, body = both_ways("/llms", query)
        assert status == 200
        page = json.loads(body)
        seen += [item["model_name"] for item in page["items"]]
        if not page.get("next_token"):
            break
        query = {**query, "next_token": page["next_token"]}
    assert seen == list(reversed(MODELS))


def test_provider_filter_and_repeated_parameters_read_alike(seeded) -> None:
    status, _, body = both_ways("/llms", {"provider": "Acme", "limit": "1"})
    assert status == 200 and json.loads(body)["count"] == 1
    # A repeated parameter arrives in multiValueQueryStringParameters either way and is refused alike.
    status, _, body = both_ways("/llms", {"limit": ["1", "2"]})
    assert status == 400 and json.loads(body)["error"]["code"] == contract.INVALID_PARAMETER.code


def test_item_and_unknown_item_answer_alike(seeded) -> None:
    status, _, body = both_ways("/llms/o1")
    assert status == 200 and json.loads(body)["model_name"] == "o1"
    status, headers, body = both_ways("/llms/no-such-model")
    assert status == 404 and json.loads(body)["error"]["code"] == contract.NOT_FOUND.code
    assert headers["cache-control"] == "no-store"


def test_invalid_parameters_get_the_same_400(seeded) -> None:
    for path, query in (("/llms", {"limit": "0"}), ("/llms", {"sort": "nope"}), ("/health", {"deep": "maybe"})):
        status, _, body = both_ways(path, query)
        assert status == 400, (path, query)
        assert json.loads(body)["error"]["code"] == contract.INVALID_PARAMETER.code


def test_conditional_get_answers_304_from_lower_case_headers(seeded) -> None:
    _, headers, _ = both_ways("/llms")
    etag = headers["etag"]
    for path in ("/llms", "/llms/gpt-4o"):
        _, headers, _ = both_ways(path)
        status, _, body = both_ways(path, headers={"If-None-Match": headers["etag"]})
        assert status == 304 and body == "", path
    assert http_api_event("/llms", headers={"If-None-Match": etag})["headers"]["if-none-match"] == etag


def test_head_answers_like_get_without_a_body(seeded) -> None:
    _, get_headers, get_body = both_ways("/llms", {"limit": "2"})
    status, head_headers, head_body = both_ways("/llms", {"limit": "2"}, method="HEAD")
    assert status == 200 and head_body == "" and get_body
    assert head_headers["etag"] == get_headers["etag"]


def test_health_and_deep_health_answer_alike(seeded) -> None:
    for query in (None, {"deep": "true"}):
        status, headers, body = both_ways("/health", query)
        assert status == 200, query
        assert headers["cache-control"] == "no-store"
        assert json.loads(body)


def test_a_method_outside_the_contract_is_refused_alike(seeded) -> None:
    # The HTTP API declares only GET and HEAD routes; should one ever reach the function, it answers as REST's would.
    status, _, body = both_ways("/llms", method="POST")
    assert status == contract.METHOD_NOT_ALLOWED.status
    assert json.loads(body)["error"]["code"] == contract.METHOD_NOT_ALLOWED.code
