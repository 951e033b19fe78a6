"""`make deploy` (scripts/operations/deploy.py) against moto's server on loopback, with CodeDeploy's progress stubbed.

moto serves what the script reads and creates for real: the function, its published versions, the `live`
alias, the CodeDeploy application and deployment group, the deployment itself, whose AppSpec the
tests read back from moto, and the SSM parameter that records rolled-back versions. moto leaves every
deployment at `Created`, so the status changes CodeDeploy would report come from botocore's Stubber,
on GetDeployment only; every other call goes to moto. CodeDeploy's refusal of a second active
deployment, which moto does not enforce, is stubbed the same way, on CreateDeployment only.
Each test creates its own function and CodeDeploy application, so the tests share one server safely.
Functions are never invoked (moto would need Docker for that).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import deploy_hooks
from scripts.harness.local_stack import LOCAL_AWS_ENVIRONMENT, Moto, local_environment
from scripts.operations import deploy

ROOT = Path(__file__).resolve().parents[2]
REGION = LOCAL_AWS_ENVIRONMENT["AWS_REGION"]
CANARY = "CodeDeployDefault.LambdaCanary10Percent5Minutes"


class OperationStubber(Stubber):
    """botocore's Stubber answering one CodeDeploy operation only; every other call still goes to moto.

    The stock Stubber intercepts every operation of its client. This one registers the same handlers
    (botocore's own `_assert_expected_params` and `_get_response_handler`) on one operation's events alone.
    """

    def __init__(self, client: Any, operation: str) -> None:
        super().__init__(client)
        self.event = f"codedeploy.{operation}"

    def activate(self) -> None:
        self.client.meta.events.register_first(
            f"before-parameter-build.{self.event}",
            self._assert_expected_params,
            unique_id=self._expected_params_event_id,
        )
        self.client.meta.events.register(
            f"before-call.{self.event}", self._get_response_handler, unique_id=self._event_id
        )

    def deactivate(self) -> None:
        self.client.meta.events.unregister(
            f"before-parameter-build.{self.event}",
            self._assert_expected_params,
            unique_id=self._expected_params_event_id,
        )
        self.client.meta.events.unregister(
            f"before-call.{self.event}", self._get_response_handler, unique_id=self._event_id
        )


@dataclass
class Stage:
    """One function with published versions and a `live` alias, and its CodeDeploy application and group."""

    function_name: str
    application: str
    deployment_group: str
    outputs_file: Path

    def outputs(self, published_version: str) -> Path:
        """A `terraform output -json` document naming this stage, as the apply would leave it."""
        document = {
            deploy.OUTPUT_FUNCTION: self.function_name,
            deploy.OUTPUT_TARGET_VERSION: published_version,
            deploy.OUTPUT_ALIAS: deploy.LIVE_ALIAS,
            deploy.OUTPUT_APPLICATION: self.application,
            deploy.OUTPUT_DEPLOYMENT_GROUP: self.deployment_group,
            deploy.OUTPUT_BEFORE_ALLOW_TRAFFIC_HOOK: f"{self.function_name}-before_allow_traffic",
            deploy.OUTPUT_AFTER_ALLOW_TRAFFIC_HOOK: f"{self.function_name}-after_allow_traffic",
        }
        wrapped = {name: {"sensitive": False, "type": "string", "value": value} for name, value in document.items()}
        self.outputs_file.write_text(json.dumps(wrapped))
        return self.outputs_file


@dataclass
class MotoAws:
    moto: Moto
    role_arn: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def stage(self, tmp_path: Path, *, versions: int, live: str) -> Stage:
        """A fresh function with `versions` published versions, `live` on version `live`, and a CodeDeploy group."""
        name = f"llm-scores-test-{uuid.uuid4().hex[:8]}"
        lambda_ = self.client("lambda")
        for number in range(1, versions + 1):
            code = zip_of(f"def handler(event, context):\n    return {number}\n")
            if number == 1:
                created = lambda_.create_function(
                    FunctionName=name,
                    Runtime="python3.13",
                    Role=self.role_arn,
                    Handler="app.handler",
                    Code={"ZipFile": code},
                    Publish=True,
                )
                assert created["Version"] == "1"
            else:
                assert lambda_.update_function_code(FunctionName=name, ZipFile=code, Publish=True)["Version"] == str(
                    number
                )
        lambda_.create_alias(FunctionName=name, Name=deploy.LIVE_ALIAS, FunctionVersion=live)
        codedeploy = self.client("codedeploy")
        codedeploy.create_application(applicationName=name, computePlatform="Lambda")
        group = f"{name}-{deploy.LIVE_ALIAS}"
        codedeploy.create_deployment_group(
            applicationName=name,
            deploymentGroupName=group,
            serviceRoleArn=self.role_arn,
            deploymentConfigName=CANARY,
            deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            alarmConfiguration={"enabled": True, "alarms": [{"name": f"{name}-api-5xx"}]},
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        )
        return Stage(name, name, group, tmp_path / "terraform-outputs.json")

    def deployments(self, stage: Stage) -> list[str]:
        listed: list[str] = self.client("codedeploy").list_deployments(
            applicationName=stage.application, deploymentGroupName=stage.deployment_group
        )["deployments"]
        return listed

    def start_other_deployment(self, stage: Stage) -> str:
        """A deployment someone else started: moto keeps it `Created`, which CodeDeploy counts as active."""
        appspec = deploy.build_appspec(stage.function_name, deploy.LIVE_ALIAS, "1", "2")
        created: str = self.client("codedeploy").create_deployment(
            applicationName=stage.application,
            deploymentGroupName=stage.deployment_group,
            revision=deploy.revision_for(appspec),
        )["deploymentId"]
        return created

    def rolled_back(self, stage: Stage) -> dict[str, dict[str, str]]:
        """The record scripts/operations/deploy.py keeps in SSM, read back from moto ({} when there is none)."""
        ssm = self.client("ssm")
        try:
            value = ssm.get_parameter(Name=f"/{stage.function_name}/rolled-back-versions")["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return {}
        record: dict[str, dict[str, str]] = json.loads(value)
        return record

    def clients(self) -> deploy.Clients:
        return deploy.Clients(
            lambda_=self.client("lambda"), codedeploy=self.client("codedeploy"), ssm=self.client("ssm")
        )


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoAws]:
    moto = Moto.start()
    try:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam = boto3.client(
            "iam", endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="l", aws_secret_access_key="l"
        )
        role = iam.create_role(RoleName="llm-scores-test", AssumeRolePolicyDocument=json.dumps(trust))
        yield MotoAws(moto, role["Role"]["Arn"])
    finally:
        moto.stop()


def status(deployment_id: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"deploymentInfo": {"deploymentId": deployment_id, "status": value, "computePlatform": "Lambda", **extra}}


def script_clients(aws: MotoAws, statuses: list[tuple[str, str, dict[str, Any]]]) -> tuple[deploy.Clients, Any, dict]:
    """Clients for the script: Lambda and CodeDeploy on moto, with GetDeployment answered from `statuses`.

    Each entry is (which deployment, status, extra fields); which is "created" for the deployment the
    script creates (its id is known only once moto returns it) or a literal id such as a rollback's.
    """
    codedeploy = aws.client("codedeploy")
    stubber = OperationStubber(codedeploy, "GetDeployment")
    created: dict[str, str] = {}

    def queue_statuses(parsed: dict[str, Any], **_: Any) -> None:
        created["id"] = parsed["deploymentId"]
        for which, value, extra in statuses:
            deployment_id = created["id"] if which == "created" else which
            stubber.add_response(
                "get_deployment", status(deployment_id, value, **extra), {"deploymentId": deployment_id}
            )

    codedeploy.meta.events.register("after-call.codedeploy.CreateDeployment", queue_statuses)
    stubber.activate()
    return deploy.Clients(lambda_=aws.client("lambda"), codedeploy=codedeploy, ssm=aws.client("ssm")), stubber, created


def run(stage: Stage, clients: deploy.Clients, published: str, *extra: str) -> int:
    arguments = ["--stage", "prod", "--terraform-outputs", str(stage.outputs(published)), "--poll-seconds", "0"]
    return deploy.main([*arguments, *extra], clients=clients)


def test_deploy_shifts_live_through_codedeploy_and_exits_zero_on_success(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: reads `live` (version 1) and checks version 2 exists; creates the deployment, whose AppSpec and
    revision are read back from moto. Stubber (GetDeployment only): InProgress, InProgress, Succeeded."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    clients, stubber, created = script_clients(
        aws, [("created", "InProgress", {}), ("created", "InProgress", {}), ("created", "Succeeded", {})]
    )

    assert run(stage, clients, "2") == deploy.EXIT_DEPLOYED

    stubber.assert_no_pending_responses()
    printed = capsys.readouterr().out
    assert f"Shifting {stage.function_name}:live from version 1 to version 2" in printed
    assert f"deployment {created['id']}: InProgress" in printed
    assert f"deployment {created['id']}: Succeeded" in printed
    assert "traffic: version 1 at 100%" in printed
    assert f"Deployed: {stage.function_name}:live serves version 2." in printed
    # What moto holds is what the script sent: one deployment, to this group, with the AppSpec inline.
    assert aws.deployments(stage) == [created["id"]]
    held = aws.client("codedeploy").get_deployment(deploymentId=created["id"])["deploymentInfo"]
    assert (held["applicationName"], held["deploymentGroupName"]) == (stage.application, stage.deployment_group)
    assert held["deploymentConfigName"] == CANARY, "the group's configuration decides, not the script"
    revision = held["revision"]
    assert revision["revisionType"] == "AppSpecContent"
    content = revision["appSpecContent"]["content"]
    assert revision["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    # moto accepts the AppSpec with its hooks: the functions the apply's outputs name, before and after the shift.
    held_appspec = json.loads(content)
    assert held_appspec["Hooks"] == [
        {"BeforeAllowTraffic": f"{stage.function_name}-before_allow_traffic"},
        {"AfterAllowTraffic": f"{stage.function_name}-after_allow_traffic"},
    ]
    # What the hooks read back from CodeDeploy is what the script sent (moto's GetDeployment, as CodeDeploy's).
    assert deploy_hooks.read_shift(aws.client("codedeploy"), created["id"]) == deploy_hooks.Shift(
        function_name=stage.function_name, alias="live", current_version="1", target_version="2"
    )
    assert held_appspec == deploy.build_appspec(
        stage.function_name,
        "live",
        "1",
        "2",
        {
            "BeforeAllowTraffic": f"{stage.function_name}-before_allow_traffic",
            "AfterAllowTraffic": f"{stage.function_name}-after_allow_traffic",
        },
    )


@pytest.mark.parametrize(
    ("ending", "reason"),
    [("Stopped", "ALARM_ACTIVE"), ("Failed", "HOOK_EXECUTION_FAILURE")],
    ids=["stopped-on-alarm", "failed"],
)
def test_deploy_exits_non_zero_and_reports_the_rollback_when_codedeploy_rolls_back(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], ending: str, reason: str
) -> None:
    """moto: the alias, the versions and the created deployment, as on success. Stubber (GetDeployment only):
    the deployment goes InProgress, then Stopped or Failed with errorInformation and rollbackInfo naming
    the rollback deployment CodeDeploy started, which goes InProgress, then Succeeded."""
    stage = aws.stage(tmp_path, versions=3, live="2")
    rollback_id = "d-ROLLBACK01"
    clients, stubber, created = script_clients(
        aws,
        [
            ("created", "InProgress", {}),
            (
                "created",
                ending,
                {
                    "errorInformation": {"code": reason, "message": f"{stage.function_name}-api-5xx is in ALARM"},
                    "rollbackInfo": {
                        "rollbackDeploymentId": rollback_id,
                        "rollbackMessage": f"Automatic rollback initiated by {rollback_id}",
                    },
                },
            ),
            (rollback_id, "InProgress", {"rollbackInfo": {"rollbackTriggeringDeploymentId": "triggering"}}),
            (rollback_id, "Succeeded", {}),
        ],
    )

    assert run(stage, clients, "3") == deploy.EXIT_FAILED

    stubber.assert_no_pending_responses()
    printed = capsys.readouterr().out
    assert f"Deployment {created['id']} {ending.lower()}: live was not moved to version 3." in printed
    assert f"reason: {reason}: {stage.function_name}-api-5xx is in ALARM" in printed
    assert f"rollback {rollback_id}: Succeeded" in printed
    assert f"Rolled back: {stage.function_name}:live serves version 2 again." in printed
    assert aws.deployments(stage) == [created["id"]]


def stopped_on_alarm(stage: Stage, rollback_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """GetDeployment answers for a canary an alarm stops, and the rollback CodeDeploy then runs."""
    ending = {
        "errorInformation": {"code": "ALARM_ACTIVE", "message": f"{stage.function_name}-api-5xx is in ALARM"},
        "rollbackInfo": {"rollbackDeploymentId": rollback_id, "rollbackMessage": f"Rolled back by {rollback_id}"},
    }
    return [("created", "InProgress", {}), ("created", "Stopped", ending), (rollback_id, "Succeeded", {})]


def test_a_rolled_back_version_is_recorded_and_the_next_run_refuses_it(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias, versions, the created deployment, and the SSM record, read back. Stubber (GetDeployment
    only): the canary to version 3 is stopped on alarm and rolled back. The apply's outputs still name
    version 3 (an unchanged zip publishes nothing new), so the next run must not shift to it again."""
    stage = aws.stage(tmp_path, versions=3, live="2")
    clients, stubber, created = script_clients(aws, stopped_on_alarm(stage, "d-ROLLBACK02"))
    assert run(stage, clients, "3") == deploy.EXIT_FAILED
    stubber.assert_no_pending_responses()
    assert "Recorded: version 3" in capsys.readouterr().out
    entry = aws.rolled_back(stage)["3"]
    assert entry["deployment"] == created["id"]
    assert entry["reason"] == f"deployment stopped: ALARM_ACTIVE: {stage.function_name}-api-5xx is in ALARM"

    assert run(stage, aws.clients(), "3") == deploy.EXIT_ROLLED_BACK_VERSION

    refusal = capsys.readouterr().err
    assert f"version 3 of {stage.function_name} was rolled back in deployment {created['id']}" in refusal
    assert "TARGET_VERSION=3 FORCE=1" in refusal and "--force" in refusal
    assert aws.deployments(stage) == [created["id"]], "no second deployment to the rolled-back version"


def test_the_issues_case_live_on_41_outputs_naming_42_after_42_was_rolled_back_is_refused(
    aws: MotoAws, tmp_path: Path
) -> None:
    """moto only, through the real command line (subprocesses; AWS_ENDPOINT_URL points boto3 at moto), as the
    issue simulated it: `live` on 41, the outputs naming 42. Before, this printed "Shifting ... from version
    41 to version 42" and exited 0. A rollback recorded by hand (--record-rollback) makes it refuse."""
    stage = aws.stage(tmp_path, versions=42, live="41")
    environment = {**local_environment(), "AWS_ENDPOINT_URL": aws.moto.endpoint}
    outputs = str(stage.outputs("42"))

    def script(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "scripts/operations/deploy.py",
            "--stage",
            "prod",
            "--terraform-outputs",
            outputs,
            *arguments,
        ]
        return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)

    recorded = script("--record-rollback", "42")
    assert recorded.returncode == 0, recorded.stderr
    refused = script()
    assert refused.returncode == deploy.EXIT_ROLLED_BACK_VERSION == 5
    assert "Shifting" not in refused.stdout
    assert f"version 42 of {stage.function_name} was rolled back" in refused.stderr
    assert aws.deployments(stage) == []


