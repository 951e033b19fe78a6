"""The CodeDeploy lifecycle hooks (chalicelib/deploy_hooks.py): they always report, and report what they found.

botocore's Stubber stands in for CodeDeploy (GetDeployment, PutLifecycleEventHookExecutionStatus: moto has no
lifecycle hooks), CloudWatch (GetMetricStatistics) and Lambda's Invoke of a version (moto's Invoke of a
version does not run our code). The Lambda answers are the real app's: each stubbed Invoke carries what
`app.app` answered to the same event in process, so the checks read the app's own headers and bodies.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

import app as application
from chalicelib import deploy_hooks, version
from chalicelib.deploy_hooks import HookClients, PrewarmLimits, Shift
from scripts.harness.lambda_events import LambdaContext

from .support import make_item

pytestmark = pytest.mark.unit

DEPLOYMENT_ID = "d-ABCDEFGHI"
EXECUTION_ID = "hook-execution-1"
EVENT = {"DeploymentId": DEPLOYMENT_ID, "LifecycleEventHookExecutionId": EXECUTION_ID}
SHIFT = Shift(function_name="llm-scores-prod", alias="live", current_version="41", target_version="42")
APPSPEC = {
    "version": 0.0,
    "Resources": [
        {
            "llm-scores-prod": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": "llm-scores-prod",
                    "Alias": "live",
                    "CurrentVersion": "41",
                    "TargetVersion": "42",
                },
            }
        }
    ],
}


class Context:
    """A Lambda context whose remaining time is what the test says."""

    def __init__(self, remaining_milliseconds: int = 120_000) -> None:
        self.remaining_milliseconds = remaining_milliseconds

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_milliseconds


def client(service: str) -> Any:
    return botocore.session.get_session().create_client(
        service, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[HookClients, dict[str, Stubber]]]:
    clients = HookClients(codedeploy=client("codedeploy"), lambda_=client("lambda"), cloudwatch=client("cloudwatch"))
    stubbers = {name: Stubber(getattr(clients, name)) for name in ("codedeploy", "lambda_", "cloudwatch")}
    for stubber in stubbers.values():
        stubber.activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.deactivate()


def expect_deployment(stubber: Stubber) -> None:
    content = json.dumps(APPSPEC)
    stubber.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": DEPLOYMENT_ID,
                "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
            }
        },
        {"deploymentId": DEPLOYMENT_ID},
    )


def expect_report(stubber: Stubber, status: str) -> None:
    stubber.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": EXECUTION_ID},
        {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": status},
    )


def invoked(payload: Any, function_error: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(payload).encode())}
    if function_error:
        response["FunctionError"] = function_error
    return response


class SentEvent:
    """Matches the Invoke payload the hook sends: a GET of `path` (and `query`), or any payload when both are None."""

    def __init__(self, path: str | None = None, query: dict[str, str] | None = None) -> None:
        self.path, self.query = path, query

    def __eq__(self, sent: object) -> bool:
        if self.path is None:
            return True
        event = json.loads(sent) if isinstance(sent, (bytes, str)) else {}
        return (event.get("path"), event.get("queryStringParameters")) == (self.path, self.query)

    def __repr__(self) -> str:
        return f"SentEvent({self.path!r}, {self.query!r})"


def expect_invoke(
    stubber: Stubber, payload: Any, function_error: str | None = None, sent: SentEvent | None = None
) -> None:
    stubber.add_response(
        "invoke",
        invoked(payload, function_error),
        {
            "FunctionName": "llm-scores-prod",
            "Qualifier": "42",
            "InvocationType": "RequestResponse",
            "Payload": sent or ANY,
        },
    )


@pytest.fixture
def version_42(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app in process answers as published version 42 of commit abc123 would."""
    version.running_version.cache_clear()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "42")
    monkeypatch.setenv("SOURCE_COMMIT", "abc123")
    yield
    version.running_version.cache_clear()


