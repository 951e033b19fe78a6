"""CORS (chalicelib/cors.py): off by default, and when on, what allowed and refused origins get.

Driven through Chalice's test client and as Lambda invokes the function (REST and HTTP API events).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import app
from chalicelib import contract, cors
from chalicelib.config import ConfigurationError, Settings
from chalicelib.cors import CorsPolicy
from scripts.harness.lambda_events import LambdaContext, api_gateway_event, http_api_event

from .support import make_item

ALLOWED = "https://scores.example.com"
OTHER_ALLOWED = "http://localhost:3000"
REFUSED = "https://evil.example.net"
CORS_RESPONSE_HEADERS = {
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
}
PATHS = ["/llms", "/llms/gpt-4o", "/health"]


@pytest.fixture
def use_cors() -> Iterator[Callable[..., CorsPolicy]]:
    """Answers with the given origins for one test, then puts the stage's policy back."""
    previous: list[CorsPolicy] = []

    def use(*origins: str) -> CorsPolicy:
        policy = CorsPolicy(frozenset(origin.lower() for origin in origins))
        previous.append(cors.replace_cors_policy(policy))
        return policy

    yield use
    if previous:
        cors.replace_cors_policy(previous[0])


@pytest.fixture
def cors_on(use_cors: Callable[..., CorsPolicy]) -> CorsPolicy:
    return use_cors(ALLOWED, OTHER_ALLOWED)


@pytest.fixture
def catalogue(put_items: Callable[..., None]) -> None:
    put_items(make_item("gpt-4o"), make_item("o1"))