def test_force_shifts_to_a_rolled_back_version_and_clears_its_record(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias, versions, the created deployment, the SSM record before and after. Stubber (GetDeployment
    only): Succeeded. A forced deploy of a recorded version goes ahead, and then it is live on purpose."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    assert deploy.record_rollback_by_hand(aws.clients(), target_of(stage, "2"), "2", print) == deploy.EXIT_DEPLOYED
    assert set(aws.rolled_back(stage)) == {"2"}
    clients, stubber, created = script_clients(aws, [("created", "Succeeded", {})])

    assert run(stage, clients, "2", "--force") == deploy.EXIT_DEPLOYED

    stubber.assert_no_pending_responses()
    printed = capsys.readouterr().out
    assert "Version 2 was rolled back before; deploying it anyway (--force)." in printed
    assert f"Deployed: {stage.function_name}:live serves version 2." in printed
    assert aws.rolled_back(stage) == {}
    assert aws.deployments(stage) == [created["id"]]


def test_shifting_back_by_hand_records_the_version_it_left(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias, versions, the created deployment, the SSM record. Stubber (GetDeployment only): Succeeded.
    `make deploy TARGET_VERSION=2` with `live` on 3 is a rollback by hand: version 3 is recorded."""
    stage = aws.stage(tmp_path, versions=3, live="3")
    clients, _, created = script_clients(aws, [("created", "Succeeded", {})])
    assert run(stage, clients, "3", "--target-version", "2") == deploy.EXIT_DEPLOYED
    assert "from version 3 back to version 2" in capsys.readouterr().out
    entry = aws.rolled_back(stage)["3"]
    assert entry["deployment"] == created["id"] and "shifted back from it to version 2" in entry["reason"]


def test_an_unreadable_rollback_record_refuses_the_deploy(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias and versions. Stubber (stock, on the SSM client): GetParameter denied. Without the record a
    rolled-back version could go live again, so nothing is started."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    ssm = aws.client("ssm")
    with Stubber(ssm) as denied:
        denied.add_client_error("get_parameter", service_error_code="AccessDeniedException", http_status_code=400)
        clients = deploy.Clients(lambda_=aws.client("lambda"), codedeploy=aws.client("codedeploy"), ssm=ssm)
        assert run(stage, clients, "2") == deploy.EXIT_REFUSED
    refusal = capsys.readouterr().err
    assert f"/{stage.function_name}/rolled-back-versions (AccessDeniedException)" in refusal
    assert "ssm:GetParameter" in refusal
    assert aws.deployments(stage) == []


def target_of(stage: Stage, version: str) -> deploy.Target:
    return deploy.Target(stage.function_name, deploy.LIVE_ALIAS, stage.application, stage.deployment_group, version)


def test_deploy_stopped_without_a_rollback_exits_non_zero_and_shows_where_live_stands(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias, versions, created deployment, and the alias read back for the final traffic line.
    Stubber (GetDeployment only): InProgress, then Stopped by hand (MANUAL_STOP) with no rollbackInfo."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    stopped = {"errorInformation": {"code": "MANUAL_STOP", "message": "stopped by an operator"}}
    clients, stubber, created = script_clients(aws, [("created", "InProgress", {}), ("created", "Stopped", stopped)])
    assert run(stage, clients, "2") == deploy.EXIT_FAILED
    stubber.assert_no_pending_responses()
    printed = capsys.readouterr().out
    assert f"Deployment {created['id']} stopped: live was not moved to version 2." in printed
    assert "reason: MANUAL_STOP: stopped by an operator" in printed
    assert "No rollback was started. live now: version 1 at 100%" in printed


def test_deploy_with_nothing_to_deploy_says_so_and_exits_zero_from_the_command_line(
    aws: MotoAws, tmp_path: Path
) -> None:
    """moto only, through the real command line (a subprocess; AWS_ENDPOINT_URL points boto3 at moto):
    `live` already serves the published version, so no deployment is created. No Stubber."""
    stage = aws.stage(tmp_path, versions=2, live="2")
    environment = {**local_environment(), "AWS_ENDPOINT_URL": aws.moto.endpoint}
    result = subprocess.run(
        [
            sys.executable,
            "scripts/operations/deploy.py",
            "--stage",
            "prod",
            "--terraform-outputs",
            str(stage.outputs("2")),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"Nothing to deploy: {stage.function_name}:live already serves version 2." in result.stdout
    assert aws.deployments(stage) == []


def test_deploy_of_a_stage_that_publishes_no_versions_says_so_and_exits_zero(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No AWS call at all (stock Stubbers with nothing queued would fail any call): the outputs say the
    apply published nothing, $LATEST, as for a stage with enable_live_alias off."""
    stage = aws.stage(tmp_path, versions=1, live="1")
    lambda_, codedeploy, ssm = aws.client("lambda"), aws.client("codedeploy"), aws.client("ssm")
    with Stubber(lambda_), Stubber(codedeploy), Stubber(ssm):
        assert run(stage, deploy.Clients(lambda_, codedeploy, ssm), "$LATEST") == deploy.EXIT_DEPLOYED
    assert "publishes no versions" in capsys.readouterr().out
    assert aws.deployments(stage) == []


def test_deploy_stops_watching_at_the_timeout_and_exits_non_zero(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: alias, versions, created deployment. Stubber (GetDeployment only): InProgress, never an end."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    clients, stubber, created = script_clients(aws, [("created", "InProgress", {})])
    assert run(stage, clients, "2", "--timeout-seconds", "0") == deploy.EXIT_TIMED_OUT
    stubber.assert_no_pending_responses()
    printed = capsys.readouterr().out
    assert f"deployment {created['id']} is still running" in printed
    assert f"aws deploy stop-deployment --deployment-id {created['id']} --auto-rollback-enabled" in printed


def test_deploy_refuses_a_version_that_does_not_exist(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto only: an unpublished target is refused before any deployment is created. No Stubber."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    assert run(stage, aws.clients(), "7") == deploy.EXIT_REFUSED
    assert f"{stage.function_name} has no version 7" in capsys.readouterr().err
    assert aws.deployments(stage) == []


def leave_weights(aws: MotoAws, stage: Stage, primary: str, weighted: str) -> None:
    """What a shift stopped without a rollback leaves on the alias: 10% still on the new version."""
    aws.client("lambda").update_alias(
        FunctionName=stage.function_name,
        Name=deploy.LIVE_ALIAS,
        FunctionVersion=primary,
        RoutingConfig={"AdditionalVersionWeights": {weighted: 0.1}},
    )


def test_leftover_weights_exit_6_with_the_command_that_clears_them_and_clear_weights_clears_them(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: weights on `live` and no active deployment (moto's ListDeployments filters by status). The refusal
    names the exact update-alias command; --clear-weights runs it (moto's alias is read back); then the next
    run shifts as usual (Stubber, GetDeployment only: Succeeded)."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    leave_weights(aws, stage, primary="1", weighted="2")

    assert run(stage, aws.clients(), "2") == deploy.EXIT_LEFTOVER_WEIGHTS
    refusal = capsys.readouterr().err
    assert "version 2 at 10%" in refusal and "no CodeDeploy deployment" in refusal
    command = (
        f"aws lambda update-alias --function-name {stage.function_name} --name live "
        "--function-version 1 --routing-config '{}'"
    )
    assert command in refusal and "CLEAR_WEIGHTS=1" in refusal
    assert aws.deployments(stage) == []

    assert run(stage, aws.clients(), "2", "--clear-weights") == deploy.EXIT_DEPLOYED
    assert f"Cleared: {stage.function_name}:live serves version 1 alone (dropped version 2 at 10%)" in (
        capsys.readouterr().out
    )
    alias = aws.client("lambda").get_alias(FunctionName=stage.function_name, Name=deploy.LIVE_ALIAS)
    assert alias["FunctionVersion"] == "1"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")

    clients, stubber, created = script_clients(aws, [("created", "Succeeded", {})])
    assert run(stage, clients, "2") == deploy.EXIT_DEPLOYED
    stubber.assert_no_pending_responses()
    assert aws.deployments(stage) == [created["id"]]


def test_weights_of_a_running_deployment_exit_4_and_name_it_and_clear_weights_leaves_them(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto: weights on `live` while another deployment of the group is active (moto keeps it `Created`).
    Both a deploy and --clear-weights refuse, naming that deployment; the weights stay. No Stubber."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    running = aws.start_other_deployment(stage)
    leave_weights(aws, stage, primary="1", weighted="2")

    assert run(stage, aws.clients(), "2") == deploy.EXIT_IN_PROGRESS
    refusal = capsys.readouterr().err
    assert f"another deployment of {stage.deployment_group} is in progress: {running}" in refusal
    assert f"aws deploy stop-deployment --deployment-id {running} --auto-rollback-enabled" in refusal

    assert run(stage, aws.clients(), "2", "--clear-weights") == deploy.EXIT_IN_PROGRESS
    assert running in capsys.readouterr().err
    alias = aws.client("lambda").get_alias(FunctionName=stage.function_name, Name=deploy.LIVE_ALIAS)
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    assert aws.deployments(stage) == [running]


@pytest.mark.parametrize("names_it", [True, False], ids=["message-names-it", "listed-from-codedeploy"])
def test_codedeploy_refusing_a_second_deployment_exits_4_naming_the_running_one(
    aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], names_it: bool
) -> None:
    """moto: alias, versions, and an active deployment of the group. Stubber (CreateDeployment only): the
    DeploymentLimitExceededException moto does not raise; its message names the running deployment, or
    does not, and then the script finds it with ListDeployments on moto."""
    stage = aws.stage(tmp_path, versions=2, live="1")
    running = aws.start_other_deployment(stage)
    codedeploy = aws.client("codedeploy")
    stubber = OperationStubber(codedeploy, "CreateDeployment")
    message = f"The deployment group already has an active deployment {running if names_it else ''}".rstrip()
    stubber.add_client_error(
        "create_deployment",
        service_error_code="DeploymentLimitExceededException",
        service_message=message,
        http_status_code=400,
    )
    stubber.activate()
    clients = deploy.Clients(lambda_=aws.client("lambda"), codedeploy=codedeploy, ssm=aws.client("ssm"))

    assert run(stage, clients, "2") == deploy.EXIT_IN_PROGRESS

    stubber.assert_no_pending_responses()
    refusal = capsys.readouterr().err
    assert f"is in progress: {running}" in refusal and "inputs" not in refusal
    assert aws.deployments(stage) == [running]


def test_appspec_moves_the_named_alias_from_current_to_target_version() -> None:
    """Structure only (no AWS): the AppSpec CodeDeploy's Lambda deployments expect, and its revision."""
    appspec = deploy.build_appspec("llm-scores-prod", "live", "41", "42")
    assert appspec == {
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
    (resource,) = appspec["Resources"]
    (properties,) = [body["Properties"] for body in resource.values()]
    assert all(isinstance(value, str) for value in properties.values()), "versions are strings in an AppSpec"
    revision = deploy.revision_for(appspec)
    assert set(revision) == {"revisionType", "appSpecContent"} and revision["revisionType"] == "AppSpecContent"
    content = revision["appSpecContent"]["content"]
    assert json.loads(content) == appspec
    assert revision["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()


def test_outputs_of_terraform_name_the_target_and_flags_override_the_version() -> None:
    """No AWS: `terraform output -json` parsing, the export's names as fallback, --target-version on top."""
    text = json.dumps(
        {
            "api_function_name": {"sensitive": False, "type": "string", "value": "llm-scores-prod"},
            "api_function_published_version": {"sensitive": False, "type": "string", "value": "42"},
            "live_alias_name": {"sensitive": False, "type": "string", "value": "live"},
            "codedeploy_application_name": {"sensitive": False, "type": "string", "value": "llm-scores-prod"},
            "codedeploy_deployment_group_name": {"sensitive": False, "type": "string", "value": "llm-scores-prod-live"},
        }
    )
    outputs = deploy.parse_terraform_outputs(text)
    from_outputs = deploy.resolve_target("prod", outputs, None)
    assert from_outputs == deploy.Target(
        "llm-scores-prod",
        "live",
        "llm-scores-prod",
        "llm-scores-prod-live",
        "42",
        before_allow_traffic_hook="llm-scores-prod-before_allow_traffic",
        after_allow_traffic_hook="llm-scores-prod-after_allow_traffic",
    )
    assert deploy.resolve_target("prod", outputs, "40").target_version == "40"
    without = deploy.resolve_target("dev", None, "3")
    assert without == deploy.Target(
        "llm-scores-dev",
        "live",
        "llm-scores-dev",
        "llm-scores-dev-live",
        "3",
        before_allow_traffic_hook="llm-scores-dev-before_allow_traffic",
        after_allow_traffic_hook="llm-scores-dev-after_allow_traffic",
    )
    assert deploy.resolve_target("dev", None, None).target_version is None
