"""Each read-only acceptance check passes, fails and skips: against moto's server where moto has the API, and
against botocore's Stubber where it stops short (named on each test)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from scripts.acceptance import checks
from scripts.acceptance.framework import Stage, Status, run_one
from scripts.harness.local_stack import ChaliceLocal, Moto
from tests.integration.acceptance_support import (
    ACCOUNT,
    PROD_LIKE,
    aws_client,
    reset_moto,
    stage_on_moto,
    stubbed_client,
)

PREFIX = "llm-scores-prod"
TABLE = "llm_scores-prod"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Moto]:
    server = Moto.start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(moto_server: Moto) -> str:
    reset_moto(moto_server.endpoint)
    return moto_server.endpoint


def client(endpoint: str, service: str) -> Any:
    return aws_client(endpoint, service)


def check_named(name: str) -> Any:
    return next(check for check in checks.CHECKS if check.name == name)


def outcome(name: str, stage: Stage) -> tuple[Status, str]:
    result = run_one(check_named(name), stage)
    return result.status, result.reason


def create_table(endpoint: str, pitr: bool) -> None:
    dynamodb = client(endpoint, "dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if pitr:
        dynamodb.update_continuous_backups(
            TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


# --- table and PITR (moto) --------------------------------------------------------------------------------------


def test_table_ready_passes_for_the_exported_key_and_fails_for_another(endpoint: str) -> None:
    create_table(endpoint, pitr=False)
    assert outcome("table_ready", stage_on_moto(endpoint))[0] is Status.PASS
    client(endpoint, "dynamodb").create_table(
        TableName="llm_scores-dev",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    status, reason = outcome("table_ready", stage_on_moto(endpoint, name="dev"))
    assert status is Status.FAIL and "expected model_name" in reason


def test_table_ready_fails_naming_the_error_when_the_table_is_missing(endpoint: str) -> None:
    status, reason = outcome("table_ready", stage_on_moto(endpoint))
    assert status is Status.FAIL and "ResourceNotFoundException" in reason


def test_point_in_time_recovery_passes_fails_and_skips(endpoint: str) -> None:
    create_table(endpoint, pitr=True)
    assert outcome("point_in_time_recovery", stage_on_moto(endpoint))[0] is Status.PASS
    reset_moto(endpoint)
    create_table(endpoint, pitr=False)
    status, reason = outcome("point_in_time_recovery", stage_on_moto(endpoint))
    assert status is Status.FAIL and "DISABLED" in reason
    assert outcome("point_in_time_recovery", stage_on_moto(endpoint, name="local"))[0] is Status.SKIP


# --- SLO alarm statistics (moto) --------------------------------------------------------------------------------


def put_latency_alarm(endpoint: str, name: str, stat_name: str, period: int) -> None:
    client(endpoint, "cloudwatch").put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {
                "Id": "within",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Latency"},
                    "Period": period,
                    "Stat": stat_name,
                },
                "ReturnData": False,
            },
            {"Id": "burn", "Expression": "(100 - within) / 1", "ReturnData": True},
        ],
    )


def test_slo_alarm_statistics_passes_with_percentile_rank_and_the_three_day_period(endpoint: str) -> None:
    put_latency_alarm(endpoint, f"{PREFIX}-slo-latency-ticket-3d", "PR(:300)", 259_200)
    put_latency_alarm(endpoint, f"{PREFIX}-slo-latency-page-fast-5m", "PR(:300)", 300)
    status, reason = outcome("slo_alarm_statistics", stage_on_moto(endpoint))
    assert status is Status.PASS and "PR(:300)" in reason and "259200" in reason


def test_slo_alarm_statistics_fails_without_the_statistic_the_period_or_the_alarms(endpoint: str) -> None:
    assert "were not created" in outcome("slo_alarm_statistics", stage_on_moto(endpoint))[1]
    put_latency_alarm(endpoint, f"{PREFIX}-slo-latency-ticket-3d", "p99", 259_200)
    status, reason = outcome("slo_alarm_statistics", stage_on_moto(endpoint))
    assert status is Status.FAIL and "no PR(:N)" in reason
    put_latency_alarm(endpoint, f"{PREFIX}-slo-latency-ticket-3d", "PR(:300)", 3600)
    status, reason = outcome("slo_alarm_statistics", stage_on_moto(endpoint))
    assert status is Status.FAIL and "259200 s period" in reason


def test_every_aws_check_skips_on_the_local_stage_without_calling_aws() -> None:
    def no_client(service: str) -> Any:
        raise AssertionError(f"local stage must not reach {service}")

    stage = Stage(name="local", region="us-east-1", settings={}, client_factory=no_client)
    local_passes = {"api_smoke", "table_ready"}
    for check in checks.CHECKS:
        if check.name in local_passes:
            continue
        result = run_one(check, stage)
        assert result.status is Status.SKIP, (check.name, result)


# --- CodeDeploy group (Stubber: moto's GetDeploymentGroup drops alarmConfiguration) ------------------------------


def deployment_group(alarms: list[str], events: list[str]) -> dict[str, Any]:
    return {
        "deploymentGroupInfo": {
            "applicationName": PREFIX,
            "deploymentGroupName": f"{PREFIX}-live",
            "alarmConfiguration": {"enabled": True, "alarms": [{"name": name} for name in alarms]},
            "autoRollbackConfiguration": {"enabled": True, "events": events},
        }
    }


def test_deployment_stops_on_alarm_passes_when_every_named_alarm_exists(endpoint: str) -> None:
    put_latency_alarm(endpoint, f"{PREFIX}-api-5xx", "Sum", 60)
    codedeploy = stubbed_client("codedeploy")
    with Stubber(codedeploy) as stubber:
        stubber.add_response(
            "get_deployment_group",
            deployment_group([f"{PREFIX}-api-5xx"], ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]),
            {"applicationName": PREFIX, "deploymentGroupName": f"{PREFIX}-live"},
        )
        status, reason = outcome(
            "deployment_stops_on_alarm", stage_on_moto(endpoint, stubbed={"codedeploy": codedeploy})
        )
    assert status is Status.PASS, reason


def test_deployment_stops_on_alarm_fails_on_a_missing_alarm_or_no_rollback_on_alarm(endpoint: str) -> None:
    codedeploy = stubbed_client("codedeploy")
    with Stubber(codedeploy) as stubber:
        stubber.add_response("get_deployment_group", deployment_group([f"{PREFIX}-gone"], ["DEPLOYMENT_STOP_ON_ALARM"]))
        stubber.add_response("get_deployment_group", deployment_group([f"{PREFIX}-gone"], ["DEPLOYMENT_FAILURE"]))
        stage = stage_on_moto(endpoint, stubbed={"codedeploy": codedeploy})
        assert "do not exist" in outcome("deployment_stops_on_alarm", stage)[1]
        assert "DEPLOYMENT_STOP_ON_ALARM" in outcome("deployment_stops_on_alarm", stage)[1]
    assert outcome("deployment_stops_on_alarm", stage_on_moto(endpoint, name="local"))[0] is Status.SKIP


# --- the live alias (moto) --------------------------------------------------------------------------------------


def create_function_with_versions(endpoint: str, name: str = PREFIX, versions: int = 2) -> None:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return event\n")
    iam = client(endpoint, "iam")
    try:
        role = iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="lambda")["Role"]["Arn"]
    lambda_ = client(endpoint, "lambda")
    lambda_.create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": archive.getvalue()}
    )
    for number in range(versions):
        lambda_.update_function_configuration(FunctionName=name, Description=f"build {number}")
        lambda_.publish_version(FunctionName=name)


def test_live_alias_settled_passes_fails_on_weights_and_skips_without_an_alias(endpoint: str) -> None:
    create_function_with_versions(endpoint)
    lambda_ = client(endpoint, "lambda")
    lambda_.create_alias(FunctionName=PREFIX, Name="live", FunctionVersion="1")
    assert outcome("live_alias_settled", stage_on_moto(endpoint))[0] is Status.PASS
    lambda_.update_alias(FunctionName=PREFIX, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    status, reason = outcome("live_alias_settled", stage_on_moto(endpoint))
    assert status is Status.FAIL and "weights left behind" in reason
    no_alias = {**PROD_LIKE, "enable_live_alias": False}
    assert outcome("live_alias_settled", stage_on_moto(endpoint, settings=no_alias))[0] is Status.SKIP


# --- terraform plan (a stand-in terraform on the PATH: the check runs the real subprocess) ----------------------


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `terraform` whose `plan` exits with $FAKE_PLAN_EXIT and prints a changed resource; records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "terraform"
    script.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$FAKE_TERRAFORM_ARGS"\n'
        'echo "  # aws_lambda_alias.live[0] will be updated in-place"\n'
        'echo "Error: state locked" >&2\n'
        'exit "$FAKE_PLAN_EXIT"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TERRAFORM_ARGS", str(tmp_path / "arguments"))
    export = tmp_path / "terraform-prod"
    (export / ".terraform").mkdir(parents=True)
    return export


@pytest.mark.parametrize(
    ("plan_exit", "status", "says"),
    [(0, Status.PASS, "no changes"), (2, Status.FAIL, "aws_lambda_alias.live[0]"), (1, Status.FAIL, "state locked")],
)
def test_terraform_plan_clean_reads_the_detailed_exit_code(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, plan_exit: int, status: Status, says: str
) -> None:
    monkeypatch.setenv("FAKE_PLAN_EXIT", str(plan_exit))
    result = run_one(
        check_named("terraform_plan_clean"), Stage("prod", "us-east-1", PROD_LIKE, export_dir=fake_terraform)
    )
    assert (result.status, says in result.reason) == (status, True), result
    arguments = Path(os.environ["FAKE_TERRAFORM_ARGS"]).read_text().split()
    assert {"plan", "-detailed-exitcode", "-lock=false"} <= set(arguments)


def test_terraform_plan_clean_skips_an_uninitialised_export(tmp_path: Path) -> None:
    result = run_one(check_named("terraform_plan_clean"), Stage("prod", "us-east-1", PROD_LIKE, export_dir=tmp_path))
    assert result.status is Status.SKIP and "terraform init" in result.reason


# --- the stage throttle (moto) ----------------------------------------------------------------------------------


def create_rest_stage(
    endpoint: str, rate: str, burst: str, paths: tuple[str, ...] = checks.THROTTLED_METHOD_PATHS
) -> None:
    apigateway = client(endpoint, "apigateway")
    api = apigateway.create_rest_api(name=PREFIX)["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigateway.create_deployment(restApiId=api, stageName="api")
    operations = []
    for path in paths:
        operations += [
            {"op": "replace", "path": f"/{path}/throttling/rateLimit", "value": rate},
            {"op": "replace", "path": f"/{path}/throttling/burstLimit", "value": burst},
        ]
    apigateway.update_stage(restApiId=api, stageName="api", patchOperations=operations)


def test_stage_throttle_passes_when_every_method_carries_it(endpoint: str) -> None:
    create_rest_stage(endpoint, "4000", "4500")
    status, reason = outcome("stage_throttle", stage_on_moto(endpoint))
    assert status is Status.PASS, reason


def test_stage_throttle_fails_on_a_method_without_it_or_with_another(endpoint: str) -> None:
    create_rest_stage(endpoint, "4000", "4500", paths=("*/*", "health/GET"))
    status, reason = outcome("stage_throttle", stage_on_moto(endpoint))
    assert status is Status.FAIL and "health/HEAD: no settings" in reason
    reset_moto(endpoint)
    create_rest_stage(endpoint, "200", "400")
    assert "*/*: 200.0/400" in outcome("stage_throttle", stage_on_moto(endpoint))[1]


def test_stage_throttle_skips_an_http_api(endpoint: str) -> None:
    status, reason = outcome("stage_throttle", stage_on_moto(endpoint, settings={**PROD_LIKE, "api_type": "HTTP"}))
    assert status is Status.SKIP and "HTTP API" in reason


# --- WAF logging (moto) -----------------------------------------------------------------------------------------


def create_web_acl(endpoint: str, logging: bool) -> None:
    wafv2 = client(endpoint, "wafv2")
    acl = wafv2.create_web_acl(
        Name=f"{PREFIX}-api",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "api"},
    )["Summary"]["ARN"]
    if logging:
        wafv2.put_logging_configuration(
            LoggingConfiguration={
                "ResourceArn": acl,
                "LogDestinationConfigs": [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-waf-logs-{PREFIX}"],
                "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}],
            }
        )


def test_waf_logging_passes_fails_and_skips(endpoint: str) -> None:
    create_web_acl(endpoint, logging=True)
    status, reason = outcome("waf_logging", stage_on_moto(endpoint))
    assert status is Status.PASS and "aws-waf-logs" in reason and "SingleHeader" in reason
    reset_moto(endpoint)
    create_web_acl(endpoint, logging=False)
    assert "no logging configuration" in outcome("waf_logging", stage_on_moto(endpoint))[1]
    assert (
        outcome("waf_logging", stage_on_moto(endpoint, settings={**PROD_LIKE, "waf_enabled": False}))[0] is Status.SKIP
    )


# --- CloudFront logs (moto: S3 and STS) -------------------------------------------------------------------------


def create_log_bucket(endpoint: str, grant: bool, with_log: bool) -> None:
    s3 = client(endpoint, "s3")
    bucket = f"{PREFIX}-cloudfront-logs-{ACCOUNT}"
    s3.create_bucket(Bucket=bucket)
    if grant:
        owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
        grantee = {"Type": "CanonicalUser", "ID": checks.CLOUDFRONT_LOG_DELIVERY_CANONICAL_ID}
        s3.put_bucket_acl(
            Bucket=bucket,
            AccessControlPolicy={"Owner": owner, "Grants": [{"Grantee": grantee, "Permission": "FULL_CONTROL"}]},
        )
    if with_log:
        s3.put_object(Bucket=bucket, Key="cloudfront/E1.2026-12-05-18.gz", Body=b"log")


def test_cloudfront_logs_passes_fails_and_skips(endpoint: str) -> None:
    with_cloudfront = {**PROD_LIKE, "cloudfront_enabled": True}
    create_log_bucket(endpoint, grant=True, with_log=True)
    assert outcome("cloudfront_logs", stage_on_moto(endpoint, settings=with_cloudfront))[0] is Status.PASS
    reset_moto(endpoint)
    create_log_bucket(endpoint, grant=True, with_log=False)
    assert "holds no log yet" in outcome("cloudfront_logs", stage_on_moto(endpoint, settings=with_cloudfront))[1]
    reset_moto(endpoint)
    create_log_bucket(endpoint, grant=False, with_log=True)
    assert "does not grant" in outcome("cloudfront_logs", stage_on_moto(endpoint, settings=with_cloudfront))[1]
    assert outcome("cloudfront_logs", stage_on_moto(endpoint))[0] is Status.SKIP


# --- containers, from the functions' logs (moto) ----------------------------------------------------------------


def put_log_lines(endpoint: str, group: str, stream: str, lines: list[dict[str, Any]]) -> None:
    logs = client(endpoint, "logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + index, "message": json.dumps(line)} for index, line in enumerate(lines)],
    )


def test_warm_up_containers_passes_when_the_last_run_reached_every_container(endpoint: str) -> None:
    group = f"/aws/lambda/{PREFIX}-warm_up"
    put_log_lines(endpoint, group, "s", [{"message": "warm-up", "distinct_containers": 5, "requested": 5}])
    status, reason = outcome("warm_up_containers", stage_on_moto(endpoint))
    assert status is Status.PASS and "5 distinct containers of 5" in reason


def test_warm_up_containers_fails_short_of_the_concurrency_or_without_a_report(endpoint: str) -> None:
    assert "no log group" in outcome("warm_up_containers", stage_on_moto(endpoint))[1]
    group = f"/aws/lambda/{PREFIX}-warm_up"
    put_log_lines(endpoint, group, "s", [{"message": "warm-up", "distinct_containers": 1, "requested": 5}])
    status, reason = outcome("warm_up_containers", stage_on_moto(endpoint))
    assert status is Status.FAIL and "1 of 5" in reason


def test_warm_up_containers_skips_when_the_stage_does_not_warm(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert outcome("warm_up_containers", stage_on_moto(endpoint, name="local"))[0] is Status.SKIP
    # A stage missing from .chalice/config.json warms nothing (WARMUP_CONCURRENCY defaults to 0).
    assert "warm-up is off" in outcome("warm_up_containers", stage_on_moto(endpoint, name="staging"))[1]


def test_provisioned_init_cache_hit_passes_when_each_preloaded_container_first_hits(endpoint: str) -> None:
    group = f"/aws/lambda/{PREFIX}"
    put_log_lines(endpoint, group, "c1", [{"message": "catalogue preload"}, {"message": "request", "cache": "HIT"}])
    put_log_lines(endpoint, group, "c2", [{"message": "request", "cache": "MISS"}])  # on demand: not counted
    status, reason = outcome("provisioned_init_cache_hit", stage_on_moto(endpoint))
    assert status is Status.PASS and reason.startswith("1 preloaded"), reason


def test_provisioned_init_cache_hit_fails_when_a_preloaded_container_first_misses(endpoint: str) -> None:
    group = f"/aws/lambda/{PREFIX}"
    put_log_lines(
        endpoint,
        group,
        "c1",
        [
            {"message": "catalogue preload"},
            {"message": "request", "cache": "MISS"},
            {"message": "request", "cache": "HIT"},
        ],
    )
    status, reason = outcome("provisioned_init_cache_hit", stage_on_moto(endpoint))
    assert status is Status.FAIL and "MISS" in reason


def test_provisioned_init_cache_hit_skips_without_preloading_or_preloaded_containers(endpoint: str) -> None:
    on_demand = {**PROD_LIKE, "provisioned_concurrency": 0}
    assert "neither" in outcome("provisioned_init_cache_hit", stage_on_moto(endpoint, settings=on_demand))[1]
    put_log_lines(endpoint, f"/aws/lambda/{PREFIX}", "c2", [{"message": "request", "cache": "MISS"}])
    assert "no container preloaded" in outcome("provisioned_init_cache_hit", stage_on_moto(endpoint))[1]


# --- budget alerts (moto: Budgets, SNS, KMS, STS; Stubber for DescribeSubscribersForNotification, which moto lacks)


NOTIFICATION = {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN", "Threshold": 80.0}


def budget_stage(endpoint: str, topic_arn: str, budget_exists: bool = True) -> tuple[Stage, Stubber]:
    """Budgets stubbed end to end (moto answers a missing budget with a 500 and lacks the subscribers call)."""
    budgets = stubbed_client("budgets")
    stubber = Stubber(budgets)
    name = "llm-scores-prod-monthly"
    if budget_exists:
        stubber.add_response(
            "describe_notifications_for_budget",
            {"Notifications": [NOTIFICATION]},
            {"AccountId": ACCOUNT, "BudgetName": name},
        )
        stubber.add_response(
            "describe_subscribers_for_notification",
            {"Subscribers": [{"SubscriptionType": "SNS", "Address": topic_arn}]},
            {"AccountId": ACCOUNT, "BudgetName": name, "Notification": NOTIFICATION},
        )
    else:
        stubber.add_client_error("describe_notifications_for_budget", "NotFoundException", "no such budget")
    stubber.activate()
    return stage_on_moto(endpoint, stubbed={"budgets": budgets}), stubber


def create_topic(endpoint: str, encrypted: bool, budgets_in_key_policy: bool = True) -> str:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"}, "Action": "kms:*"}]}
    key = client(endpoint, "kms").create_key(Policy=json.dumps(policy if budgets_in_key_policy else {"Statement": []}))
    sns = client(endpoint, "sns")
    attributes = {"KmsMasterKeyId": key["KeyMetadata"]["KeyId"]} if encrypted else {}
    topic: str = sns.create_topic(Name="llm-scores-prod-cost-alerts", Attributes=attributes)["TopicArn"]
    topic_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "budgets.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": topic,
            }
        ]
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(topic_policy))
    return topic


def test_cost_alerts_encrypted_topic_passes_for_an_encrypted_topic_budgets_may_use(endpoint: str) -> None:
    stage, stubber = budget_stage(endpoint, create_topic(endpoint, encrypted=True))
    status, reason = outcome("cost_alerts_encrypted_topic", stage)
    assert status is Status.PASS, reason
    stubber.assert_no_pending_responses()


def test_cost_alerts_encrypted_topic_fails_on_a_plain_topic_or_a_key_budgets_cannot_use(endpoint: str) -> None:
    stage, _ = budget_stage(endpoint, create_topic(endpoint, encrypted=False))
    assert "not KMS-encrypted" in outcome("cost_alerts_encrypted_topic", stage)[1]
    reset_moto(endpoint)
    stage, _ = budget_stage(endpoint, create_topic(endpoint, encrypted=True, budgets_in_key_policy=False))
    assert "key policy" in outcome("cost_alerts_encrypted_topic", stage)[1]


def test_cost_alerts_encrypted_topic_skips_an_account_without_a_budget(endpoint: str) -> None:
    stage, _ = budget_stage(endpoint, "", budget_exists=False)
    status, reason = outcome("cost_alerts_encrypted_topic", stage)
    assert status is Status.SKIP and "budgets off" in reason


# --- the deploy role (moto: IAM GetRole; Stubber: SimulatePrincipalPolicy, which moto lacks) ---------------------


def create_deploy_role(endpoint: str, subject: str, operator: str = "StringEquals") -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
    }
    statement["Condition"].setdefault(operator, {})["token.actions.githubusercontent.com:sub"] = subject
    role = client(endpoint, "iam").create_role(
        RoleName="llm-scores-prod-deploy",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    arn: str = role["Role"]["Arn"]
    return arn


def test_deploy_role_trust_passes_for_exactly_the_environment_subject(endpoint: str) -> None:
    arn = create_deploy_role(endpoint, "repo:acme/llm-scores:environment:production")
    stage = stage_on_moto(endpoint, deploy_role_arn=arn, github_repository="acme/llm-scores")
    status, reason = outcome("deploy_role_trust", stage)
    assert status is Status.PASS and "environment:production" in reason


@pytest.mark.parametrize(
    ("subject", "operator"),
    [("repo:acme/llm-scores:*", "StringLike"), ("repo:acme/llm-scores:environment:dev", "StringEquals")],
)
def test_deploy_role_trust_fails_for_a_wildcard_or_another_environment(
    endpoint: str, subject: str, operator: str
) -> None:
    arn = create_deploy_role(endpoint, subject, operator)
    stage = stage_on_moto(endpoint, deploy_role_arn=arn, github_repository="acme/llm-scores")
    status, reason = outcome("deploy_role_trust", stage)
    assert status is Status.FAIL and "not exactly" in reason


def test_deploy_role_checks_skip_without_a_role(endpoint: str) -> None:
    assert outcome("deploy_role_trust", stage_on_moto(endpoint))[0] is Status.SKIP
    assert outcome("deploy_role_permissions", stage_on_moto(endpoint))[0] is Status.SKIP


@pytest.mark.parametrize(("denied", "status"), [((), Status.PASS), (("ssm:PutParameter",), Status.FAIL)])
def test_deploy_role_permissions_simulates_every_call_deploy_makes(denied: tuple[str, ...], status: Status) -> None:
    iam = stubbed_client("iam")
    arn = f"arn:aws:iam::{ACCOUNT}:role/llm-scores-prod-deploy"
    results = [
        {"EvalActionName": action, "EvalDecision": "explicitDeny" if action in denied else "allowed"}
        for action in checks.DEPLOY_ROLE_ACTIONS
    ]
    with Stubber(iam) as stubber:
        stubber.add_response(
            "simulate_principal_policy",
            {"EvaluationResults": results},
            {"PolicySourceArn": arn, "ActionNames": list(checks.DEPLOY_ROLE_ACTIONS)},
        )
        stage = Stage("prod", "us-east-1", PROD_LIKE, deploy_role_arn=arn, client_factory=lambda service: iam)
        result = run_one(check_named("deploy_role_permissions"), stage)
    assert result.status is status and all(action in result.reason for action in denied)


# --- action pins (the git ls-remote call replaced: no network in tests) -----------------------------------------


def ls_remote_answering(tags: dict[str, str]) -> Any:
    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        repository = command[2].removeprefix("https://github.com/")
        sha = tags.get(repository, "0" * 40)
        return subprocess.CompletedProcess(command, 0, f"{sha}\t{command[3]}\n", "")

    return run


def pinned_actions() -> dict[str, str]:
    pins: dict[str, str] = {}
    for path in (checks.ROOT / ".github" / "workflows").glob("*.yml"):
        for match in checks.ACTION_PIN.finditer(path.read_text()):
            pins[match.group(1)] = match.group(2)
    return pins


def test_action_pins_pass_when_each_tag_names_the_pinned_commit() -> None:
    stage = Stage("prod", "us-east-1", PROD_LIKE, check_github=True, run_command=ls_remote_answering(pinned_actions()))
    result = run_one(check_named("action_pins"), stage)
    assert result.status is Status.PASS and f"{len(pinned_actions())} pinned" in result.reason


def test_action_pins_fail_naming_a_tag_that_moved() -> None:
    pins = pinned_actions()
    moved = sorted(pins)[0]
    stage = Stage(
        "prod", "us-east-1", PROD_LIKE, check_github=True, run_command=ls_remote_answering({**pins, moved: "f" * 40})
    )
    result = run_one(check_named("action_pins"), stage)
    assert result.status is Status.FAIL and moved in result.reason


def test_action_pins_skip_without_permission_to_reach_github() -> None:
    assert run_one(check_named("action_pins"), Stage("prod", "us-east-1", PROD_LIKE)).status is Status.SKIP


# --- the API itself (a real chalice local, and a loopback server that answers 500) ------------------------------


@pytest.fixture(scope="module")
def local_api() -> Iterator[ChaliceLocal]:
    moto = Moto.start()
    moto.create_table("llm_scores-local")
    api = ChaliceLocal.start(moto.endpoint)
    yield api
    api.stop()
    moto.stop()


def test_api_smoke_passes_against_chalice_local(local_api: ChaliceLocal) -> None:
    result = run_one(check_named("api_smoke"), Stage("local", "us-east-1", {}, api_url=local_api.base_url))
    assert result.status is Status.PASS, result


def test_api_smoke_fails_against_a_server_that_answers_500_and_skips_without_a_url() -> None:
    import http.server
    import threading

    class Broken(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(500)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_one(check_named("api_smoke"), Stage("local", "us-east-1", {}, api_url=url))
    finally:
        server.shutdown()
    assert result.status is Status.FAIL and "smoke failed" in result.reason
    assert run_one(check_named("api_smoke"), Stage("local", "us-east-1", {})).status is Status.SKIP


def test_a_check_that_raises_an_unexpected_error_fails_naming_it() -> None:
    # A check that raises anything else is a FAIL naming the error: an AccessDenied must never read as a pass.
    def raises(stage: Stage) -> str:
        raise PermissionError("AccessDenied")

    broken = checks.Check("broken", "p", ("x",), "docs/acceptance.md#x", raises)
    result = run_one(broken, Stage("prod", "us-east-1", {}))
    assert result.status is Status.FAIL and "AccessDenied" in result.reason
