"""The two drills: pass, fail and skip, and every write undone, also when the run is interrupted mid-drill.

Lambda (functions, versions, the live alias) is moto's server. CodeDeploy is botocore's Stubber: moto leaves a
deployment `Created` and cannot stop one. CloudWatch is the Stubber in the alarm drill: moto has no composite
alarms and no DescribeAlarmHistory. A Stubber fails the test on any call it was not told to expect, and
`assert_no_pending_responses` proves each expected undo was made.
"""

from __future__ import annotations

import io
import os
import signal
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from scripts.acceptance import drills
from scripts.acceptance.framework import Interrupted, Stage, Status, run_checks, run_one
from scripts.harness.local_stack import Moto
from scripts.operations import deploy
from tests.integration.acceptance_support import PROD_LIKE, aws_client, reset_moto, stage_on_moto, stubbed_client

PREFIX = "llm-scores-prod"
GROUP = f"{PREFIX}-live"
DEPLOYMENT = "d-ABCDEFGHI"
ALARM_DRILL, ROLLBACK_DRILL = drills.DRILLS[1], drills.DRILLS[0]
WINDOWS = [f"{PREFIX}-slo-availability-page-fast-1h", f"{PREFIX}-slo-availability-page-fast-5m"]
COMPOSITE = f"{PREFIX}-slo-availability-page"
TOPIC = "arn:aws:sns:us-east-1:123456789012:llm-scores-prod-alarms"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Moto]:
    server = Moto.start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(moto_server: Moto) -> str:
    reset_moto(moto_server.endpoint)
    return moto_server.endpoint


# --- the alarm drill ---------------------------------------------------------------------------------------------


def metric_alarm(name: str, state: str) -> dict[str, Any]:
    return {"AlarmName": name, "StateValue": state}


def expect_states(stubber: Stubber, states: dict[str, str]) -> None:
    metric = [metric_alarm(name, state) for name, state in states.items() if name != COMPOSITE]
    composite = [metric_alarm(name, state) for name, state in states.items() if name == COMPOSITE]
    stubber.add_response("describe_alarms", {"MetricAlarms": metric, "CompositeAlarms": composite})


def expect_set(stubber: Stubber, name: str, state: str, reason: str) -> None:
    stubber.add_response("set_alarm_state", {}, {"AlarmName": name, "StateValue": state, "StateReason": reason})


def expect_restore(stubber: Stubber, before: str = "OK") -> None:
    for name in [*WINDOWS, COMPOSITE]:
        expect_set(stubber, name, before, f"{drills.DRILL_REASON}: restored")


def expect_drill_start(stubber: Stubber, before: str = "OK") -> None:
    expect_states(stubber, dict.fromkeys([*WINDOWS, COMPOSITE], before))
    for name in WINDOWS:
        expect_set(stubber, name, "ALARM", drills.DRILL_REASON)


def alarm_stage(cloudwatch: Any, **fields: Any) -> Stage:
    fields.setdefault("sleep", lambda seconds: None)
    return Stage(
        "prod",
        "us-east-1",
        PROD_LIKE,
        drills=frozenset({drills.ALARM_DRILL_FLAG}),
        client_factory=lambda service: cloudwatch,
        poll_seconds=0,
        **fields,
    )


def test_alarm_drill_passes_when_the_composite_fires_and_notifies_then_restores_every_state() -> None:
    cloudwatch = stubbed_client("cloudwatch")
    with Stubber(cloudwatch) as stubber:
        expect_drill_start(stubber)
        expect_states(stubber, {COMPOSITE: "OK"})  # not yet: the drill polls again
        expect_states(stubber, {COMPOSITE: "ALARM"})
        stubber.add_response(
            "describe_alarm_history",
            {
                "AlarmHistoryItems": [
                    {"AlarmName": COMPOSITE, "HistorySummary": f"Successfully executed action {TOPIC}"}
                ]
            },
            {"AlarmName": COMPOSITE, "HistoryItemType": "Action", "StartDate": ANY, "ScanBy": "TimestampDescending"},
        )
        expect_restore(stubber)
        result = run_one(ALARM_DRILL, alarm_stage(cloudwatch))
        stubber.assert_no_pending_responses()
    assert result.status is Status.PASS and TOPIC in result.reason, result


