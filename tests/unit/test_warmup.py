"""The scheduled warmer, with the Lambda client stubbed by botocore's Stubber."""

import io
import json
from dataclasses import replace

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from chalice.test import Client

import app as app_module
from chalicelib import warmup
from chalicelib.config import Settings
from chalicelib.repository import ScanResult
from chalicelib.service import ScoresService
from chalicelib.warmup import WARMUP_EVENT_KEY, warm_api
from scripts.harness.lambda_events import LambdaContext

from .support import make_item, unit_settings


def settings(**overrides):
    base = Settings.from_environment({"API_FUNCTION_NAME": "llm-scores-prod", "WARMUP_HOLD_MILLISECONDS": "50"})
    return replace(base, **overrides)


def payload(document):
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def stubbed_client(answers):
    client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(client)
    for answer in answers:
        expected = {"FunctionName": "llm-scores-prod", "InvocationType": "RequestResponse", "Payload": ANY}
        if isinstance(answer, Exception):
            stubber.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        else:
            stubber.add_response("invoke", answer, expected)
    stubber.activate()
    return client, stubber


def test_counts_distinct_containers_and_cold_starts(log_lines):
    answers = [
        {"StatusCode": 200, "Payload": payload({"container_id": container, "cold_start": cold, "cache": "HIT"})}
        for container, cold in (("a", True), ("b", False), ("a", False))
    ]
    client, stubber = stubbed_client(answers)
    report = warm_api(settings(warmup_concurrency=3), client)
    stubber.assert_no_pending_responses()
    assert report["requested"] == 3 and report["succeeded"] == 3 and report["failed"] == 0
    assert report["distinct_containers"] == 2 and report["cold_starts"] == 1
    (line,) = log_lines()
    assert line["message"] == "warm-up" and line["WarmupContainers"] == 2 and line["WarmupFailures"] == 0


def test_function_errors_and_throttles_are_reported_not_raised(log_lines):
    answers = [
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload({"errorMessage": "Task timed out"})},
        RuntimeError(),
        {"StatusCode": 200, "Payload": payload({"unexpected": True})},
    ]
    client, _ = stubbed_client(answers)
    report = warm_api(settings(warmup_concurrency=3), client)
    assert report["succeeded"] == 0 and report["failed"] == 3
    assert any("Task timed out" in error for error in report["errors"])
    assert log_lines()[0]["WarmupFailures"] == 3


def test_zero_concurrency_invokes_nothing():
    client, stubber = stubbed_client([])
    assert warm_api(settings(warmup_concurrency=0), client)["requested"] == 0
    stubber.assert_no_pending_responses()


def test_scheduled_event_reaches_the_warmer(log_lines):
    # The unit stage warms nothing (WARMUP_CONCURRENCY unset), so the warmer reports and invokes no one.
    with Client(app_module.app, stage_name="dev") as client:
        result = client.lambda_.invoke(
            "warm_up", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
        )
    assert result.payload == {"requested": 0, "succeeded": 0, "failed": 0, "distinct_containers": 0}
    (line,) = log_lines()
    assert line["message"] == "warm-up" and line["WarmupInvocations"] == 0


@pytest.fixture
def held(monkeypatch, use_service):
    """Serves a one-item catalogue and records each hold a ping sleeps for, in seconds, instead of sleeping."""
    load = lambda: ScanResult([make_item("gpt-4o")], 0, 1, 0.0)  # noqa: E731
    use_service(ScoresService.from_settings(unit_settings(), load=load, jitter_ratio=0))
    holds: list[float] = []
    monkeypatch.setattr(warmup.time, "sleep", holds.append)
    return holds


def warnings(lines):
    return [line for line in lines if line.get("level") == "WARNING"]


@pytest.mark.parametrize("hold", ["1e400", "-1e400", "NaN", "Infinity", '"75"', "[75]", '{"ms": 75}', "null", "true"])
def test_warm_up_ping_with_an_unreadable_hold_is_still_a_ping_holding_0_ms_with_a_warning(held, log_lines, hold):
    # The payload as Lambda's Python runtime decodes it: json.loads reads 1e400 as inf and accepts NaN.
    event = json.loads(f'{{"{WARMUP_EVENT_KEY}": {{"hold_milliseconds": {hold}}}}}')
    answer = app_module.app(event, LambdaContext())
    assert answer["items"] == 1 and answer["container_id"]
    assert held == [0]
    (warning,) = warnings(log_lines())
    assert "hold_milliseconds" in warning["message"]


@pytest.mark.parametrize("options", [[1], "ping", 7, None])
def test_warm_up_ping_whose_options_are_not_an_object_holds_0_ms_with_a_warning(held, log_lines, options):
    answer = app_module.app({WARMUP_EVENT_KEY: options}, LambdaContext())
    assert answer["items"] == 1 and held == [0]
    assert len(warnings(log_lines())) == 1


@pytest.mark.parametrize(
    ("hold", "seconds"), [(75, 0.075), (12.9, 0.012), (-5, 0), (10**9, 5.0), (1e300, 5.0), (None, None)]
)
def test_warm_up_ping_holds_what_it_asks_for_within_0_to_5_seconds(held, log_lines, hold, seconds):
    options = {} if hold is None else {"hold_milliseconds": hold}
    app_module.app({WARMUP_EVENT_KEY: options}, LambdaContext())
    assert held == [seconds or 0]
    assert warnings(log_lines()) == []


@pytest.mark.parametrize(
    "event",
    [[], ["llm_scores_warmup"], "llm_scores_warmup", 42, None, True, {"requestContext": "x"}, {"requestContext": []}],
    ids=["empty-list", "list", "string", "number", "null", "true", "context-string", "context-list"],
)
def test_event_that_is_not_an_http_request_is_answered_with_one_warning_not_raised(held, log_lines, event):
    answer = app_module.app(event, LambdaContext())
    assert answer == {
        "headers": {},
        "multiValueHeaders": {},
        "statusCode": 500,
        "body": '{"Code":"InternalServerError","Message":"Unknown request."}',
    }
    json.dumps(answer)
    (warning,) = warnings(log_lines())
    assert warning["event_type"] == type(event).__name__
    assert held == []


def test_unknown_dict_event_gets_the_same_answer_as_any_other_non_http_event(held, log_lines):
    assert app_module.app({"source": "aws.s3"}, LambdaContext()) == app_module.app([], LambdaContext())
