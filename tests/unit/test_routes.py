"""The HTTP contract, driven through Chalice's test client against moto's in-process DynamoDB."""

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib.query import encode_token

from .support import TABLE, make_item

# Rows another writer could leave in the table, each breaking one rule the API serves by.
MALFORMED_ROWS = [
    {
        "model_name": {"S": "year-one"},
        "provider": {"S": "A"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "updated_at": {"S": "0001-01-01T00:00:00+01:00"},
    },
    {
        "model_name": {"S": "year-9999"},
        "provider": {"S": "A"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "updated_at": {"S": "9999-12-31T23:00:00-05:00"},
    },
    {
        "model_name": {"S": "not-a-time"},
        "provider": {"S": "A"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "updated_at": {"S": "last tuesday"},
    },
    {
        "model_name": {"S": "set-provider"},
        "provider": {"SS": ["a", "b"]},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
    },
    {"model_name": {"S": "text-score"}, "provider": {"S": "A"}, "context_window": {"N": "8"}, "score": {"S": "hi"}},
    {"model_name": {"S": "no-score"}, "provider": {"S": "A"}, "context_window": {"N": "8"}},
    {
        "model_name": {"S": "bad date"},
        "provider": {"S": "A"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "release_date": {"S": "2024-02-30"},
    },
    {"model_name": {"S": "<script>"}, "provider": {"S": "A"}, "context_window": {"N": "8"}, "score": {"N": "1"}},
]
VALID_ROW_WITH_EXTRAS = {
    "model_name": {"S": "extra-attributes"},
    "provider": {"S": "Acme"},
    "context_window": {"N": "8"},
    "score": {"N": "1"},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2"]},
    "blob": {"B": b"\x00"},
    "blobs": {"BS": [b"\x01"]},
    "notes": {"L": [{"S": "x"}]},
    "meta": {"M": {"k": {"BOOL": True}}},
    "gone": {"NULL": True},
    "flag": {"BOOL": False},
}
PADDED_PROVIDER_ROW = {
    "model_name": {"S": "padded-provider"},
    "provider": {"S": "OpenAI "},
    "context_window": {"N": "8"},
    "score": {"N": "1"},
}

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "X-Request-Id")


def body(response):
    return json.loads(response.body)


def assert_error(response, status, code, mentions=None):
    assert response.status_code == status
    payload = body(response)
    assert set(payload) == {"error", "request_id"}
    assert payload["error"]["code"] == code
    assert payload["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.body.decode()
    if mentions:
        assert mentions in payload["error"]["message"]
    for header in SECURITY_HEADERS:
        assert header in response.headers


@pytest.fixture
def catalogue(put_items):
    put_items(
        make_item("gpt-4o", provider="OpenAI", score=88.7, context_window=128000, release_date="2024-05-13"),
        make_item("o1", provider="OpenAI", score=91.8, context_window=200000, release_date="2024-12-05"),
        make_item("claude-3.5-sonnet", provider="Anthropic", score=90.5, context_window=200000),
        make_item("llama-3.1-8b", provider="Meta", score=73, context_window=128000, benchmarks={"mmlu": 73}),
    )


def test_list_returns_items_count_and_json_numbers(api, catalogue):
    response = api.http.get("/llms")
    assert response.status_code == 200
    payload = body(response)
    assert payload["count"] == 4 and "next_token" not in payload
    assert [item["model_name"] for item in payload["items"]] == ["claude-3.5-sonnet", "gpt-4o", "llama-3.1-8b", "o1"]
    llama = payload["items"][2]
    assert llama["score"] == 73 and isinstance(llama["score"], int)
    assert llama["benchmarks"] == {"mmlu": 73}
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Cache"] == "MISS"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    for header in SECURITY_HEADERS + ("ETag",):
        assert header in response.headers


def test_second_request_is_a_cache_hit(api, catalogue):
    api.http.get("/llms")
    assert api.http.get("/llms").headers["X-Cache"] == "HIT"


def test_provider_filter_is_case_insensitive_and_sort_orders(api, catalogue):
    payload = body(api.http.get("/llms?provider=openai&sort=score&order=desc"))
    assert [item["model_name"] for item in payload["items"]] == ["o1", "gpt-4o"]
    assert body(api.http.get("/llms?provider=nobody"))["items"] == []


def test_paging_yields_every_item_exactly_once(api, put_items):
    put_items(*[make_item(f"model-{index:03d}", score=index % 7) for index in range(57)])
    for sort in ("model_name", "score", "release_date"):
        for order in ("asc", "desc"):
            seen, token = [], None
            while True:
                url = f"/llms?limit=10&sort={sort}&order={order}" + (f"&next_token={token}" if token else "")
                payload = body(api.http.get(url))
                assert payload["count"] == len(payload["items"]) <= 10
                seen += [item["model_name"] for item in payload["items"]]
                token = payload.get("next_token")
                if token is None:
                    break
            assert len(seen) == 57 and len(set(seen)) == 57, (sort, order)


def test_paging_survives_a_refresh_that_removes_the_last_seen_item(api, fresh_service, put_items, dynamodb):
    put_items(*[make_item(f"m{index}") for index in range(6)])
    first = body(api.http.get("/llms?limit=3"))
    dynamodb.delete_item(TableName=TABLE, Key={"model_name": {"S": "m2"}})
    fresh_service.cache.invalidate()
    second = body(api.http.get(f"/llms?limit=3&next_token={first['next_token']}"))
    assert [item["model_name"] for item in second["items"]] == ["m3", "m4", "m5"]


def test_conditional_get_answers_304_with_empty_body(api, catalogue):
    first = api.http.get("/llms?limit=2")
    etag = first.headers["ETag"]
    second = api.http.get("/llms?limit=2", headers={"If-None-Match": etag})
    assert second.status_code == 304 and second.body == b""
    assert second.headers["ETag"] == etag
    assert api.http.get("/llms?limit=3", headers={"If-None-Match": etag}).status_code == 200
    strong_form = etag.removeprefix("W/")
    assert api.http.get("/llms?limit=2", headers={"If-None-Match": f'"other", {strong_form}'}).status_code == 304


@pytest.mark.parametrize("path", ["/llms", "/llms/gpt-4o"])
def test_etags_are_weak_because_api_gateway_may_compress(api, catalogue, path):
    etag = api.http.get(path).headers["ETag"]
    assert etag.startswith('W/"') and etag.endswith('"')


@pytest.mark.parametrize("path", ["/llms?limit=2", "/llms/gpt-4o", "/health", "/health?deep=true", "/llms/nobody"])
def test_head_answers_like_get_without_a_body(api, catalogue, path):
    api.http.get(path)  # warm the cache, so both answers below are hits
    get = api.http.get(path)
    head = api.http.request("HEAD", path)
    assert head.status_code == get.status_code
    assert head.body == b""
    varying = {"X-Request-Id", "Content-Length"}
    assert {name: value for name, value in head.headers.items() if name not in varying} == {
        name: value for name, value in get.headers.items() if name not in varying
    }


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "foo"]
)
def test_get_with_any_content_type_is_answered_like_any_other_get(api, catalogue, content_type):
    response = api.http.get("/llms/gpt-4o", headers={"Content-Type": content_type})
    assert response.status_code == 200 and body(response)["model_name"] == "gpt-4o"


def test_get_one_model_and_its_conditional_get(api, catalogue):
    response = api.http.get("/llms/gpt-4o")
    assert response.status_code == 200 and body(response)["model_name"] == "gpt-4o"
    again = api.http.get("/llms/gpt-4o", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_model_is_404_with_input_escaped(api, catalogue):
    response = api.http.get("/llms/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert_error(response, 404, "not_found")
    assert b"<script>" not in response.body


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/llms?limit=0", "limit"),
        ("/llms?limit=abc", "limit"),
        ("/llms?sort=price", "sort"),
        ("/llms?order=sideways", "order"),
        ("/llms?unknown=1", "unknown"),
        ("/llms?next_token=AAAA", "next_token"),
        ("/llms/gpt-4o?verbose=1", "verbose"),
        ("/health?deep=maybe", "deep"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api, catalogue, url, parameter):
    assert_error(api.http.get(url), 400, "invalid_parameter", parameter)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 2**53, -(2**60)])
def test_token_holding_a_number_no_item_can_hold_is_a_400(api, catalogue, value):
    token = encode_token("|score|asc", (False, value, "gpt-4o"))
    assert_error(api.http.get(f"/llms?sort=score&next_token={token}"), 400, "invalid_parameter", "next_token")


def test_token_from_another_ordering_is_refused(api, put_items):
    put_items(*[make_item(f"m{index}") for index in range(4)])
    token = body(api.http.get("/llms?limit=2"))["next_token"]
    assert_error(api.http.get(f"/llms?limit=2&sort=score&next_token={token}"), 400, "invalid_parameter", "next_token")


def test_wrong_method_gets_the_api_error_shape(api, catalogue):
    response = api.http.post("/llms", body=b"{}", headers={"Content-Type": "application/json"})
    assert_error(response, 405, "MethodNotAllowedError")


def test_health_does_not_touch_dynamodb(api, fresh_service, monkeypatch):
    monkeypatch.setattr(fresh_service.repository, "client", None)  # any DynamoDB call would now fail
    response = api.http.get("/health")
    assert response.status_code == 200 and body(response) == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_deep_health_checks_the_table(api, catalogue):
    payload = body(api.http.get("/health?deep=true"))
    assert payload["status"] == "ok" and payload["checks"] == {"dynamodb": "ok"}


def test_deep_health_is_503_when_the_table_is_unreachable(api, dynamodb, log_lines):
    dynamodb.delete_table(TableName=TABLE)
    response = api.http.get("/health?deep=true")
    assert_error(response, 503, "dependency_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    # The public learns only that a dependency is down; the table, endpoint and exception go to the log.
    text = response.body.decode()
    for private in (TABLE, "DynamoDB", "ResourceNotFound", "amazonaws", "127.0.0.1"):
        assert private not in text
    (failure,) = [line for line in log_lines() if line["message"] == "dependency check failed"]
    assert TABLE in failure["error"] and "ResourceNotFoundException" in failure["error"]


def test_malformed_items_are_skipped_not_fatal(api, catalogue, dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={"model_name": {"S": "broken"}, "provider": {"N": "3"}})
    dynamodb.put_item(TableName=TABLE, Item={"model_name": {"S": "no-score"}, "provider": {"S": "x"}})
    payload = body(api.http.get("/llms"))
    assert payload["count"] == 4
    assert "broken" not in [item["model_name"] for item in payload["items"]]


def test_every_valid_row_is_served_beside_every_malformed_one(api, catalogue, dynamodb, log_lines):
    for item in MALFORMED_ROWS:
        dynamodb.put_item(TableName=TABLE, Item=item)
    dynamodb.put_item(TableName=TABLE, Item=VALID_ROW_WITH_EXTRAS)
    dynamodb.put_item(TableName=TABLE, Item=PADDED_PROVIDER_ROW)
    first = api.http.get("/llms?limit=1000")
    assert first.status_code == 200
    served = [item["model_name"] for item in body(first)["items"]]
    assert served == ["claude-3.5-sonnet", "extra-attributes", "gpt-4o", "llama-3.1-8b", "o1", "padded-provider"]
    assert body(api.http.get("/llms?provider=OpenAI"))["count"] == 3
    assert api.http.get("/llms/gpt-4o").status_code == 200

    lines = log_lines()
    skipped_lines = [line for line in lines if line["message"] == "skipped malformed items"]
    assert len(skipped_lines) == 1, "logged once per refresh, not once per request"
    assert {skip["key"] for skip in skipped_lines[0]["skipped"]} == {item["model_name"]["S"] for item in MALFORMED_ROWS}
    request_lines = [line for line in lines if line["message"] == "request"]
    assert request_lines[0]["SkippedItems"] == len(MALFORMED_ROWS)
    assert all("SkippedItems" not in line for line in request_lines[1:])


def test_a_row_whose_parsing_raises_anything_costs_only_itself(api, catalogue, dynamodb, monkeypatch):
    from chalicelib import repository

    real = repository.item_from_dynamodb

    def parse(attributes):
        if attributes["model_name"]["S"] == "o1":
            raise KeyError("a parser bug")
        return real(attributes)

    monkeypatch.setattr(repository, "item_from_dynamodb", parse)
    payload = body(api.http.get("/llms"))
    assert [item["model_name"] for item in payload["items"]] == ["claude-3.5-sonnet", "gpt-4o", "llama-3.1-8b"]


def fail_scans(monkeypatch, service):
    def refuse(**_):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(service.repository.client, "scan", refuse)


def test_stale_snapshot_served_when_dynamodb_refuses(api, catalogue, fresh_service, monkeypatch):
    api.http.get("/llms")
    fresh_service.cache.invalidate()
    fail_scans(monkeypatch, fresh_service)
    response = api.http.get("/llms")
    assert response.status_code == 200
    assert response.headers["X-Cache"] == "STALE"
    assert body(response)["count"] == 4
    assert response.headers["Cache-Control"] == "public, max-age=5"


def test_cold_container_with_dead_dynamodb_answers_503_with_retry_after(api, catalogue, fresh_service, monkeypatch):
    fail_scans(monkeypatch, fresh_service)
    for url in ("/llms", "/llms/gpt-4o"):
        response = api.http.get(url)
        assert_error(response, 503, "service_unavailable")
        assert 1 <= int(response.headers["Retry-After"]) <= 5
        assert response.headers["Cache-Control"] == "no-store"


def test_unexpected_exception_is_a_logged_500_without_stack_trace(
    api, catalogue, fresh_service, monkeypatch, log_lines
):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(fresh_service.cache, "read", explode)
    response = api.http.get("/llms")
    assert_error(response, 500, "internal_error")
    assert b"secret internals" not in response.body
    error_line, request_line = log_lines()
    assert error_line["level"] == "ERROR" and "secret internals" in error_line["exception"]
    assert request_line["status"] == 500 and request_line["ServerErrors"] == 1


def test_page_stops_at_the_payload_budget_and_paging_still_covers_everything(api, put_items, fresh_service):
    put_items(*[make_item(f"model-{index:02d}", benchmarks={f"b{n}": n for n in range(20)}) for index in range(30)])
    first = body(api.http.get("/llms?limit=5"))
    item_size = len(json.dumps(json.dumps(first["items"][0])))
    fresh_service.page_payload_budget_bytes = item_size * 3
    seen, token, pages = [], None, 0
    while True:
        payload = body(api.http.get("/llms?limit=1000" + (f"&next_token={token}" if token else "")))
        assert 1 <= payload["count"] <= 3
        seen += [item["model_name"] for item in payload["items"]]
        pages += 1
        token = payload.get("next_token")
        if token is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == 30 and pages >= 10


def test_chalice_does_not_silence_the_request_log():
    import logging

    from app import app
    from chalicelib.observability import logger

    assert app.configure_logs is False
    assert logger.getEffectiveLevel() == logging.INFO and app.log is logger