def app_answer(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """What the real app answers the proxy event the hook sends for this path."""
    answer: dict[str, Any] = application.app(deploy_hooks.proxy_event(path, query), LambdaContext())
    return json.loads(json.dumps(answer))


def expect_contract(stubber: Stubber, item: str = "gpt-4o") -> None:
    """The five requests of `contract_checks`, in order, each answered with the app's own answer."""
    for path, query in (
        ("/health", None),
        ("/health", {"deep": "true"}),
        ("/llms", {"limit": "1"}),
        (f"/llms/{item}", None),
    ):
        expect_invoke(stubber, app_answer(path, query), sent=SentEvent(path, query))
    # The 404's name is random, so any payload; its answer is the app's for a name it does not hold.
    expect_invoke(stubber, app_answer("/llms/deploy-hook-no-such-model"))


def peak(stubber: Stubber, maximum: float | None) -> None:
    points = [] if maximum is None else [{"Timestamp": datetime(2026, 12, 5, tzinfo=UTC), "Maximum": maximum}]
    stubber.add_response("get_metric_statistics", {"Datapoints": points}, None)


def test_before_allow_traffic_reports_succeeded_after_the_contract_and_a_warm_up_sized_by_live_peak(
    stubbed, fresh_service, put_items, version_42
):
    put_items(make_item("gpt-4o"))
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_contract(stubbers["lambda_"])
    peak(stubbers["cloudwatch"], 3.0)
    # ceil(3 * 1.25) = 4 pings, above the floor of 2: four containers answer.
    ping = json.dumps({"llm_scores_warmup": {"hold_milliseconds": deploy_hooks.PREWARM_HOLD_MILLISECONDS}}).encode()
    for container in range(4):
        stubbers["lambda_"].add_response(
            "invoke",
            invoked({"container_id": f"c{container}", "cold_start": True, "cache": "MISS"}),
            {
                "FunctionName": "llm-scores-prod",
                "Qualifier": "42",
                "InvocationType": "RequestResponse",
                "Payload": ping,
            },
        )
    expect_report(stubbers["codedeploy"], deploy_hooks.SUCCEEDED)

    result = deploy_hooks.run_hook(
        EVENT, Context(), deploy_hooks.before_allow_traffic_checks(clients, PrewarmLimits(2, 10)), clients
    )

    assert result["status"] == deploy_hooks.SUCCEEDED, result["detail"]
    assert "contract checks passed on version 42" in result["detail"]
    assert "warmed 4 containers (4 pings; live's peak 3.0)" in result["detail"]
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def test_before_allow_traffic_reports_failed_when_the_new_version_answers_for_another_version(
    stubbed, fresh_service, put_items, version_42, monkeypatch
):
    """A smoke failure: the answer names version 41, so the alias would serve code nobody checked."""
    put_items(make_item("gpt-4o"))
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    version.running_version.cache_clear()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "41")
    expect_invoke(stubbers["lambda_"], app_answer("/health"))
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)

    result = deploy_hooks.run_hook(
        EVENT, Context(), deploy_hooks.before_allow_traffic_checks(clients, PrewarmLimits(1, 10)), clients
    )

    assert result["status"] == deploy_hooks.FAILED
    assert "X-Api-Version 'lambda=41; commit=abc123', expected lambda=42" in result["detail"]
    stubbers["codedeploy"].assert_no_pending_responses()


def test_before_allow_traffic_reports_failed_when_the_new_version_raises(stubbed, version_42):
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_invoke(stubbers["lambda_"], {"errorMessage": "No module named 'chalicelib.gone'"}, "Unhandled")
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)

    result = deploy_hooks.run_hook(
        EVENT, Context(), deploy_hooks.before_allow_traffic_checks(clients, PrewarmLimits(1, 10)), clients
    )

    assert result["status"] == deploy_hooks.FAILED
    assert "version 42 raised Unhandled: No module named 'chalicelib.gone'" in result["detail"]


def test_before_allow_traffic_reports_failed_when_the_table_answers_nothing(stubbed, fresh_service, version_42):
    """An empty catalogue: deep health is fine, but there is no item to serve."""
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_invoke(stubbers["lambda_"], app_answer("/health"))
    expect_invoke(stubbers["lambda_"], app_answer("/health", {"deep": "true"}))
    expect_invoke(stubbers["lambda_"], app_answer("/llms", {"limit": "1"}))
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)

    result = deploy_hooks.run_hook(
        EVENT, Context(), deploy_hooks.before_allow_traffic_checks(clients, PrewarmLimits(1, 10)), clients
    )

    assert result["status"] == deploy_hooks.FAILED and "no items" in result["detail"]


