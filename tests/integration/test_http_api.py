"""The API over real HTTP: `chalice local` against moto's server, both started here on loopback."""

import json

import pytest

from chalicelib.models import item_to_dynamodb, validate_item
from scripts.harness.local_stack import local_table_name
from scripts.operations import seed_data

# The table `make_stack` creates and seeds (conftest.py).
TABLE = local_table_name()

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(make_stack):
    return make_stack()


def test_listing_and_headers_over_http(stack):
    answer = stack.get("/llms?provider=OPENAI&sort=score&order=desc&limit=3")
    assert answer.status == 200
    payload = answer.json()
    assert payload["count"] == 3 and "next_token" in payload
    scores = [item["score"] for item in payload["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {item["provider"] for item in payload["items"]} == {"OpenAI"}
    for header in ("ETag", "X-Cache", "X-Request-Id", "Cache-Control", "X-Content-Type-Options"):
        assert header in answer.headers


def test_conditional_get_over_http(stack):
    first = stack.get("/llms?limit=5")
    second = stack.get("/llms?limit=5", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status == 304 and second.body == b""
    one = stack.get("/llms/gpt-4o")
    assert stack.get("/llms/gpt-4o", headers={"If-None-Match": one.headers["ETag"]}).status == 304


def test_errors_are_json_over_http(stack):
    for path, status in (("/llms?limit=5000", 400), ("/llms/not-a-model", 404), ("/health?deep=perhaps", 400)):
        answer = stack.get(path)
        assert answer.status == status
        assert set(answer.json()) == {"error", "request_id"}
        assert answer.headers["Content-Type"].startswith("application/json")


def test_deep_health_over_http(stack):
    assert stack.get("/health?deep=true").json()["checks"] == {"dynamodb": "ok"}


def rich_item(index):
    return validate_item(
        {
            "model_name": f"bulk-model-{index:05d}",
            "provider": f"Provider {index % 13}",
            "version": f"v{index % 7}.{index % 11}",
            "release_date": f"20{20 + index % 6}-0{1 + index % 9}-1{index % 10}",
            "context_window": 4096 * (1 + index % 64),
            "score": round(40 + (index * 7919 % 6000) / 100, 2),
            "benchmarks": {f"benchmark_{number:02d}": round((index * number) % 1000 / 10, 1) for number in range(20)},
            "updated_at": "2026-11-01T00:00:00Z",
        }
    )


def test_multi_page_table_is_read_whole_and_paged_exactly_once(make_stack):
    stack = make_stack(DYNAMODB_READ_TIMEOUT_SECONDS="30", CACHE_TTL_SECONDS="300")
    items = [rich_item(index) for index in range(3500)]
    seed_data.seed(stack.client, TABLE, items, force=True)
    raw_bytes = sum(len(json.dumps(item_to_dynamodb(item))) for item in items)
    assert raw_bytes > 1_500_000
    assert "LastEvaluatedKey" in stack.client.scan(TableName=TABLE, Select="COUNT")  # more than one 1 MB page
    expected = len(items) + len(seed_data.load_items(seed_data.DEFAULT_FILE))
    for sort, order in (("model_name", "asc"), ("score", "desc"), ("release_date", "asc")):
        seen, token = [], None
        while True:
            path = f"/llms?limit=1000&sort={sort}&order={order}" + (f"&next_token={token}" if token else "")
            answer = stack.get(path, timeout=120)
            assert answer.status == 200, answer.body[:300]
            payload = answer.json()
            seen += [item["model_name"] for item in payload["items"]]
            token = payload.get("next_token")
            if not token:
                break
        assert len(seen) == expected and len(set(seen)) == expected, (sort, order)


def test_malformed_items_are_skipped_over_http(make_stack):
    stack = make_stack()
    stack.client.put_item(TableName=TABLE, Item={"model_name": {"S": "broken"}, "score": {"S": "high"}})
    stack.client.put_item(TableName=TABLE, Item=item_to_dynamodb(validate_item(rich_item(1))))
    names = []
    token = None
    while True:
        payload = stack.get("/llms?limit=1000" + (f"&next_token={token}" if token else "")).json()
        names += [item["model_name"] for item in payload["items"]]
        token = payload.get("next_token")
        if not token:
            break
    assert "broken" not in names and "bulk-model-00001" in names
