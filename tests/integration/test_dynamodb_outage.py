"""DynamoDB killed mid-run: stale data first, then 503 with Retry-After, then recovery without a restart."""

import time

import pytest

pytestmark = pytest.mark.integration

TTL = 1
MAX_STALE = 4
RETRY_AFTER = 1
CLIENT_BOUND_SECONDS = 0.5 + 1.0  # connect + read timeout for one attempt, as configured below


@pytest.fixture(scope="module")
def stack(make_stack):
    return make_stack(
        CACHE_TTL_SECONDS=str(TTL),
        CACHE_MAX_STALE_SECONDS=str(MAX_STALE),
        CACHE_RETRY_AFTER_SECONDS=str(RETRY_AFTER),
        DYNAMODB_CONNECT_TIMEOUT_SECONDS="0.5",
        DYNAMODB_READ_TIMEOUT_SECONDS="1",
        DYNAMODB_MAX_ATTEMPTS="2",
    )


def test_stale_then_503_then_recovery(stack):
    warm = stack.get("/llms?limit=3")
    assert warm.status == 200
    stack.kill_dynamodb()
    time.sleep(TTL + 0.2)

    stale = stack.get("/llms?limit=3")
    assert stale.status == 200 and stale.headers["X-Cache"] == "STALE"
    assert stale.json()["items"] == warm.json()["items"]
    assert stale.seconds < 2 * CLIENT_BOUND_SECONDS + 1
    assert stack.get("/llms/gpt-4o").headers["X-Cache"] == "STALE"

    # Deep health says what /llms does: still serving, from a stale snapshot, with DynamoDB failing.
    deep = stack.get("/health?deep=true")
    assert deep.status == 200, deep.body[:300]
    assert deep.json()["status"] == "degraded" and deep.json()["checks"] == {"dynamodb": "failing"}
    assert deep.json()["cache"]["fresh"] is False

    time.sleep(MAX_STALE)
    unavailable = stack.get("/llms?limit=3")
    assert unavailable.status == 503
    assert unavailable.json()["error"]["code"] == "service_unavailable"
    assert int(unavailable.headers["Retry-After"]) >= 1
    assert unavailable.seconds < 2 * CLIENT_BOUND_SECONDS + 1
    # And once /llms can no longer serve, neither can deep health say it is healthy.
    deep = stack.get("/health?deep=true")
    assert deep.status == 503 and deep.json()["error"]["code"] == "dependency_unavailable"
    assert int(deep.headers["Retry-After"]) >= 1

    stack.revive_dynamodb()
    time.sleep(RETRY_AFTER + 0.2)
    recovered = stack.get("/llms?limit=3")
    assert recovered.status == 200 and recovered.headers["X-Cache"] == "MISS"