def test_a_hook_whose_checks_outlast_its_time_reports_failed_before_the_function_times_out(stubbed):
    clients, stubbers = stubbed
    released = threading.Event()
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)

    def hangs(deployment_id: str) -> str:
        released.wait(5)
        return "never reported"

    try:
        # 8.2 s left, 8 s kept for the report: the checks get 0.2 s.
        result = deploy_hooks.run_hook(EVENT, Context(remaining_milliseconds=8_200), hangs, clients)
    finally:
        released.set()

    assert result == {"status": deploy_hooks.FAILED, "detail": "checks still running after 0.2 s"}
    stubbers["codedeploy"].assert_no_pending_responses()


def test_a_hook_whose_checks_raise_anything_reports_failed(stubbed):
    clients, stubbers = stubbed
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)

    def broken(deployment_id: str) -> str:
        raise KeyError("Resources")

    result = deploy_hooks.run_hook(EVENT, Context(), broken, clients)

    assert result == {"status": deploy_hooks.FAILED, "detail": "KeyError: 'Resources'"}
    stubbers["codedeploy"].assert_no_pending_responses()


def test_a_hook_invoked_without_codedeploys_ids_refuses_and_reports_nothing(stubbed):
    clients, stubbers = stubbed
    with pytest.raises(ValueError, match="not a CodeDeploy lifecycle event"):
        deploy_hooks.run_hook({"DeploymentId": DEPLOYMENT_ID}, Context(), lambda _: "ok", clients)
    stubbers["codedeploy"].assert_no_pending_responses()


def test_a_report_codedeploy_refuses_raises_so_lambda_retries_the_hook(stubbed):
    """Swallowing it would leave the deployment waiting an hour for an answer."""
    clients, stubbers = stubbed
    stubbers["codedeploy"].add_client_error(
        "put_lifecycle_event_hook_execution_status", "ThrottlingException", http_status_code=400
    )
    with pytest.raises(Exception, match="ThrottlingException"):
        deploy_hooks.run_hook(EVENT, Context(), lambda _: "ok", clients)


@pytest.mark.parametrize(
    ("peak_concurrency", "limits", "expected"),
    [
        (None, PrewarmLimits(5, 50), 5),  # no metric: the floor, what the warm-up schedule keeps anyway
        (0.0, PrewarmLimits(5, 50), 5),
        (3.0, PrewarmLimits(1, 50), 4),  # ceil(3 * 1.25)
        (20.0, PrewarmLimits(5, 50), 25),
        (400.0, PrewarmLimits(5, 50), 50),  # the cap keeps reserved concurrency for traffic
        (3.0, PrewarmLimits(0, 0), 0),
    ],
)
def test_prewarm_count_is_live_peak_with_headroom_between_the_floor_and_the_cap(peak_concurrency, limits, expected):
    assert deploy_hooks.prewarm_count(peak_concurrency, limits) == expected


def test_peak_concurrency_reads_the_live_alias_maximum_and_none_without_data(stubbed):
    clients, stubbers = stubbed
    now = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    expected = {
        "Namespace": "AWS/Lambda",
        "MetricName": "ConcurrentExecutions",
        "Dimensions": [
            {"Name": "FunctionName", "Value": "llm-scores-prod"},
            {"Name": "Resource", "Value": "llm-scores-prod:live"},
        ],
        "StartTime": datetime(2026, 12, 5, 17, 30, tzinfo=UTC),
        "EndTime": now,
        "Period": 60,
        "Statistics": ["Maximum"],
    }
    points = [{"Timestamp": now, "Maximum": value} for value in (2.0, 7.0, 3.0)]
    stubbers["cloudwatch"].add_response("get_metric_statistics", {"Datapoints": points}, expected)
    stubbers["cloudwatch"].add_response("get_metric_statistics", {"Datapoints": []}, expected)
    assert deploy_hooks.peak_concurrency(clients.cloudwatch, SHIFT, now) == 7.0
    assert deploy_hooks.peak_concurrency(clients.cloudwatch, SHIFT, now) is None


