"""The scheduled warmer, with the Lambda client stubbed by botocore's Stubber."""

import io
import json
from dataclasses import replace

import boto3
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.warmup import warm_api


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
    import app as app_module

    # The unit stage warms nothing (WARMUP_CONCURRENCY unset), so the warmer reports and invokes no one.
    with Client(app_module.app, stage_name="dev") as client:
        result = client.lambda_.invoke(
            "warm_up", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
        )
    assert result.payload == {"requested": 0, "succeeded": 0, "failed": 0, "distinct_containers": 0}
    (line,) = log_lines()
    assert line["message"] == "warm-up" and line["WarmupInvocations"] == 0
