"""The app invoked as Lambda invokes it: a REST proxy event (or a warm-up ping) and a context."""

import json

import pytest

from app import app
from chalicelib import observability
from chalicelib.config import settings
from chalicelib.metrics import MetricBatch
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import assert_valid_emf, make_item


def test_proxy_event_is_routed_and_answers_with_headers(fresh_service, put_items):
    put_items(make_item("gpt-4o"), make_item("o1"))
    event = api_gateway_event("/llms", query={"limit": "1"})
    response = app(event, LambdaContext())
    assert response["statusCode"] == 200
    assert isinstance(response["body"], str)
    assert json.loads(response["body"])["count"] == 1
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]


def test_one_log_line_per_request_and_metrics_batched_into_the_lines_that_need_them(
    fresh_service, put_items, log_lines, monkeypatch: pytest.MonkeyPatch
):
    # A clock that stands still: the batch's age and minute must not depend on how fast this machine is.
    still = 1_700_000_020.0
    monkeypatch.setattr(
        observability, "metrics", MetricBatch(settings.metrics_namespace, settings.service_name, clock=lambda: still)
    )
    put_items(make_item("gpt-4o"))
    app(api_gateway_event("/llms"), LambdaContext())
    app(api_gateway_event("/llms/gpt-4o"), LambdaContext())
    app(api_gateway_event("/llms", query={"limit": "0"}), LambdaContext())
    lines = log_lines()
    assert len(lines) == 3
    first, second, third = lines
    for line in lines:
        for key in ("request_id", "method", "route", "status", "duration_ms", "cache", "items", "cold_start"):
            assert key in line
        assert line["service"] == "llm-scores" and line["message"] == "request"
    assert second["path"].endswith("/llms/gpt-4o") and "path" not in first  # only here does it say more
    # The miss is news (an alarm may wait for it): its line carries the metrics at once.
    assert first["cache"] == "MISS" and first["CacheMiss"] == 1 and len(first["DynamoDBLatency"]) == 1
    # A routine hit waits in the batch...
    assert second["cache"] == "HIT" and "_aws" not in second
    # ...until the next line that is due, here the 400's, which carries both requests' metrics.
    assert third["status"] == 400 and third["ClientErrors"] == 1
    assert third["Requests"] == 2 and third["CacheHit"] == 1 and len(third["Latency"]) == 2
    for line in (first, third):
        assert_valid_emf(line)


def test_logs_never_carry_headers_or_the_raw_event(fresh_service, put_items, log_lines):
    put_items(make_item("gpt-4o"))
    secret = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"
    app(api_gateway_event("/llms", headers={"Authorization": secret, "Cookie": "session=abc"}), LambdaContext())
    text = json.dumps(log_lines())
    assert secret not in text and "session=abc" not in text
    assert "Authorization" not in text and "multiValueHeaders" not in text


def test_warmup_ping_is_answered_without_http_routing(fresh_service, put_items, log_lines):
    put_items(make_item("gpt-4o"))
    answer = app({"llm_scores_warmup": {"hold_milliseconds": 1}}, LambdaContext())
    assert answer["cache"] == "MISS" and answer["items"] == 1 and len(answer["container_id"]) == 32
    # The ping read ahead, so the users who follow it are served from the cache.
    user = app(api_gateway_event("/llms"), LambdaContext())
    assert user["headers"]["X-Cache"] == "HIT"
    assert [line["message"] for line in log_lines()] == ["warm-up ping", "request"]


def test_warmup_path_is_not_reachable_through_api_gateway(fresh_service):
    event = api_gateway_event("/llms")
    event["llm_scores_warmup"] = {"hold_milliseconds": 5000}
    response = app(event, LambdaContext())
    assert response["statusCode"] == 200 and "items" in json.loads(response["body"])
    for path in ("/warmup", "/warm_up", "/llms/warmup/now"):
        assert not any(route.startswith(path) for route in app.routes)


def test_unknown_event_gets_chalice_unknown_request_not_a_crash(fresh_service):
    response = app({"source": "aws.events"}, LambdaContext())
    assert response["statusCode"] == 500


def test_a_routine_hit_keeps_its_line_small_and_a_due_batch_gets_a_line_of_its_own(
    fresh_service, put_items, log_lines, monkeypatch
):
    from chalicelib import observability
    from chalicelib.metrics import MetricBatch

    now = [1_800_000_000.0]
    monkeypatch.setattr(observability, "metrics", MetricBatch("LLMScores", "llm-scores", clock=lambda: now[0]))
    put_items(make_item("gpt-4o"))
    app(api_gateway_event("/llms"), LambdaContext())  # the miss: its line carries the batch at once
    app(api_gateway_event("/llms"), LambdaContext())
    now[0] += 1.5
    app(api_gateway_event("/llms"), LambdaContext())  # the batch is now due
    miss, first_hit, second_hit, batch = log_lines()
    assert miss["cache"] == "MISS" and miss["CacheMiss"] == 1
    for hit in (first_hit, second_hit):
        assert hit["cache"] == "HIT" and "_aws" not in hit
        assert len(json.dumps(hit, separators=(",", ":"))) <= 300
    assert batch["message"] == "metrics" and batch["Requests"] == 2 and batch["CacheHit"] == 2
    assert len(batch["Latency"]) == 2
    assert_valid_emf(batch)


def test_a_quieter_log_level_drops_request_lines_but_never_the_metrics(fresh_service, put_items, log_lines):
    from chalicelib.observability import logger

    put_items(make_item("gpt-4o"))
    previous = logger.level
    logger.setLevel("WARNING")
    try:
        app(api_gateway_event("/llms"), LambdaContext())  # a miss: its metrics are due at once
    finally:
        logger.setLevel(previous)
    (line,) = log_lines()
    assert line["message"] == "metrics" and line["CacheMiss"] == 1
    assert_valid_emf(line)