def headers_of(response: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def cors_headers(response: Any) -> set[str]:
    return set(headers_of(response)) & CORS_RESPONSE_HEADERS


def assert_api_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    body = json.loads(response.body)
    assert body["error"]["code"] == code and body["request_id"] == headers_of(response)["x-request-id"]


def assert_readable_by(response: Any, origin: str) -> None:
    headers = headers_of(response)
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-expose-headers"] == "ETag, Retry-After, X-Cache, X-Request-Id"
    assert "Origin" in [value.strip() for value in headers["vary"].split(",")]


# ---- off: the default ------------------------------------------------------------------------------------------


def test_cors_is_off_unless_origins_are_configured():
    assert Settings.from_environment({}).cors_allowed_origins == ()
    assert not CorsPolicy().enabled


@pytest.mark.parametrize("path", PATHS)
def test_off_options_is_405_with_allow_and_the_api_error_shape(api, catalogue, path):
    response = api.http.request("OPTIONS", path, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert_api_error(response, 405, contract.METHOD_NOT_ALLOWED.code)
    assert headers_of(response)["allow"] == "GET, HEAD"
    assert not cors_headers(response)


@pytest.mark.parametrize("path", PATHS)
def test_off_answers_carry_no_cors_headers_and_do_not_vary_on_origin(api, catalogue, path):
    response = api.http.get(path, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert not cors_headers(response)
    assert "origin" not in headers_of(response).get("vary", "").lower()


def test_every_route_declares_options_but_allow_names_only_get_and_head(api, catalogue):
    assert all(set(methods) == set(contract.ROUTE_METHODS) for methods in app.routes.values())
    response = api.http.post("/llms", body=b"{}", headers={"Content-Type": "application/json"})
    assert_api_error(response, 405, contract.METHOD_NOT_ALLOWED.code)
    assert headers_of(response)["allow"] == "GET, HEAD"


# ---- on: preflight ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_preflight_from_an_allowed_origin_is_204_with_methods_headers_and_max_age(api, cors_on, path):
    response = api.http.request(
        "OPTIONS",
        path,
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    headers = headers_of(response)
    assert response.status_code == 204 and response.body == b""
    assert_readable_by(response, ALLOWED)
    assert headers["access-control-allow-methods"] == "GET, HEAD"
    assert "If-None-Match" in headers["access-control-allow-headers"].split(", ")
    assert "X-Api-Key" in headers["access-control-allow-headers"].split(", ")
    assert int(headers["access-control-max-age"]) == cors.PREFLIGHT_MAX_AGE_SECONDS
    assert headers["allow"] == "GET, HEAD"
    assert headers["cache-control"] == "no-store" and headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", PATHS)
def test_preflight_from_a_refused_origin_is_204_without_any_cors_header(api, cors_on, path):
    response = api.http.request("OPTIONS", path, headers={"Origin": REFUSED, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204 and response.body == b""
    assert not cors_headers(response)
    assert headers_of(response)["vary"] == "Origin"
    assert headers_of(response)["allow"] == "GET, HEAD"


def test_options_without_an_origin_is_204_with_allow_when_on(api, cors_on):
    response = api.http.request("OPTIONS", "/llms?limit=0&unknown=1")
    # A preflight never reads the query: an invalid one is no reason to refuse it.
    assert response.status_code == 204 and headers_of(response)["allow"] == "GET, HEAD"
    assert not cors_headers(response)


def test_preflight_needs_no_database(api, cors_on, fresh_service, monkeypatch):
    monkeypatch.setattr(fresh_service.repository, "client", None)  # any DynamoDB call would now fail
    response = api.http.request("OPTIONS", "/llms", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204


# ---- on: actual requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_answers_to_an_allowed_origin_name_it_expose_headers_and_vary_on_origin(api, catalogue, cors_on, path):
    response = api.http.get(path, headers={"Origin": OTHER_ALLOWED})
    assert response.status_code == 200
    assert_readable_by(response, OTHER_ALLOWED)
    assert "access-control-allow-methods" not in headers_of(response)


def test_vary_keeps_accept_encoding_and_adds_origin(api, catalogue, cors_on):
    response = api.http.get("/llms", headers={"Origin": ALLOWED})
    assert headers_of(response)["vary"] == "Accept-Encoding, Origin"


def test_origin_is_matched_case_insensitively_and_echoed_as_sent(api, catalogue, cors_on):
    response = api.http.get("/health", headers={"Origin": "HTTPS://Scores.Example.com"})
    assert headers_of(response)["access-control-allow-origin"] == "HTTPS://Scores.Example.com"


def test_head_from_an_allowed_origin_carries_cors_headers_and_no_body(api, catalogue, cors_on):
    get = api.http.get("/llms/gpt-4o", headers={"Origin": ALLOWED})
    head = api.http.head("/llms/gpt-4o", headers={"Origin": ALLOWED})
    assert head.status_code == get.status_code == 200 and head.body == b""
    assert_readable_by(head, ALLOWED)
    assert headers_of(head)["etag"] == headers_of(get)["etag"]


def test_not_modified_answers_carry_cors_headers(api, catalogue, cors_on):
    etag = headers_of(api.http.get("/llms"))["etag"]
    response = api.http.get("/llms", headers={"Origin": ALLOWED, "If-None-Match": etag})
    assert response.status_code == 304
    assert_readable_by(response, ALLOWED)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/llms?limit=0", 400, "invalid_parameter"),
        ("GET", "/llms/no-such-model", 404, "not_found"),
        ("DELETE", "/llms", 405, "MethodNotAllowedError"),
        ("POST", "/health", 405, "MethodNotAllowedError"),
    ],
)
def test_errors_carry_cors_headers_too(api, catalogue, cors_on, method, path, status, code):
    response = api.http.request(method, path, headers={"Origin": ALLOWED})
    assert_api_error(response, status, code)
    assert_readable_by(response, ALLOWED)
    if status == 405:
        assert headers_of(response)["allow"] == "GET, HEAD"


def test_service_unavailable_carries_cors_headers(api, cors_on, fresh_service, monkeypatch):
    monkeypatch.setattr(fresh_service.repository, "client", None)  # nothing cached, and DynamoDB unreachable
    response = api.http.get("/llms", headers={"Origin": ALLOWED})
    assert_api_error(response, 503, "service_unavailable")
    assert_readable_by(response, ALLOWED)


def test_refused_origin_gets_the_answer_without_cors_headers_and_is_logged(api, catalogue, cors_on, log_lines):
    response = api.http.get("/llms", headers={"Origin": REFUSED})
    api.http.get("/llms", headers={"Origin": ALLOWED})
    api.http.get("/llms")
    assert response.status_code == 200 and not cors_headers(response)
    assert headers_of(response)["vary"] == "Accept-Encoding, Origin"
    refused, allowed, without = [line for line in log_lines() if line.get("message") == "request"]
    assert (refused["cors"], refused["origin"]) == ("refused", REFUSED)
    assert allowed["cors"] == "allowed" and "origin" not in allowed
    assert "cors" not in without


def test_a_long_refused_origin_is_logged_truncated(api, cors_on, log_lines):
    origin = "https://" + "a" * 500 + ".example"
    api.http.get("/health", headers={"Origin": origin})
    (line,) = [line for line in log_lines() if line.get("message") == "request"]
    assert line["origin"] == origin[: cors.LOGGED_ORIGIN_CHARACTERS]


def test_answers_without_an_origin_still_vary_on_it_so_caches_keep_them_apart(api, catalogue, cors_on):
    response = api.http.get("/llms/gpt-4o")
    assert not cors_headers(response)
    assert headers_of(response)["vary"] == "Accept-Encoding, Origin"


def test_any_origin_answers_star_to_everyone_and_needs_no_vary(api, catalogue, use_cors):
    use_cors("*")
    for headers in ({"Origin": REFUSED}, {}):
        response = api.http.get("/llms", headers=headers)
        assert headers_of(response)["access-control-allow-origin"] == "*"
        assert headers_of(response)["vary"] == "Accept-Encoding"
    preflight = api.http.request("OPTIONS", "/llms", headers={"Origin": REFUSED})
    assert preflight.status_code == 204 and headers_of(preflight)["access-control-allow-origin"] == "*"


# ---- as Lambda invokes it --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_event", [api_gateway_event, http_api_event], ids=["rest", "http-api"])
def test_proxy_events_get_the_same_cors_answers(fresh_service, catalogue, cors_on, make_event):
    preflight = app(make_event("/llms/gpt-4o", headers={"Origin": ALLOWED}, method="OPTIONS"), LambdaContext())
    assert preflight["statusCode"] == 204
    assert preflight["headers"]["Access-Control-Allow-Origin"] == ALLOWED
    answer = app(make_event("/llms", headers={"origin": ALLOWED}), LambdaContext())
    assert answer["statusCode"] == 200 and answer["headers"]["Access-Control-Allow-Origin"] == ALLOWED


def test_proxy_event_options_is_405_when_off(fresh_service):
    response = app(api_gateway_event("/health", method="OPTIONS"), LambdaContext())
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "GET, HEAD"
    assert json.loads(response["body"])["error"]["code"] == contract.METHOD_NOT_ALLOWED.code


# ---- configuration ---------------------------------------------------------------------------------------------


def test_origins_are_trimmed_lower_cased_and_deduplicated():
    settings = Settings.from_environment(
        {"CORS_ALLOWED_ORIGINS": " https://A.example.com, http://localhost:3000,,https://a.example.com "}
    )
    assert settings.cors_allowed_origins == ("https://a.example.com", "http://localhost:3000")
    assert Settings.from_environment({"CORS_ALLOWED_ORIGINS": "http://[::1]:8080"}).cors_allowed_origins == (
        "http://[::1]:8080",
    )
    assert Settings.from_environment({"CORS_ALLOWED_ORIGINS": " * "}).cors_allowed_origins == ("*",)


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/",
        "https://example.com/app",
        "example.com",
        "ftp://example.com",
        "null",
        "*, https://example.com",
        "https://exa mple.com",
    ],
)
def test_a_value_that_is_not_an_origin_fails_loudly_naming_the_variable(value):
    with pytest.raises(ConfigurationError, match="CORS_ALLOWED_ORIGINS"):
        Settings.from_environment({"CORS_ALLOWED_ORIGINS": value})
