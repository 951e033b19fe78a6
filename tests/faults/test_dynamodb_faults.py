"""DynamoDB failing in each way it fails in production, injected on a real socket between the API and moto.

Every bound is computed from the stage's DYNAMODB_* settings, so a regression to the SDK defaults
(60 s read timeout, legacy retries) or a retry storm fails here rather than in an incident.
"""

from __future__ import annotations

import time

import pytest

from .proxy import BLACKHOLE, FORWARD, PROVISIONED_THROUGHPUT_EXCEEDED, REFUSE, THROTTLE, THROTTLING
from .support import (
    CONNECT_TIMEOUT,
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    READ_TIMEOUT,
    RETRY_AFTER,
    SLACK,
    TTL,
    ProxiedApi,
)

pytestmark = pytest.mark.integration

CATALOGUE_SIZE = 36  # data/llms.json
# Upper bounds for one request that has to try (and fail) a refresh.
REFUSED_BOUND = MAX_ATTEMPTS * CONNECT_TIMEOUT + MAX_BACKOFF + SLACK
SILENT_BOUND = MAX_ATTEMPTS * READ_TIMEOUT + MAX_BACKOFF + SLACK
THROTTLED_BOUND = MAX_BACKOFF + SLACK
# A request that needs no refresh (cache fresh, or inside the retry-after window) never waits on DynamoDB.
NO_DYNAMODB_BOUND = 0.5


def scans(stack: ProxiedApi) -> list:
    return [request for request in stack.proxy.requests() if request.target.endswith(".Scan")]


def make_refresh_due(stack: ProxiedApi) -> None:
    """Waits out both the TTL and any retry-after window, so the next request must read DynamoDB."""
    time.sleep(max(TTL, RETRY_AFTER) + 0.2)
    stack.proxy.reset_requests()


def rewarm(stack: ProxiedApi) -> None:
    stack.proxy.set_mode(FORWARD)
    make_refresh_due(stack)
    answer = stack.get("/llms?limit=1")
    assert answer.status == 200 and answer.header("X-Cache") in {"MISS", "HIT"}


def assert_stale(stack: ProxiedApi, answer, error_fragment: str) -> None:
    assert answer.status == 200, answer.body[:300]
    assert answer.header("X-Cache") == "STALE"
    assert answer.header("Cache-Control") == f"public, max-age={min(5, RETRY_AFTER)}"
    payload = answer.json()
    assert payload["count"] == 10 and len(payload["items"]) == 10
    line = stack.api.log_line_for(answer)
    assert line["cache"] == "STALE" and line["status"] == 200
    assert line["CacheStale"] == 1 and line["DynamoDBErrors"] == 1
    assert error_fragment in line["dynamodb_error"]


def assert_unavailable(stack: ProxiedApi, answer) -> None:
    assert answer.status == 503, answer.body[:300]
    body = answer.json()
    assert set(body) == {"error", "request_id"} and body["error"]["code"] == "service_unavailable"
    assert 1 <= int(answer.header("Retry-After")) <= RETRY_AFTER
    assert answer.header("Cache-Control") == "no-store"
    line = stack.api.log_line_for(answer)
    assert line["status"] == 503 and line["ServerErrors"] == 1 and line["DynamoDBErrors"] == 1


# --- warm container: a snapshot to fall back on ---------------------------------------------


def test_stale_snapshot_served_when_dynamodb_refuses_connections(warm_api):
    rewarm(warm_api)
    warm_api.proxy.set_mode(REFUSE)
    make_refresh_due(warm_api)
    answer = warm_api.get("/llms?limit=10")
    assert_stale(warm_api, answer, "EndpointConnectionError")
    assert answer.seconds < REFUSED_BOUND, answer.seconds
    # Inside the retry-after window nobody waits on DynamoDB again: one bounded attempt per interval.
    again = warm_api.get("/llms?limit=10")
    assert again.header("X-Cache") == "STALE" and again.seconds < NO_DYNAMODB_BOUND


def test_stale_snapshot_served_when_dynamodb_accepts_but_never_answers(warm_api):
    rewarm(warm_api)
    warm_api.proxy.set_mode(BLACKHOLE)
    make_refresh_due(warm_api)
    answer = warm_api.get("/llms?limit=10")
    assert_stale(warm_api, answer, "ReadTimeoutError")
    # Each attempt waited its full read timeout (so the timeout is what ended it), and no more than that.
    assert MAX_ATTEMPTS * READ_TIMEOUT - 0.1 <= answer.seconds < SILENT_BOUND, answer.seconds
    assert len(scans(warm_api)) == MAX_ATTEMPTS