def test_alarm_drill_fails_when_the_composite_never_fires_and_still_restores() -> None:
    cloudwatch = stubbed_client("cloudwatch")
    with Stubber(cloudwatch) as stubber:
        expect_drill_start(stubber, before="INSUFFICIENT_DATA")
        expect_states(stubber, {COMPOSITE: "INSUFFICIENT_DATA"})
        expect_restore(stubber, before="INSUFFICIENT_DATA")
        result = run_one(ALARM_DRILL, alarm_stage(cloudwatch, wait_seconds=0))
        stubber.assert_no_pending_responses()
    assert result.status is Status.FAIL and "not seen within" in result.reason


def test_alarm_drill_fails_when_the_sns_action_fails() -> None:
    cloudwatch = stubbed_client("cloudwatch")
    with Stubber(cloudwatch) as stubber:
        expect_drill_start(stubber)
        expect_states(stubber, {COMPOSITE: "ALARM"})
        stubber.add_response(
            "describe_alarm_history",
            {"AlarmHistoryItems": [{"HistorySummary": f"Failed to execute action {TOPIC}: KMS AccessDenied"}]},
        )
        expect_restore(stubber)
        result = run_one(ALARM_DRILL, alarm_stage(cloudwatch))
        stubber.assert_no_pending_responses()
    assert result.status is Status.FAIL and "could not notify" in result.reason


def test_alarm_drill_skips_during_an_incident_without_touching_an_alarm() -> None:
    cloudwatch = stubbed_client("cloudwatch")
    with Stubber(cloudwatch) as stubber:
        expect_states(stubber, {WINDOWS[0]: "ALARM", WINDOWS[1]: "OK", COMPOSITE: "OK"})
        result = run_one(ALARM_DRILL, alarm_stage(cloudwatch))
        stubber.assert_no_pending_responses()
    assert result.status is Status.SKIP and "incident" in result.reason


def test_alarm_drill_is_skipped_unless_its_flag_is_given() -> None:
    def no_client(service: str) -> Any:
        raise AssertionError("a drill without its flag must not reach AWS")

    result = run_one(ALARM_DRILL, Stage("prod", "us-east-1", PROD_LIKE, client_factory=no_client))
    assert result.status is Status.SKIP and "--alarm-drill" in result.reason


@pytest.mark.parametrize("interrupt", ["keyboard_interrupt", "sigterm", "sigint"])
def test_alarm_drill_interrupted_while_waiting_restores_every_state(interrupt: str) -> None:
    cloudwatch = stubbed_client("cloudwatch")

    def interrupted_sleep(seconds: float) -> None:
        # What Ctrl-C or a CI runner's cancel does while the drill waits for the composite.
        if interrupt == "keyboard_interrupt":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM if interrupt == "sigterm" else signal.SIGINT)

    with Stubber(cloudwatch) as stubber:
        expect_drill_start(stubber)
        expect_states(stubber, {COMPOSITE: "OK"})
        expect_restore(stubber)
        with pytest.raises(Interrupted) as interrupted:
            run_checks([ALARM_DRILL, ROLLBACK_DRILL], alarm_stage(cloudwatch, sleep=interrupted_sleep))
        stubber.assert_no_pending_responses()
    outcomes = interrupted.value.outcomes
    assert [(outcome.check.name, outcome.result.status) for outcome in outcomes] == [
        ("alarm_drill", Status.FAIL),
        ("rollback_drill", Status.SKIP),
    ]
    assert "clean-up ran" in outcomes[0].result.reason
    # The runner put the handlers back: the test process's own SIGINT handling is untouched.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- the rollback drill ------------------------------------------------------------------------------------------


def create_function(endpoint: str, name: str) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return event\n")
    iam = aws_client(endpoint, "iam")
    try:
        role = iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="lambda")["Role"]["Arn"]
    aws_client(endpoint, "lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": archive.getvalue()}
    )


def deployed_stage(endpoint: str, hook: bool = True) -> None:
    """The API function with versions 1 and 2, live on 1, and (unless told otherwise) the pre-traffic hook."""
    create_function(endpoint, PREFIX)
    lambda_ = aws_client(endpoint, "lambda")
    for build in ("good", "built to fail the pre-traffic check"):
        lambda_.update_function_configuration(FunctionName=PREFIX, Description=build)
        lambda_.publish_version(FunctionName=PREFIX)
    lambda_.create_alias(FunctionName=PREFIX, Name="live", FunctionVersion="1")
    if hook:
        create_function(endpoint, drills.pre_traffic_hook_name(Stage("prod", "us-east-1", {})))


