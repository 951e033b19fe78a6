"""`GET /health?deep=true` tells whether `/llms` can be served now, names nothing private, and is cheap to ask."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.health import DependencyProbe
from chalicelib.service import ScoresService, build_dependency_probe

from .support import TABLE, make_item, unit_settings

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/llm-scores-prod/llm-scores-prod"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b1d2c3e-aaaa-bbbb-cccc-1234567890ab"
ACCESS_DENIED_MESSAGE = f"User: {ROLE_ARN} is not authorized to perform: dynamodb:Scan on resource: {TABLE_ARN}"
UNEXPECTED_MESSAGE = f"KMS key {KEY_ARN} is disabled for {TABLE_ARN}"
# Fragments of the causes above: none may reach a public body.
PRIVATE_FRAGMENTS = (
    TABLE,
    "arn:",
    ACCOUNT,
    "Exception",
    "Error",
    "AccessDenied",
    "not authorized",
    "KMS",
    "disabled",
    "amazonaws",
    "127.0.0.1",
)


def body(response) -> Any:
    return json.loads(response.body)


def strings_in(value: Any) -> list[str]:
    """Every key and string value in a JSON document, however deeply nested."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *strings_in(item)]]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def assert_names_nothing_private(response) -> None:
    for text in strings_in(body(response)):
        for fragment in PRIVATE_FRAGMENTS:
            assert fragment not in text, (fragment, text)
    for name, value in response.headers.items():
        for fragment in PRIVATE_FRAGMENTS:
            assert fragment not in value, (name, value)