@pytest.mark.parametrize("full_type", [PROVISIONED_THROUGHPUT_EXCEEDED, THROTTLING])
def test_throttling_is_retried_a_bounded_number_of_times_then_stale(warm_api, full_type):
    error_type = full_type.rpartition("#")[2]
    rewarm(warm_api)
    warm_api.proxy.set_mode(THROTTLE, error_type=full_type)
    make_refresh_due(warm_api)
    answer = warm_api.get("/llms?limit=10")
    assert_stale(warm_api, answer, error_type)
    assert answer.seconds < THROTTLED_BOUND, answer.seconds
    attempts = scans(warm_api)
    assert len(attempts) == MAX_ATTEMPTS and {request.outcome for request in attempts} == {THROTTLE}


def test_one_throttled_attempt_is_absorbed_by_the_retry(warm_api):
    rewarm(warm_api)
    warm_api.proxy.set_mode(THROTTLE, count=1)
    make_refresh_due(warm_api)
    answer = warm_api.get("/llms?limit=10")
    assert answer.status == 200 and answer.header("X-Cache") == "MISS"
    # A refresh reads the catalogue version, then scans (chalicelib/cache.py): the one throttle lands on the first.
    seen = [(request.target.rpartition(".")[2], request.outcome) for request in warm_api.proxy.requests()]
    assert seen[-3:] == [("GetItem", THROTTLE), ("GetItem", FORWARD), ("Scan", FORWARD)]
    assert answer.seconds < THROTTLED_BOUND
    assert "DynamoDBErrors" not in warm_api.api.log_line_for(answer)


def test_recovery_after_dynamodb_returns_needs_no_restart(warm_api):
    rewarm(warm_api)
    warm_api.proxy.set_mode(BLACKHOLE)
    make_refresh_due(warm_api)
    assert warm_api.get("/llms?limit=10").header("X-Cache") == "STALE"
    warm_api.proxy.set_mode(FORWARD)
    # Still inside the retry-after window: the failed refresh is not retried early.
    assert warm_api.get("/llms?limit=10").header("X-Cache") == "STALE"
    time.sleep(RETRY_AFTER + 0.2)
    recovered = warm_api.get("/llms?limit=1000")
    assert recovered.status == 200 and recovered.header("X-Cache") == "MISS"
    assert recovered.json()["count"] == CATALOGUE_SIZE
    assert warm_api.get("/llms?limit=10").header("X-Cache") == "HIT"
    assert warm_api.api.process.poll() is None  # same process throughout


# --- cold container: nothing to fall back on ------------------------------------------------


def test_cold_container_answers_503_with_retry_after_when_dynamodb_refuses(cold_api):
    cold_api.proxy.set_mode(REFUSE)
    make_refresh_due(cold_api)
    answer = cold_api.get("/llms")
    assert_unavailable(cold_api, answer)
    assert answer.seconds < REFUSED_BOUND, answer.seconds
    one = cold_api.get("/llms/gpt-4o")
    assert one.status == 503 and one.seconds < NO_DYNAMODB_BOUND
    deep = cold_api.get("/health?deep=true")
    assert deep.status == 503 and deep.json()["error"]["code"] == "dependency_unavailable"
    assert deep.header("Retry-After") == str(RETRY_AFTER) and deep.seconds < REFUSED_BOUND


def test_cold_container_answers_503_when_dynamodb_never_answers(cold_api):
    cold_api.proxy.set_mode(BLACKHOLE)
    make_refresh_due(cold_api)
    answer = cold_api.get("/llms/gpt-4o")
    assert_unavailable(cold_api, answer)
    assert MAX_ATTEMPTS * READ_TIMEOUT - 0.1 <= answer.seconds < SILENT_BOUND, answer.seconds
    assert len(scans(cold_api)) == MAX_ATTEMPTS


def test_cold_container_answers_503_after_bounded_throttled_retries(cold_api):
    cold_api.proxy.set_mode(THROTTLE)
    make_refresh_due(cold_api)
    answer = cold_api.get("/llms")
    assert_unavailable(cold_api, answer)
    assert answer.seconds < THROTTLED_BOUND
    assert len(scans(cold_api)) == MAX_ATTEMPTS


def test_cold_container_recovers_when_dynamodb_returns(cold_api):
    cold_api.proxy.set_mode(REFUSE)
    make_refresh_due(cold_api)
    assert cold_api.get("/llms").status == 503
    cold_api.proxy.set_mode(FORWARD)
    time.sleep(RETRY_AFTER + 0.2)
    recovered = cold_api.get("/llms?limit=1000")
    assert recovered.status == 200 and recovered.header("X-Cache") == "MISS"
    assert recovered.json()["count"] == CATALOGUE_SIZE
    assert cold_api.api.process.poll() is None
