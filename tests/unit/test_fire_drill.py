"""`make fire-drill`: each alarm with actions goes to ALARM for a moment and back to the state it was in, also when the
drill is interrupted. CloudWatch is moto (in-process `mock_aws`: describe_alarms, set_alarm_state, composite alarms);
moto 5.2 lacks PutCompositeAlarm and never refuses SetAlarmState, so a composite alarm and a refusal come from
botocore's Stubber."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from scripts.operations import fire_drill

REGION = "eu-west-1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:llm-scores-dev-page"


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        _metric_alarm(client, "llm-scores-dev-api-down", "PAGE: most requests fail. Runbook: x", actions=True)
        _metric_alarm(client, "llm-scores-dev-api-5xx", "TICKET: 5xx. Runbook: x", actions=True)
        _metric_alarm(
            client, "llm-scores-dev-slo-availability-ticket-3d", "SILENT: a window. Runbook: x", actions=False
        )
        _metric_alarm(client, "llm-scores-prod-api-down", "PAGE: another stage. Runbook: x", actions=True)
        # States before the drill that are not OK: the drill must put back what was there, not OK.
        client.set_alarm_state(AlarmName="llm-scores-dev-api-5xx", StateValue="INSUFFICIENT_DATA", StateReason="t")
        client.set_alarm_state(AlarmName="llm-scores-dev-api-down", StateValue="OK", StateReason="t")
        yield client


def _metric_alarm(client: Any, name: str, description: str, actions: bool) -> None:
    client.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=description,
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[TOPIC] if actions else [],
    )


def states(client: Any) -> dict[str, str]:
    described = client.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {
        alarm["AlarmName"]: alarm["StateValue"] for alarm in described["MetricAlarms"] + described["CompositeAlarms"]
    }


def test_each_alarm_with_actions_is_in_alarm_during_its_hold_and_restored_after(cloudwatch: Any) -> None:
    before = states(cloudwatch)
    seen_during_holds: list[dict[str, str]] = []
    status = fire_drill.drill(
        cloudwatch,
        "dev",
        hold_seconds=5,
        say=lambda _: None,
        sleep=lambda _: seen_during_holds.append(states(cloudwatch)),
    )
    assert status == 0
    drilled = {"llm-scores-dev-api-down", "llm-scores-dev-api-5xx"}
    assert len(seen_during_holds) == len(drilled)
    in_alarm = {name for snapshot in seen_during_holds for name, state in snapshot.items() if state == "ALARM"}
    assert in_alarm == drilled  # never the silent window, never another stage
    assert states(cloudwatch) == before


def test_only_drills_the_named_alarms(cloudwatch: Any) -> None:
    touched: list[str] = []
    status = fire_drill.drill(cloudwatch, "dev", 0, only={"api-down"}, say=touched.append, sleep=lambda _: None)
    assert status == 0
    assert [line.split()[1] for line in touched if line.startswith("PAGE")] == ["llm-scores-dev-api-down"]


def test_sigterm_mid_drill_restores_every_alarm_already_drilled(cloudwatch: Any) -> None:
    before = states(cloudwatch)
    holds: list[dict[str, str]] = []

    def terminated_during_the_second_hold(_: float) -> None:
        holds.append(states(cloudwatch))
        if len(holds) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    status = fire_drill.drill(cloudwatch, "dev", 1, say=lambda _: None, sleep=terminated_during_the_second_hold)
    assert status == 130
    assert sum(state == "ALARM" for state in holds[1].values()) == 2
    assert states(cloudwatch) == before
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_ctrl_c_mid_drill_restores_every_alarm_already_drilled(cloudwatch: Any) -> None:
    before = states(cloudwatch)

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    assert fire_drill.drill(cloudwatch, "dev", 1, say=lambda _: None, sleep=interrupted) == 130
    assert states(cloudwatch) == before


def test_a_stage_without_alarms_drills_nothing(cloudwatch: Any) -> None:
    assert fire_drill.drill(cloudwatch, "staging", 0, say=lambda _: None, sleep=lambda _: None) == 2


def test_an_alarm_that_cannot_be_set_is_reported_and_the_rest_still_restored() -> None:
    # moto never refuses SetAlarmState; a Stubber plays CloudWatch refusing one alarm.
    client = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    described = {
        "MetricAlarms": [
            {
                "AlarmName": "llm-scores-dev-a",
                "StateValue": "OK",
                "AlarmDescription": "PAGE: a",
                "AlarmActions": [TOPIC],
            },
            {
                "AlarmName": "llm-scores-dev-b",
                "StateValue": "OK",
                "AlarmDescription": "TICKET: b",
                "AlarmActions": [TOPIC],
            },
        ],
        "CompositeAlarms": [
            {
                "AlarmName": "llm-scores-dev-slo-latency-page",
                "StateValue": "INSUFFICIENT_DATA",
                "AlarmDescription": "PAGE: c",
                "AlarmActions": [TOPIC],
            },
        ],
    }
    drill_order = [
        ("llm-scores-dev-a", "OK"),
        ("llm-scores-dev-slo-latency-page", "INSUFFICIENT_DATA"),
        ("llm-scores-dev-b", "OK"),
    ]
    with Stubber(client) as stubber:
        stubber.add_response("describe_alarms", described)
        for name, _ in drill_order:
            expected = {"AlarmName": name, "StateValue": "ALARM", "StateReason": fire_drill.DRILL_REASON}
            if name == "llm-scores-dev-b":
                stubber.add_client_error("set_alarm_state", "ResourceNotFound", expected_params=expected)
            else:
                stubber.add_response("set_alarm_state", {}, expected)
        # Restored in drill order, each to its own state, the refused one included (the call may have landed).
        for name, state in drill_order:
            expected = {"AlarmName": name, "StateValue": state, "StateReason": fire_drill.RESTORE_REASON}
            stubber.add_response("set_alarm_state", {}, expected)
        lines: list[str] = []
        assert fire_drill.drill(client, "dev", 0, say=lines.append, sleep=lambda _: None) == 1
        stubber.assert_no_pending_responses()
    assert [line.split(":")[0] for line in lines if line.startswith("NOT")] == ["NOT SET   llm-scores-dev-b"]