def test_an_unreadable_metric_warms_the_floor_instead_of_refusing_a_good_version(
    stubbed, fresh_service, put_items, version_42
):
    put_items(make_item("gpt-4o"))
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_contract(stubbers["lambda_"])
    stubbers["cloudwatch"].add_client_error("get_metric_statistics", "AccessDenied", http_status_code=403)
    for container in range(2):
        expect_invoke(stubbers["lambda_"], {"container_id": f"c{container}"})
    expect_report(stubbers["codedeploy"], deploy_hooks.SUCCEEDED)

    result = deploy_hooks.run_hook(
        EVENT, Context(), deploy_hooks.before_allow_traffic_checks(clients, PrewarmLimits(2, 10)), clients
    )

    assert result["status"] == deploy_hooks.SUCCEEDED, result["detail"]
    assert "warmed 2 containers (2 pings; live's peak unknown)" in result["detail"]


def test_prewarm_limits_come_from_the_environment_and_refuse_a_floor_over_the_cap():
    assert deploy_hooks.prewarm_limits({"PREWARM_MINIMUM": "5", "PREWARM_MAXIMUM": "50"}) == PrewarmLimits(5, 50)
    assert deploy_hooks.prewarm_limits({"WARMUP_CONCURRENCY": "3"}) == PrewarmLimits(3, 10)
    with pytest.raises(ValueError, match="PREWARM_MINIMUM"):
        deploy_hooks.prewarm_limits({"PREWARM_MINIMUM": "9", "PREWARM_MAXIMUM": "4"})
    with pytest.raises(ValueError, match="<= 64"):
        deploy_hooks.prewarm_limits({"PREWARM_MINIMUM": "1", "PREWARM_MAXIMUM": "65"})


# ---- AfterAllowTraffic --------------------------------------------------------------------------------------


def health_from(lambda_version: str, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-api-version": version.format_version(lambda_version, "abc123")}
    return status, headers, b'{"status":"ok"}' if status == 200 else b'{"error":{}}'


def test_after_allow_traffic_reports_succeeded_when_the_public_url_answers_from_the_new_version(stubbed):
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_report(stubbers["codedeploy"], deploy_hooks.SUCCEEDED)
    fetched: list[str] = []

    def fetcher(url: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
        fetched.append(url)
        # The first answer still comes from the old version: the alias update is still reaching API Gateway.
        return health_from("41" if len(fetched) == 1 else "42")

    checks = deploy_hooks.public_url_checks(clients, "https://api.example.com/api/", fetcher, sleep=lambda _: None)
    result = deploy_hooks.run_hook(EVENT, Context(), checks, clients)

    assert result == {
        "status": deploy_hooks.SUCCEEDED,
        "detail": "https://api.example.com/api/health answered 200 from version 42",
    }
    assert fetched == ["https://api.example.com/api/health"] * 2


def test_after_allow_traffic_reports_failed_after_its_attempts_when_the_public_url_fails(stubbed):
    clients, stubbers = stubbed
    expect_deployment(stubbers["codedeploy"])
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)
    fetched: list[str] = []

    def fetcher(url: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
        fetched.append(url)
        return health_from("42", status=503)

    checks = deploy_hooks.public_url_checks(clients, "https://api.example.com/api", fetcher, sleep=lambda _: None)
    result = deploy_hooks.run_hook(EVENT, Context(), checks, clients)

    assert result["status"] == deploy_hooks.FAILED
    assert "answered 503" in result["detail"] and "expected 200 from lambda=42" in result["detail"]
    assert len(fetched) == deploy_hooks.AFTER_TRAFFIC_ATTEMPTS


def test_after_allow_traffic_without_a_public_url_reports_failed(stubbed):
    clients, stubbers = stubbed
    expect_report(stubbers["codedeploy"], deploy_hooks.FAILED)
    result = deploy_hooks.run_hook(EVENT, Context(), deploy_hooks.public_url_checks(clients, ""), clients)
    assert result["status"] == deploy_hooks.FAILED and "PUBLIC_BASE_URL" in result["detail"]


def test_app_registers_both_hooks_as_their_own_lambda_functions():
    functions = application.app.pure_lambda_functions
    assert {function.name for function in functions} == {"before_allow_traffic", "after_allow_traffic"}