def refuse_scans(client: Any) -> None:
    """DynamoDB answers every Scan with AccessDenied (a revoked permission), on this client only."""

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": "AccessDeniedException", "Message": ACCESS_DENIED_MESSAGE}
        return AWSResponse(None, 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client.meta.events.register("before-call.dynamodb.Scan", refuse)


def break_scans_unexpectedly(client: Any) -> None:
    """Every Scan fails with an error no code path expects, carrying ARNs in its text."""

    def explode(**_: Any) -> None:
        raise RuntimeError(UNEXPECTED_MESSAGE)

    client.meta.events.register("before-call.dynamodb.Scan", explode)


FAILURES = {"access_denied": refuse_scans, "unexpected_error_with_arns": break_scans_unexpectedly}


def count_dynamodb_calls(client: Any) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        calls.append((event_name.rpartition(".")[2], params.get("body", {})))

    client.meta.events.register("before-call.dynamodb", count)
    return calls


@pytest.fixture
def seeded(put_items) -> None:
    put_items(*[make_item(f"model-{index}") for index in range(5)])


def test_deep_health_reports_states_counts_and_ages_only(api, seeded):
    response = api.http.get("/health?deep=true")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    payload = body(response)
    assert payload["status"] == "ok" and payload["checks"] == {"dynamodb": "ok"}
    assert set(payload) == {"status", "checks", "cache", "dynamodb_check"}
    assert payload["cache"]["items"] == 5 and payload["cache"]["fresh"] is True
    assert 0 <= payload["cache"]["age_seconds"] < 60
    assert 0 <= payload["dynamodb_check"]["age_seconds"] < 60


def test_deep_health_answers_503_while_llms_cannot_serve(api, fresh_service, seeded):
    client = fresh_service.repository.client
    refuse_scans(client)
    # What the old check asked: the table exists and is ACTIVE. It is, and still nothing can be served.
    assert client.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE"
    llms = api.http.get("/llms")
    assert llms.status_code == 503 and body(llms)["error"]["code"] == "service_unavailable"
    for method in ("GET", "HEAD"):
        deep = api.http.request(method, "/health?deep=true")
        assert deep.status_code == 503, method
        assert int(deep.headers["Retry-After"]) >= 1
    assert body(api.http.get("/health?deep=true"))["error"]["code"] == "dependency_unavailable"
    assert api.http.get("/llms/model-1").status_code == 503


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_deep_health_body_names_no_table_arn_or_exception_with_no_snapshot(
    api, fresh_service, seeded, log_lines, failure
):
    failure(fresh_service.repository.client)
    response = api.http.get("/health?deep=true")
    assert response.status_code == 503
    assert_names_nothing_private(response)
    # The cause is for operators: it is in the log, table and all.
    (failure_line,) = [line for line in log_lines() if line["message"] == "dependency check failed"]
    assert TABLE in failure_line["error"]


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_deep_health_body_names_no_table_arn_or_exception_while_serving_stale(
    api, fresh_service, seeded, log_lines, failure
):
    assert api.http.get("/llms").status_code == 200
    failure(fresh_service.repository.client)
    fresh_service.cache.invalidate()  # the next read must go to the table, and fail
    assert api.http.get("/llms").headers["X-Cache"] == "STALE"  # the failure is now the cache's last error
    response = api.http.get("/health?deep=true")
    assert_names_nothing_private(response)
    assert response.status_code == 200
    payload = body(response)
    assert payload["status"] == "degraded" and payload["checks"] == {"dynamodb": "failing"}
    assert payload["cache"]["fresh"] is False
    # The causes are for operators: the refresh's in its request line, the probe's in its own line.
    lines = log_lines()
    (refresh_line,) = [line for line in lines if line.get("route") == "/llms" and "dynamodb_error" in line]
    assert TABLE in refresh_line["dynamodb_error"]
    (probe_line,) = [line for line in lines if line["message"] == "dependency check failed"]
    assert TABLE in probe_line["error"]


def test_deep_health_is_degraded_while_a_fresh_snapshot_serves_and_dynamodb_fails(use_service, seeded, log_lines):
    clock = FakeClock()
    service = service_with_probe_clock(use_service, clock)
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="dev") as api:
        assert body(api.http.get("/health?deep=true"))["status"] == "ok"
        refuse_scans(service.repository.client)
        clock.now += unit_settings().health_check_interval_seconds
        first = body(api.http.get("/health?deep=true"))
        assert first["status"] == "degraded" and first["checks"] == {"dynamodb": "failing"}
        assert first["cache"]["fresh"] is True  # /llms still serves its snapshot as a hit
        assert api.http.get("/llms").headers["X-Cache"] == "HIT"
        clock.now += 1
        second = body(api.http.get("/health?deep=true"))
        assert second["checks"] == {"dynamodb": "failing"} and second["dynamodb_check"]["age_seconds"] == 1
    # One probe, one line: the checks in between reuse its outcome.
    failures = [line for line in log_lines() if line["message"] == "dependency check failed"]
    assert len(failures) == 1 and "AccessDeniedException" in failures[0]["error"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def service_with_probe_clock(use_service, clock: FakeClock) -> ScoresService:
    """The service over the moto table, its dependency probe on `clock`, as the routes' service."""
    settings = unit_settings()
    service = ScoresService.from_settings(settings)
    service.dependency_probe = build_dependency_probe(settings, service.repository, clock=clock)
    return use_service(service)


def test_a_thousand_deep_checks_in_one_second_make_at_most_a_handful_of_dynamodb_calls(dynamodb, use_service, seeded):
    clock = FakeClock()
    service = service_with_probe_clock(use_service, clock)
    calls = count_dynamodb_calls(service.repository.client)
    from chalice.test import Client

    from app import app

    start = clock.now
    with Client(app, stage_name="dev") as api:
        for index in range(1000):
            clock.now = start + index / 1000  # a thousand checks spread over one second
            response = api.http.get("/health?deep=true")
            assert response.status_code == 200
        assert len(calls) <= 3, len(calls)
        # The first check's refresh: the catalogue version, then the table; no DescribeTable.
        assert [operation for operation, _ in calls] == ["GetItem", "Scan"]
        assert body(response)["dynamodb_check"]["age_seconds"] == pytest.approx(0.999)
        # Once the interval has passed, the next check reads the data plane again: one key, nothing more.
        clock.now = start + unit_settings().health_check_interval_seconds + 1
        assert body(api.http.get("/health?deep=true"))["dynamodb_check"]["age_seconds"] == 0
    assert len(calls) == 3
    probe = json.loads(calls[2][1])
    assert probe["Limit"] == 1 and probe["ProjectionExpression"] == "#key"


def test_concurrent_checks_share_one_probe():
    started, release = threading.Event(), threading.Event()
    probes: list[float] = []

    def slow_probe() -> None:
        probes.append(time.monotonic())
        started.set()
        release.wait(5)

    probe = DependencyProbe(slow_probe, interval_seconds=10, deadline_seconds=5)
    outcomes: list[bool] = []
    threads = [threading.Thread(target=lambda: outcomes.append(probe.outcome().reachable)) for _ in range(20)]
    for thread in threads:
        thread.start()
    assert started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(probes) == 1 and outcomes == [True] * 20


def test_a_probe_that_never_answers_is_failing_after_its_deadline():
    release = threading.Event()
    failures: list[BaseException] = []
    probe = DependencyProbe(
        lambda: release.wait(30) and None, interval_seconds=10, deadline_seconds=0.2, on_failure=failures.append
    )
    started = time.monotonic()
    try:
        assert probe.outcome().reachable is False
        assert time.monotonic() - started < 0.2 + 1.5
    finally:
        release.set()
    assert [str(error) for error in failures] == ["deadline of 0.2 s exceeded after no progress reported"]
