"""Security properties over real HTTP against `chalice local`: headers and error shape on every route and
error path, no reflected markup, and logs free of credentials and raw events.

tests/unit/test_routes.py and tests/unit/test_lambda_invocation.py check some of this in-process;
here it goes through the dev server's real request parsing, for every route and every error status.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator

import pytest

from chalicelib import contract
from chalicelib.query import encode_token
from chalicelib.responses import SECURITY_HEADERS
from scripts.harness.local_stack import ChaliceLocal, HttpAnswer, Moto, free_port, local_table_name

pytestmark = pytest.mark.integration

HOSTILE_VALUES = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "ünïcødé<ø>\u2028\u202e",
    "%3Cscript%3E",
    "a&b=<c>",
]
# Every route's parameters, as the contract the app enforces lists them.
QUERY_PARAMETERS = {
    route.path: sorted(route.query_parameters) for route in contract.ROUTES.values() if route.query_parameters
}
SECRETS = {
    "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl",
    "Cookie": "session=cookie-secret-4711",
    "X-Api-Key": "api-key-secret-0815",
}


@pytest.fixture(scope="module")
def apis() -> Iterator[tuple[ChaliceLocal, ChaliceLocal]]:
    """A healthy API, and a cold one whose DynamoDB endpoint refuses connections (for the 503 paths)."""
    moto = Moto.start()
    started: list[ChaliceLocal] = []
    try:
        moto.create_table(local_table_name())
        started.append(ChaliceLocal.start(moto.endpoint))
        dead_endpoint = f"http://127.0.0.1:{free_port()}"
        started.append(
            ChaliceLocal.start(dead_endpoint, {"DYNAMODB_MAX_ATTEMPTS": "1", "DYNAMODB_CONNECT_TIMEOUT_SECONDS": "0.2"})
        )
        yield started[0], started[1]
    finally:
        for api in started:
            api.stop()
        moto.stop()


def request(api: ChaliceLocal, method: str, path: str, headers: dict[str, str] | None = None) -> HttpAnswer:
    """Sends `path` exactly as given (http.client does not re-encode it)."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        body = b"{}" if method in {"POST", "PUT", "PATCH"} else None
        all_headers = {"Content-Type": "application/json", **(headers or {})} if body else dict(headers or {})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return HttpAnswer(response.status, dict(response.getheaders()), response.read(), 0.0)
    finally:
        connection.close()


def assert_security_headers(answer: HttpAnswer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.header(name) == value, (name, answer.status, answer.headers)
    assert answer.header("X-Request-Id")


def assert_error(answer: HttpAnswer, status: int, code: str) -> None:
    assert answer.status == status, answer.body[:300]
    assert_security_headers(answer)
    assert answer.header("Content-Type") == "application/json; charset=utf-8"
    assert answer.header("Cache-Control") == "no-store"
    body = answer.json()
    assert set(body) == {"error", "request_id"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and isinstance(body["error"]["message"], str)
    assert body["request_id"] == answer.header("X-Request-Id")


@pytest.mark.parametrize("path", ["/llms", "/llms?provider=openai&sort=score&order=desc&limit=3", "/llms/gpt-4o"])
def test_successful_and_not_modified_answers_carry_security_headers(apis, path):
    healthy, _ = apis
    answer = request(healthy, "GET", path)
    assert answer.status == 200
    assert_security_headers(answer)
    again = request(healthy, "GET", path, {"If-None-Match": answer.header("ETag")})
    assert again.status == 304 and again.body == b""
    assert_security_headers(again)


@pytest.mark.parametrize("path", ["/health", "/health?deep=true"])
def test_health_answers_carry_security_headers_and_are_never_cached(apis, path):
    answer = request(apis[0], "GET", path)
    assert answer.status == 200 and answer.header("Cache-Control") == "no-store"
    assert_security_headers(answer)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/llms?limit=0", 400, "invalid_parameter"),
        ("/llms?limit=1&limit=2", 400, "invalid_parameter"),
        ("/llms?next_token=forged", 400, "invalid_parameter"),
        ("/llms/gpt-4o?verbose=1", 400, "invalid_parameter"),
        ("/health?deep=maybe", 400, "invalid_parameter"),
        ("/llms/no-such-model", 404, "not_found"),
    ],
)
def test_client_errors_have_the_error_shape_and_security_headers(apis, path, status, code):
    assert_error(request(apis[0], "GET", path), status, code)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/llms", "/llms/gpt-4o", "/health"])