def expected_revision() -> dict[str, Any]:
    appspec = deploy.build_appspec(PREFIX, "live", "1", "2")
    appspec["Hooks"] = [{"BeforeAllowTraffic": f"{PREFIX}-before_allow_traffic"}]
    return deploy.revision_for(appspec)


def expect_deployment_created(stubber: Stubber) -> None:
    stubber.add_response(
        "list_deployments",
        {"deployments": []},
        {"applicationName": PREFIX, "deploymentGroupName": GROUP, "includeOnlyStatuses": list(deploy.ACTIVE_STATUSES)},
    )
    stubber.add_response(
        "create_deployment",
        {"deploymentId": DEPLOYMENT},
        {"applicationName": PREFIX, "deploymentGroupName": GROUP, "revision": expected_revision(), "description": ANY},
    )


def expect_status(stubber: Stubber, status: str) -> None:
    stubber.add_response("get_deployment", {"deploymentInfo": {"deploymentId": DEPLOYMENT, "status": status}})


def rollback_stage(endpoint: str, codedeploy: Any, **fields: Any) -> Stage:
    fields.setdefault("drill_version", "2")
    return stage_on_moto(
        endpoint, stubbed={"codedeploy": codedeploy}, drills=frozenset({drills.ROLLBACK_DRILL_FLAG}), **fields
    )


def live(endpoint: str) -> tuple[str, dict[str, float]]:
    alias = aws_client(endpoint, "lambda").get_alias(FunctionName=PREFIX, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_rollback_drill_passes_when_codedeploy_fails_the_version_and_live_never_moved(endpoint: str) -> None:
    deployed_stage(endpoint)
    codedeploy = stubbed_client("codedeploy")
    with Stubber(codedeploy) as stubber:
        expect_deployment_created(stubber)
        expect_status(stubber, "InProgress")
        expect_status(stubber, "Failed")
        expect_status(stubber, "Failed")  # the clean-up looks again: nothing left to stop
        result = run_one(ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy))
        stubber.assert_no_pending_responses()
    assert result.status is Status.PASS and "version 1 before and after" in result.reason, result
    assert live(endpoint) == ("1", {})


def test_rollback_drill_fails_when_the_version_passes_the_hook_and_puts_live_back(endpoint: str) -> None:
    deployed_stage(endpoint)
    codedeploy = stubbed_client("codedeploy")

    def codedeploy_shifts_live(seconds: float) -> None:
        # What a deployment that wrongly succeeds does to the alias meanwhile.
        aws_client(endpoint, "lambda").update_alias(FunctionName=PREFIX, Name="live", FunctionVersion="2")

    with Stubber(codedeploy) as stubber:
        expect_deployment_created(stubber)
        expect_status(stubber, "InProgress")
        expect_status(stubber, "Succeeded")
        expect_status(stubber, "Succeeded")
        result = run_one(ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy, sleep=codedeploy_shifts_live))
        stubber.assert_no_pending_responses()
    assert result.status is Status.FAIL and "passed the pre-traffic hook" in result.reason
    assert live(endpoint) == ("1", {})


@pytest.mark.parametrize("interrupt", ["keyboard_interrupt", "sigterm"])
def test_rollback_drill_interrupted_mid_shift_stops_the_deployment_and_restores_live(
    endpoint: str, interrupt: str
) -> None:
    deployed_stage(endpoint)
    codedeploy = stubbed_client("codedeploy")

    def shift_then_interrupt(seconds: float) -> None:
        # CodeDeploy has sent 10 % to the drill version when the operator presses Ctrl-C.
        aws_client(endpoint, "lambda").update_alias(
            FunctionName=PREFIX, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
        )
        if interrupt == "keyboard_interrupt":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)

    with Stubber(codedeploy) as stubber:
        expect_deployment_created(stubber)
        expect_status(stubber, "InProgress")
        expect_status(stubber, "InProgress")
        stubber.add_response(
            "stop_deployment", {"status": "Pending"}, {"deploymentId": DEPLOYMENT, "autoRollbackEnabled": True}
        )
        with pytest.raises(Interrupted) as interrupted:
            run_checks([ROLLBACK_DRILL], rollback_stage(endpoint, codedeploy, sleep=shift_then_interrupt))
        stubber.assert_no_pending_responses()
    assert interrupted.value.outcomes[0].result.status is Status.FAIL
    assert live(endpoint) == ("1", {})