def test_other_methods_are_405_with_allow_and_the_error_shape(apis, path, method):
    answer = request(apis[0], method, path)
    assert_error(answer, 405, "MethodNotAllowedError")
    assert answer.header("Allow") == "GET, HEAD"


@pytest.mark.parametrize("path", ["/llms?limit=2", "/llms/gpt-4o", "/health", "/llms/no-such-model"])
def test_head_over_http_answers_like_get_without_a_body(apis, path):
    get, head = request(apis[0], "GET", path), request(apis[0], "HEAD", path)
    assert head.status == get.status and head.body == b""
    assert head.header("ETag") == get.header("ETag")
    assert_security_headers(head)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/llms", "service_unavailable"),
        ("/llms/gpt-4o", "service_unavailable"),
        ("/health?deep=true", "dependency_unavailable"),
    ],
)
def test_unavailable_answers_have_the_error_shape_security_headers_and_retry_after(apis, path, code):
    answer = request(apis[1], "GET", path)
    assert_error(answer, 503, code)
    assert int(answer.header("Retry-After")) >= 1


def hostile_requests() -> Iterator[str]:
    for value in HOSTILE_VALUES:
        quoted = urllib.parse.quote(value, safe="")
        yield f"/llms/{quoted}"
        yield f"/llms/{quoted}?{quoted}=1"
        for route, names in QUERY_PARAMETERS.items():
            yield f"{route}?{quoted}={quoted}"
            for name in names:
                yield f"{route}?{name}={quoted}"
        # Quotes and angle brackets sent raw, unencoded, as a careless client would.
        raw = "".join(c if c.isascii() and c not in " &#%" else urllib.parse.quote(c) for c in value)
        yield f"/llms?provider={raw}"
        yield f"/llms/{raw}"


def test_request_input_is_never_reflected_as_markup(apis):
    checked = 0
    for path in hostile_requests():
        answer = request(apis[0], "GET", path)
        assert answer.status in {200, 400, 403, 404}, (path, answer.status)
        assert b"<" not in answer.body and b">" not in answer.body, (path, answer.body[:300])
        if answer.status != 403:  # 403 is the dev server's own "Missing Authentication Token", not our route
            assert answer.header("Content-Type") == "application/json; charset=utf-8", path
            json.loads(answer.body or b"{}")
        checked += 1
    assert checked >= len(HOSTILE_VALUES) * 10


def test_logs_never_hold_credentials_headers_or_the_raw_event(apis):
    healthy, cold = apis
    secret_query = "query-secret-31337"
    for api in (healthy, cold):
        for method, path in (
            ("GET", "/llms?limit=2"),
            ("GET", f"/llms?provider={secret_query}"),
            ("GET", f"/llms?limit={secret_query}"),
            ("GET", "/llms/no-such-model"),
            ("POST", "/llms"),
            ("GET", "/health?deep=true"),
        ):
            request(api, method, path, SECRETS)
    for api in (healthy, cold):
        text = api.stdout_path.read_text()
        assert '"message":"request"' in text.replace(" ", "")  # the log is really there
        for secret in [*SECRETS.values(), secret_query]:
            assert secret not in text
        for raw_event_marker in ("Authorization", "multiValueHeaders", "requestContext", "queryStringParameters"):
            assert raw_event_marker not in text


def test_token_with_a_valid_checksum_and_a_sort_value_of_the_wrong_type_is_a_400(apis):
    token = encode_token("|score|asc", (False, "not-a-number", "x"))
    assert_error(request(apis[0], "GET", f"/llms?sort=score&next_token={token}"), 400, "invalid_parameter")