def test_rollback_drill_skips_without_a_hook_a_version_or_a_live_alias(endpoint: str) -> None:
    deployed_stage(endpoint, hook=False)
    codedeploy = stubbed_client("codedeploy")
    with Stubber(codedeploy) as stubber:  # no call expected: a skip writes nothing
        no_hook = run_one(ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy))
        create_function(endpoint, f"{PREFIX}-before_allow_traffic")
        no_version = run_one(ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy, drill_version=None))
        no_alias = run_one(
            ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy, settings={**PROD_LIKE, "enable_live_alias": False})
        )
        stubber.assert_no_pending_responses()
    assert no_hook.status is Status.SKIP and "no pre-traffic hook" in no_hook.reason
    assert no_version.status is Status.SKIP and "--rollback-drill-version" in no_version.reason
    assert no_alias.status is Status.SKIP and "enable_live_alias" in no_alias.reason
    assert live(endpoint) == ("1", {})


def test_rollback_drill_refuses_to_start_over_leftover_weights(endpoint: str) -> None:
    deployed_stage(endpoint)
    aws_client(endpoint, "lambda").update_alias(
        FunctionName=PREFIX, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    codedeploy = stubbed_client("codedeploy")
    with Stubber(codedeploy):
        result = run_one(ROLLBACK_DRILL, rollback_stage(endpoint, codedeploy))
    assert result.status is Status.FAIL and "already splits traffic" in result.reason
    assert live(endpoint) == ("1", {"2": 0.1})  # not the drill's weights: left for the operator to settle


def test_rollback_drill_interrupted_before_the_deployment_id_came_back_finds_and_stops_its_deployment(
    endpoint: str,
) -> None:
    deployed_stage(endpoint)
    codedeploy = stubbed_client("codedeploy")

    def interrupted_after_codedeploy_took_it(**_: Any) -> None:
        raise KeyboardInterrupt

    codedeploy.meta.events.register("after-call.codedeploy.CreateDeployment", interrupted_after_codedeploy_took_it)
    with Stubber(codedeploy) as stubber:
        expect_deployment_created(stubber)
        stubber.add_response("list_deployments", {"deployments": ["d-OTHER0000", DEPLOYMENT]})
        stubber.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": "d-OTHER0000", "status": "InProgress", "description": "make deploy"}},
        )
        stubber.add_response(
            "get_deployment",
            {
                "deploymentInfo": {
                    "deploymentId": DEPLOYMENT,
                    "status": "Created",
                    "description": "acceptance rollback drill: 1 -> 2",
                }
            },
        )
        stubber.add_response(
            "stop_deployment", {"status": "Pending"}, {"deploymentId": DEPLOYMENT, "autoRollbackEnabled": True}
        )
        with pytest.raises(Interrupted):
            run_checks([ROLLBACK_DRILL], rollback_stage(endpoint, codedeploy))
        stubber.assert_no_pending_responses()  # only the drill's own deployment was stopped
    assert live(endpoint) == ("1", {})


def test_rollback_drill_puts_live_back_even_when_stopping_the_deployment_fails(endpoint: str) -> None:
    deployed_stage(endpoint)
    codedeploy = stubbed_client("codedeploy")

    def shift_then_interrupt(seconds: float) -> None:
        aws_client(endpoint, "lambda").update_alias(FunctionName=PREFIX, Name="live", FunctionVersion="2")
        raise KeyboardInterrupt

    with Stubber(codedeploy) as stubber:
        expect_deployment_created(stubber)
        expect_status(stubber, "InProgress")
        expect_status(stubber, "InProgress")
        stubber.add_client_error("stop_deployment", "AccessDeniedException", "not allowed")
        with pytest.raises(Interrupted) as interrupted:
            run_checks([ROLLBACK_DRILL], rollback_stage(endpoint, codedeploy, sleep=shift_then_interrupt))
    result = interrupted.value.outcomes[0].result
    assert result.status is Status.FAIL and "AccessDeniedException" in result.cleanup_errors[0]
    assert "clean-up failed" in result.reason
    assert live(endpoint) == ("1", {})
