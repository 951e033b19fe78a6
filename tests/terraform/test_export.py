"""The Terraform export (scripts/operations/export_terraform.py): what each stage's plan holds, checkov and cfn-lint.

Read through `support.Plan` from parsed files; no Terraform binary and no AWS account are needed.
checkov runs from its own tool venv (`make checkov`, a prerequisite of `make test`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib import contract
from scripts.operations import export_terraform
from tests.terraform.support import (
    Export,
    Plan,
    Unknown,
    checked_resources,
    checkov_clean,
    emitted_metric_names,
    parse_hcl,
    stage_settings,
    strings,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGES = ("dev", "prod")
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")
# What an earlier apply knows and a first plan does not.
APPLIED = {
    "aws_lambda_alias.live[0].invoke_arn": "arn:aws:apigateway:eu-west-1:lambda:path/live/invocations",
    "aws_lambda_function.api_handler.invoke_arn": "arn:aws:apigateway:eu-west-1:lambda:path/latest/invocations",
    **{
        f"aws_cloudwatch_composite_alarm.slo_{slo}_{kind}.arn": f"arn:aws:cloudwatch:eu-west-1:1:alarm:{slo}-{kind}"
        for slo in ("availability", "latency")
        for kind in ("page", "ticket")
    },
}


# ---- versions -------------------------------------------------------------------------------------------------


def version_tuple(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def satisfies(version: str, constraint: str) -> bool:
    """Evaluates a Terraform version constraint made of >=, >, <=, < and = terms."""
    operators = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
    }
    for term in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|>|<|=)\s*([0-9.]+)\s*", term)
        assert match, f"unsupported constraint term {term!r}"
        if not operators[match[1]](version_tuple(version), version_tuple(match[2])):
            return False
    return True


def test_versions_accept_terraform_1_10_plus_and_aws_providers_5_and_6(exported: Export) -> None:
    (block,) = exported.files["versions.tf"]["terraform"]
    required_version = block["required_version"]
    providers = block["required_providers"]
    aws = providers["aws"]
    assert aws["source"] == "hashicorp/aws"
    for accepted in ("1.10.0", "1.11.4", "1.14.0"):
        assert satisfies(accepted, required_version), accepted
    # The state is locked with S3's native lockfile (docs/delivery.md), which Terraform 1.10 brought.
    for refused in ("1.3.9", "1.5.0", "1.9.8", "2.0.0"):
        assert not satisfies(refused, required_version), refused
    # Provider 6 is allowed and 5.x kept (docs/decisions/0014-aws-provider-6.md).
    for accepted in ("5.40.0", "5.100.0", "6.0.0", "6.66.0"):
        assert satisfies(accepted, aws["version"]), accepted
    for refused in ("4.67.0", "5.39.0", "7.0.0"):
        assert not satisfies(refused, aws["version"]), refused
    assert set(providers) == {"aws"}, "the null provider is no longer needed"


def test_no_json_file_holds_a_terraform_block(exported: Export) -> None:
    # checkov's terraform_json parser fails on it and then runs no check at all.
    assert all("terraform" not in document for name, document in exported.files.items() if name.endswith(".json"))


def test_what_provider_6_removes_is_gone_and_the_outputs_come_from_the_hcl(exported: Export) -> None:
    assert "null_data_source" not in exported.chalice.get("data", {})
    (deployment,) = exported.resources("aws_api_gateway_deployment").values()
    assert "stage_name" not in deployment and "stage_description" not in deployment
    for text in (s for document in exported.files.values() for s in strings(document)):
        assert "aws_api_gateway_deployment.rest_api.invoke_url" not in text
        assert "aws_api_gateway_deployment.rest_api.stage_name" not in text
        assert "null_data_source" not in text
    # Chalice's outputs read the deployment's invoke_url; outputs.tf defines them instead, once.
    assert "output" not in exported.chalice
    assert {"EndpointURL", "RestAPIId"} <= set(exported.files["outputs.tf"]["output"])


# ---- Lambda runtime and package -----------------------------------------------------------------------------


def test_every_function_runs_the_stage_runtime_not_the_packaging_machines(exported: Export) -> None:
    plan = Plan(exported)
    functions = dict(plan.every("aws_lambda_function"))
    assert set(functions) == {
        "aws_lambda_function.api_handler",
        "aws_lambda_function.warm_up",
        *(f"aws_lambda_function.{key}" for key in export_terraform.HOOK_FUNCTIONS),
    }
    assert {function["runtime"] for function in functions.values()} == {
        stage_settings(exported.stage)["lambda_runtime"]
    }
    assert stage_settings(exported.stage)["lambda_runtime"] == "python3.13"
    assert "python3.11" not in json.dumps(exported.chalice)
    for runtime, valid in (("python3.11", False), ("python3.12", True), ("python3.13", True), ("python3.9", False)):
        assert Plan(exported, lambda_runtime=runtime).valid("lambda_runtime") is valid, runtime


def test_deployment_zip_is_copied_next_to_the_configuration_that_references_it(exported: Export) -> None:
    archive = exported.directory / "deployment.zip"
    digest = hashlib.sha256(archive.read_bytes()).digest()
    for _, function in Plan(exported).every("aws_lambda_function"):
        assert function["filename"] == f"{exported.directory}/deployment.zip"
        # A changed package is a changed function.
        assert function["source_code_hash"] == __import__("base64").b64encode(digest).decode()
    names = zipfile.ZipFile(archive).namelist()
    assert "app.py" in names and "chalicelib/lifecycle.py" in names


def test_runtime_dependencies_in_the_package_are_pure_python(exported: Export) -> None:
    archive = zipfile.ZipFile(exported.directory / "deployment.zip")
    names = archive.namelist()
    assert not [name for name in names if name.endswith((".so", ".pyd", ".dylib")) or ".so." in name]
    wheels = [name for name in names if name.endswith(".dist-info/WHEEL")]
    requirements = [
        re.split(r"[=<>~!\[; ]", line.strip())[0].lower().replace("-", "_")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line[:1].isalnum()  # the lock's `name==version` lines, not its hashes and comments
    ]
    packaged = {name.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0].lower() for name in wheels}
    assert set(requirements) <= packaged, "every runtime requirement is vendored as a wheel"
    for name in wheels:
        metadata = archive.read(name).decode()
        tags = re.findall(r"^Tag: (\S+)$", metadata, flags=re.MULTILINE)
        assert tags and all(tag.endswith("-none-any") for tag in tags), f"{name}: {tags}"
        assert "Root-Is-Purelib: true" in metadata, name


def test_log_groups_exist_before_the_functions_with_stage_retention(exported: Export) -> None:
    plan = Plan(exported)
    retention = stage_settings(exported.stage)["log_retention_days"]
    for key, function in exported.resources("aws_lambda_function").items():
        # Lambda writes to /aws/lambda/<function name>: a group under any other name would stay empty.
        group = plan.resource("aws_cloudwatch_log_group", key)
        assert group["name"] == f"/aws/lambda/{function['function_name']}"
        assert (group["retention_in_days"], group["kms_key_id"]) == (retention, "aws_kms_key.observability.arn")
        assert f"aws_cloudwatch_log_group.{key}" in function["depends_on"]
        assert "log_retention_in_days" not in function
    assert plan.resource("aws_cloudwatch_log_group", "api_access")["retention_in_days"] == retention


# ---- DynamoDB and IAM ---------------------------------------------------------------------------------------


def test_table_is_on_demand_with_recovery_encryption_and_stage_deletion_protection(exported: Export) -> None:
    table = Plan(exported).resource("aws_dynamodb_table", "scores")
    assert table["name"] == CONFIG["stages"][exported.stage]["environment_variables"]["TABLE_NAME"]
    assert (table["billing_mode"], table["hash_key"]) == ("PAY_PER_REQUEST", "model_name")
    assert table["attribute"] == [{"name": "model_name", "type": "S"}]
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": None}, "aws/dynamodb unless a CMK"
    assert table["deletion_protection_enabled"] is (exported.stage == "prod")
    cmk = "arn:aws:kms:eu-west-1:123456789012:key/1"
    assert Plan(exported, dynamodb_kms_key_arn=cmk).resource("aws_dynamodb_table", "scores")[
        "server_side_encryption"
    ] == {
        "enabled": True,
        "kms_key_arn": cmk,
    }


def test_table_actions_reference_the_table_arn_and_nothing_else(exported: Export) -> None:
    (statement,) = [s for s in exported.policy("api_handler_role")["Statement"] if "dynamodb" in str(s["Action"])]
    # GetItem reads the catalogue version; Scan serves and probes (not DescribeTable). No write action.
    assert statement["Action"] == ["dynamodb:GetItem", "dynamodb:Scan"]
    assert statement["Resource"] == ["${aws_dynamodb_table.scores.arn}"]
    for key in exported.resources("aws_iam_role_policy"):
        for policy_statement in exported.policy(key)["Statement"]:
            actions = policy_statement["Action"]
            assert not any(action.endswith(":*") or action == "*" for action in actions)
            if policy_statement["Resource"] == ["*"] or policy_statement["Resource"] == "*":
                # Only actions that support no resource-level permissions: X-Ray's trace upload, and the
                # BeforeAllowTraffic hook's read of the live alias's concurrency (chalicelib/deploy_hooks.py).
                services = {action.split(":")[0] for action in actions}
                assert services == {"xray"} or actions == ["cloudwatch:GetMetricStatistics"], key
            for resource in policy_statement["Resource"]:
                assert ":*:*:" not in resource, f"{key}: wildcard region/account left in {resource}"


def test_functions_write_only_to_their_terraform_managed_log_groups(exported: Export) -> None:
    for key, function in exported.resources("aws_lambda_function").items():
        role_policy_key = function["role"].split(".")[1]
        (statement,) = [s for s in exported.policy(role_policy_key)["Statement"] if "logs" in str(s["Action"])]
        assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        arn = "${aws_cloudwatch_log_group." + key + ".arn}"
        assert statement["Resource"] == [arn, arn + ":*"]


@pytest.mark.parametrize(("alias", "qualifier"), [(True, "live"), (False, "")])
def test_warm_up_invokes_what_api_gateway_invokes(exported: Export, alias: bool, qualifier: str) -> None:
    (statement,) = [s for s in exported.policy("warm_up_role")["Statement"] if "lambda" in str(s["Action"])]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == [
        "${aws_lambda_function.api_handler.arn}",
        "${aws_lambda_function.api_handler.arn}:${local.live_alias_name}",
    ]
    plan = Plan(exported, enable_live_alias=alias)
    variables = plan.resource("aws_lambda_function", "warm_up")["environment"]["variables"]
    assert (variables["API_FUNCTION_NAME"], variables["API_FUNCTION_QUALIFIER"]) == (
        f"llm-scores-{exported.stage}",
        qualifier,
    )
    permission = (
        Plan(exported, enable_live_alias=alias).knowing(APPLIED).resource("aws_lambda_permission", "rest_api_invoke", 0)
    )
    assert permission["qualifier"] == (qualifier or None)


# ---- API Gateway --------------------------------------------------------------------------------------------


def test_stage_resource_carries_logs_tracing_throttling_cache_and_waf(exported: Export) -> None:
    plan = Plan(exported)
    stage = plan.resource("aws_api_gateway_stage", "api", 0)
    assert stage["deployment_id"] == "aws_api_gateway_deployment.rest_api[0].id"
    assert stage["stage_name"] == CONFIG["stages"][exported.stage]["api_gateway_stage"]
    assert stage["xray_tracing_enabled"] is bool(CONFIG["stages"][exported.stage].get("xray"))
    assert stage["access_log_settings"]["destination_arn"] == "aws_cloudwatch_log_group.api_access.arn"
    log_format = json.loads(stage["access_log_settings"]["format"])
    assert {"requestId", "status", "responseLatency", "integrationError", "xrayTraceId"} <= set(log_format)
    assert stage["cache_cluster_enabled"] is False and stage["cache_cluster_size"] is None
    cached = Plan(exported, api_cache_enabled=True).resource("aws_api_gateway_stage", "api", 0)
    assert (cached["cache_cluster_enabled"], cached["cache_cluster_size"]) == (True, "0.5")
    settings = plan.resource("aws_api_gateway_method_settings", "all", 0)
    expected = stage_settings(exported.stage)
    assert settings["method_path"] == "*/*"
    assert settings["settings"]["throttling_rate_limit"] == expected["api_throttling_rate_limit"]
    assert settings["settings"]["throttling_burst_limit"] == expected["api_throttling_burst_limit"]
    assert settings["settings"]["cache_data_encrypted"] is True
    assert plan.resource("aws_api_gateway_method_settings", "health", 0)["settings"]["caching_enabled"] is False
    acl = "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"
    assert plan.planned("aws_wafv2_web_acl_association.api") == set()
    association = Plan(exported, waf_enabled=False, web_acl_arn=acl).resource("aws_wafv2_web_acl_association", "api", 0)
    assert association == {"resource_arn": "aws_api_gateway_stage.api[0].arn", "web_acl_arn": acl, "count": 1}


def test_deployment_redeploys_when_the_api_body_changes(exported: Export) -> None:
    plan = Plan(exported).knowing(APPLIED)
    deployment = plan.resource("aws_api_gateway_deployment", "rest_api", 0)
    body = plan.resource("aws_api_gateway_rest_api", "rest_api", 0)["body"]
    assert deployment["triggers"] == {"redeployment": hashlib.sha1(body.encode()).hexdigest()}
    assert deployment["lifecycle"]["create_before_destroy"] is True


@pytest.mark.parametrize(
    ("alias", "invoked"), [(True, "aws_lambda_alias.live[0]"), (False, "aws_lambda_function.api_handler")]
)
def test_api_gateway_invokes_the_alias_when_enabled(exported: Export, alias: bool, invoked: str) -> None:
    body = json.loads(Plan(exported, enable_live_alias=alias).knowing(APPLIED).value("${local.api_body}"))
    uris = {
        operation["x-amazon-apigateway-integration"]["uri"]
        for operations in body["paths"].values()
        for operation in operations.values()
    }
    assert uris == {APPLIED[f"{invoked}.invoke_arn"]}


def test_stage_cache_keys_on_every_parameter_the_routes_read(exported: Export) -> None:
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/llms"]) == contract.LIST.query_parameters
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/health"]) == contract.HEALTH.query_parameters
    assert export_terraform.ROUTE_QUERY_PARAMETERS["/llms/{model_name}"] == []
    paths = exported.swagger()["paths"]
    llms = paths["/llms"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert sorted(llms) == sorted(f"method.request.querystring.{name}" for name in contract.LIST.query_parameters)
    one = paths["/llms/{model_name}"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert one == ["method.request.path.model_name"]
    declared = {p["name"] for p in paths["/llms"]["get"]["parameters"] if p["in"] == "query"}
    assert declared == contract.LIST.query_parameters


# ---- cold-start controls ------------------------------------------------------------------------------------

COLD_START = ("aws_lambda_alias.live", "aws_lambda_provisioned_concurrency_config.live")


def test_cold_start_controls_are_on_in_prod_and_only_the_alias_in_dev(exported: Export) -> None:
    """Dev publishes versions and has `live` too, so CodeDeploy and its hooks run there first; no provisioned
    concurrency, which costs by the hour."""
    plan = Plan(exported)
    prod = exported.stage == "prod"
    assert plan.planned(*COLD_START) == (set(COLD_START) if prod else {COLD_START[0]})
    assert plan.resource("aws_lambda_function", "api_handler")["publish"] is True, "the alias needs versions"
    alias = plan.resource("aws_lambda_alias", "live", 0)
    assert (alias["name"], alias["function_version"]) == ("live", "aws_lambda_function.api_handler.version")
    if prod:
        # 13 since issue 19: what 3,000 users need warm (docs/decisions/0017).
        provisioned = plan.resource("aws_lambda_provisioned_concurrency_config", "live", 0)
        assert (provisioned["qualifier"], provisioned["provisioned_concurrent_executions"]) == ("live", 13)
    assert Plan(exported, enable_live_alias=True, provisioned_concurrency=0).planned(*COLD_START) == {COLD_START[0]}
    assert exported.locals["snap_start_enabled"] is False


def cold_start_refusals(export: Export, **variables: Any) -> list[str]:
    return Plan(export, **variables).refusals("terraform_data.cold_start_options")


def test_snap_start_and_provisioned_concurrency_are_mutually_exclusive(prod: Export) -> None:
    (both,) = cold_start_refusals(prod, snap_start_enabled=True, provisioned_concurrency=2)[:1]
    assert "cannot be combined" in both
    assert any("enable_live_alias" in m for m in cold_start_refusals(prod, enable_live_alias=False))
    old_runtime = cold_start_refusals(
        prod, snap_start_enabled=True, provisioned_concurrency=0, lambda_runtime="python3.11"
    )
    assert any("python3.12" in message for message in old_runtime)
    assert cold_start_refusals(prod) == []


def test_snap_start_block_is_written_only_when_the_stage_turns_it_on(exported: Export) -> None:
    # apply_on = "None" plans a change on every run: the provider drops the block when Lambda reports None.
    enabled = stage_settings(exported.stage)["snap_start_enabled"]
    assert exported.locals["snap_start_enabled"] is enabled
    functions = exported.resources("aws_lambda_function")
    expected = {"apply_on": "PublishedVersions"} if enabled else None
    assert functions["api_handler"].get("snap_start") == expected
    assert "snap_start" not in functions["warm_up"]
    assert '"None"' not in json.dumps(exported.chalice)


def test_snap_start_on_is_a_plain_published_versions_block(raw_prod: dict[str, Any], tmp_path: Path) -> None:
    def postprocess(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        stage_file = tmp_path / "prod.json"
        stage_file.write_text(json.dumps({**stage_settings("prod"), "snap_start_enabled": value}))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(export_terraform, "stage_file", lambda name: stage_file)
            return export_terraform.postprocess(raw_prod, "prod")

    template, facts = postprocess(True)
    assert template["resource"]["aws_lambda_function"]["api_handler"]["snap_start"] == {"apply_on": "PublishedVersions"}
    assert "snap_start" not in template["resource"]["aws_lambda_function"]["warm_up"]
    assert facts["snap_start_enabled"] is True
    off, _ = postprocess(False)
    assert "snap_start" not in off["resource"]["aws_lambda_function"]["api_handler"]
    with pytest.raises(export_terraform.ExportError, match="snap_start_enabled"):
        postprocess("true")


def test_snap_start_cannot_be_flipped_at_apply_time_without_a_re_export(exported: Export) -> None:
    # The block is written at export (a `dynamic` block makes checkov skip the function), so the plan
    # refuses `-var snap_start_enabled=...` that disagrees with the exported function.
    enabled = stage_settings(exported.stage)["snap_start_enabled"]
    assert cold_start_refusals(exported, snap_start_enabled=enabled) == []
    flipped = cold_start_refusals(exported, snap_start_enabled=not enabled, provisioned_concurrency=0)
    assert [message for message in flipped if "re-export" in message]


# ---- alarms and dashboard -----------------------------------------------------------------------------------


def test_alarms_cover_the_failure_modes_and_notify_an_encrypted_topic(exported: Export) -> None:
    plan = Plan(exported)
    # Metric-math alarms (SLO burn rates, ratios) have no single namespace: tests/terraform/test_slo.py checks them.
    alarms = {
        address: alarm for address, alarm in plan.every("aws_cloudwatch_metric_alarm") if "metric_query" not in alarm
    }
    watched = {
        (alarm["namespace"], alarm["metric_name"], alarm.get("extended_statistic", alarm.get("statistic")))
        for alarm in alarms.values()
    }
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert {
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        ("AWS/Lambda", "Duration", "p99"),
        # REST's names here; tests/terraform/test_front_door.py holds each API type to what it publishes.
        ("AWS/ApiGateway", "5XXError", "Sum"),
        ("AWS/ApiGateway", "Latency", "p99"),
        ("AWS/DynamoDB", "ThrottledRequests", "Sum"),
        (namespace, "CacheStale", "Sum"),
        (namespace, "WarmupFailures", "Sum"),
        # A malformed row is left out of every answer; without this alarm it would vanish silently.
        (namespace, "SkippedItems", "Sum"),
    } <= watched
    service = CONFIG["stages"][exported.stage]["environment_variables"]["POWERTOOLS_SERVICE_NAME"]
    # Tickets, but for the outside probe, which pages from us-east-1 (test_paging.py holds every alarm's severity).
    for address, alarm in alarms.items():
        topic_arn = (
            "aws_sns_topic.page_us_east_1.arn"
            if address == "aws_cloudwatch_metric_alarm.probe"
            else "aws_sns_topic.alarms.arn"
        )
        assert alarm["alarm_actions"] == [topic_arn], address
        if alarm["namespace"] == namespace:
            assert alarm["dimensions"] == {"service": service}, address
    topic = plan.resource("aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == "aws_kms_key.observability.arn"
    assert plan.resource("aws_kms_key", "observability")["enable_key_rotation"] is True


def test_every_alarm_on_the_apps_metrics_reads_one_the_app_emits(exported: Export) -> None:
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    everything_on = {"provisioned_concurrency_schedule_enabled": True, "provisioned_concurrency": 0}
    read = set()
    for _, alarm in Plan(exported, enable_live_alias=True, **everything_on).every("aws_cloudwatch_metric_alarm"):
        for metric in [alarm, *(query.get("metric", {}) for query in alarm.get("metric_query", []))]:
            if metric.get("namespace") == namespace:
                read.add(metric["metric_name"])
    assert {"CacheStale", "SkippedItems", "WarmupFailures", "WarmupInvocations", "CacheHit"} <= read
    assert read <= emitted_metric_names(), f"alarms on metrics the app never emits: {read - emitted_metric_names()}"


def dashboard(plan: Plan) -> dict[str, Any]:
    rendered: dict[str, Any] = json.loads(plan.resource("aws_cloudwatch_dashboard", "service")["dashboard_body"])
    return rendered


def test_dashboard_renders_to_valid_json_with_the_key_metrics(exported: Export) -> None:
    call = exported.resources("aws_cloudwatch_dashboard")["service"]["dashboard_body"]
    template = (exported.directory / "dashboard.json.tftpl").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", template)) == set(re.findall(r"(\w+) = ", call)), "passed and used alike"
    body = dashboard(Plan(exported).knowing(APPLIED))
    metrics = {
        metric[1]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        if len(metric) > 1 and isinstance(metric[1], str)
    }
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    plotted_custom = {
        metric[1]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        if metric and metric[0] == namespace
    }
    assert {
        "Latency",
        "5XXError",
        "Duration",
        "Throttles",
        "CacheStale",
        "CacheHit",
        "ColdStart",
        "WarmupFailures",
    } <= metrics
    assert plotted_custom <= emitted_metric_names()


def test_dashboard_plots_init_duration_from_report_lines_not_a_metric_lambda_never_publishes(
    exported: Export,
) -> None:
    body = dashboard(Plan(exported).knowing(APPLIED))
    plotted = [
        (metric[0], metric[1])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        if len(metric) > 1
    ]
    assert ("AWS/Lambda", "InitDuration") not in plotted
    (init,) = [w for w in body["widgets"] if w["type"] == "log" and "@initDuration" in w["properties"]["query"]]
    query = init["properties"]["query"]
    assert query.startswith(f"SOURCE '/aws/lambda/llm-scores-{exported.stage}'")
    assert '@type = "REPORT"' in query and "ispresent(@initDuration)" in query
    assert init["properties"]["region"] == "eu-west-1"


def test_no_stage_export_owns_the_account_level_api_gateway_logging_role(exported: Export) -> None:
    # It is one setting per account and region: the stage that owned it took every other stage's logs with it.
    assert not exported.resources("aws_api_gateway_account")
    assert "manage_api_gateway_account" not in exported.variables
    for key, role in exported.resources("aws_iam_role").items():
        assert "apigateway.amazonaws.com" not in role["assume_role_policy"], key
    for document in exported.files.values():
        assert "aws_api_gateway_account" not in json.dumps(document)
        assert "AmazonAPIGatewayPushToCloudWatchLogs" not in json.dumps(document)


def test_warm_up_stopped_alarm_treats_missing_data_as_breaching_where_the_stage_warms(exported: Export) -> None:
    warmup = int(CONFIG["stages"][exported.stage]["environment_variables"]["WARMUP_CONCURRENCY"])
    assert warmup > 0 and exported.locals["warmup_concurrency"] == warmup
    alarm = Plan(exported).resource("aws_cloudwatch_metric_alarm", "warm_up_stopped", 0)
    assert alarm["namespace"] == CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["metric_name"] == "WarmupInvocations"
    assert alarm["dimensions"] == {"service": f"llm-scores-{exported.stage}"}
    assert alarm["treat_missing_data"] == "breaching"
    # Any report at all means the warmer ran; absence of data is the failure.
    assert alarm["statistic"] == "SampleCount"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["aws_sns_topic.alarms.arn"]
    # The warmer reports WarmupInvocations on every run, including one where every ping failed.
    source = (ROOT / "chalicelib" / "warmup.py").read_text()
    assert source.count('"WarmupInvocations"') >= 2


def test_warm_up_stopped_alarm_is_left_out_where_the_stage_does_not_warm(raw_prod: dict[str, Any]) -> None:
    raw = json.loads(json.dumps(raw_prod))
    for function in raw["resource"]["aws_lambda_function"].values():
        function["environment"]["variables"]["WARMUP_CONCURRENCY"] = "0"
    _, facts = export_terraform.postprocess(raw, "prod")
    assert facts["warmup_concurrency"] == 0
    raw["resource"]["aws_lambda_function"]["warm_up"]["environment"]["variables"]["WARMUP_CONCURRENCY"] = "five"
    with pytest.raises(export_terraform.ExportError, match="WARMUP_CONCURRENCY"):
        export_terraform.postprocess(raw, "prod")


@pytest.mark.parametrize(("alias", "provisioned", "planned"), [(True, 2, 1), (True, 0, 0), (False, 0, 0)])
def test_spillover_alarm_watches_the_live_alias_only_with_provisioned_concurrency(
    prod: Export, alias: bool, provisioned: int, planned: int
) -> None:
    plan = Plan(prod, enable_live_alias=alias, provisioned_concurrency=provisioned)
    instances = plan.instances()
    assert instances["aws_cloudwatch_metric_alarm.provisioned_concurrency_spillover_ratio"] == planned
    assert instances["aws_lambda_provisioned_concurrency_config.live"] == planned
    if planned:
        alarm = plan.resource("aws_cloudwatch_metric_alarm", "provisioned_concurrency_spillover_ratio", 0)
        metrics = {query["id"]: query["metric"] for query in alarm["metric_query"] if "metric" in query}
        assert metrics["spillover"]["metric_name"] == "ProvisionedConcurrencySpilloverInvocations"
        for metric in metrics.values():
            assert metric["namespace"] == "AWS/Lambda"
            assert metric["dimensions"] == {"FunctionName": "llm-scores-prod", "Resource": "llm-scores-prod:live"}
        assert alarm["alarm_actions"] == alarm["ok_actions"] == ["aws_sns_topic.alarms.arn"]


def test_every_head_route_of_the_real_export_is_served_exactly_like_its_get(exported: Export) -> None:
    paths = exported.swagger()["paths"]
    assert all("head" in operations for operations in paths.values() if "get" in operations), "app.py: GET+HEAD"
    for path, operations in paths.items():
        if "head" in operations:
            get, head = operations["get"], operations["head"]
            assert head["x-amazon-apigateway-integration"] == get["x-amazon-apigateway-integration"], path
            assert head["parameters"] == get["parameters"], path
    plan = Plan(exported)
    health, health_head = (
        plan.resource("aws_api_gateway_method_settings", key, 0) for key in ("health", "health_head")
    )
    assert health_head["method_path"] == "health/HEAD"
    assert health_head["settings"] == health["settings"]


# ---- names and references -----------------------------------------------------------------------------------

NAME_ATTRIBUTES = ("name", "function_name", "alarm_name", "dashboard_name", "bucket")
# With every option that adds a named resource on, in each front door (a REST and an HTTP API exclude each other).
EVERY_OPTION = {
    "cloudfront_enabled": True,
    "alarm_email": "oncall@example.com",
    "provisioned_concurrency_schedule_enabled": True,
    "provisioned_concurrency": 0,
    "enable_live_alias": True,
}


def resource_names(exported: Export) -> set[str]:
    names = set()
    for api_type in ("REST", "HTTP"):
        plan = Plan(exported, api_type=api_type, **EVERY_OPTION)
        for kind in {kind for kind, _, _ in exported.all_resources()}:
            if kind in {"aws_lambda_alias", "aws_apigatewayv2_stage", "aws_route53_record", "aws_lambda_permission"}:
                # Alias names are scoped to their function, HTTP API stage names ($default) to their API, DNS
                # records are the stage's custom_domain_name, and a permission names the function it is on.
                continue
            for _, body in plan.every(kind):
                for attribute in NAME_ATTRIBUTES:
                    value = body.get(attribute)
                    if isinstance(value, str) and not isinstance(value, Unknown):
                        names.add(value)
    return names


def test_every_resource_name_is_stage_unique(exported: Export) -> None:
    names = resource_names(exported)
    assert f"llm-scores-{exported.stage}-warm_up-event" in names
    assert f"llm-scores-{exported.stage}" in names  # the REST API and the API function
    assert len(names) > 40
    for name in names:
        assert re.search(rf"llm[-_]scores-{exported.stage}\b", name), f"{name!r} is not stage-unique"


def test_dev_and_prod_share_no_resource_name(dev: Export, prod: Export) -> None:
    assert resource_names(dev).isdisjoint(resource_names(prod))


def test_every_reference_points_at_something_declared(exported: Export) -> None:
    resources = {(kind, key) for kind, key, _ in exported.all_resources()}
    data = {
        (kind, key)
        for document in exported.files.values()
        for kind, items in document.get("data", {}).items()
        for key in items
    }
    checked = 0
    for text in (s for document in exported.files.values() for s in strings(document) if "${" in s):
        for kind, name, attribute in REFERENCE.findall(text):
            checked += 1
            if kind == "var":
                assert name in exported.variables, f"undeclared var.{name}"
            elif kind == "local":
                assert name in exported.locals, f"undeclared local.{name}"
            elif kind == "data":
                assert (name, attribute) in data, f"undeclared data.{name}.{attribute}"
            else:
                assert (kind, name) in resources, f"undeclared {kind}.{name} in {text[:120]!r}"
    assert checked > 100


def test_stage_settings_only_set_declared_variables() -> None:
    declared = parse_hcl((ROOT / "infra" / "terraform" / "variables.tf").read_text())["variable"]
    for stage in STAGES:
        assert set(stage_settings(stage)) <= set(declared)


def test_re_export_keeps_state_and_user_files(tmp_path: Path) -> None:
    kept = ["terraform.tfstate", "terraform.tfstate.backup", ".terraform.lock.hcl", "mine.auto.tfvars"]
    for name in [*kept, "chalice.tf.json", "old.tf", "deployment.zip"]:
        (tmp_path / name).write_text("x")
    export_terraform._clear_generated(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)


# ---- a clean first apply, and a second apply that changes nothing ------------------------------------------


def swagger_of(template: dict[str, Any]) -> dict[str, Any]:
    swagger: dict[str, Any] = json.loads(template["locals"]["chalice_api_swagger"])
    return swagger


def with_swagger(raw: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(raw))
    swagger = swagger_of(changed)
    for operations in swagger["paths"].values():
        edit(operations)
    changed["locals"]["chalice_api_swagger"] = json.dumps(swagger)
    return changed


def drop_head(operations: dict[str, Any]) -> None:
    operations.pop("head", None)


def add_head_twins(operations: dict[str, Any]) -> None:
    if "get" in operations:
        operations.setdefault("head", json.loads(json.dumps(operations["get"])))


def test_head_operations_are_rewired_and_cache_keyed_exactly_like_their_get(raw_prod: dict[str, Any]) -> None:
    # Chalice's own HEAD operations are dropped and re-added as copies of the GET before the export edits them.
    raw = with_swagger(with_swagger(raw_prod, drop_head), add_head_twins)
    template, _ = export_terraform.postprocess(raw, "prod")
    paths = swagger_of(template)["paths"]
    heads = {path: operations["head"] for path, operations in paths.items() if "head" in operations}
    assert set(heads) == {"/llms", "/llms/{model_name}", "/health"}
    for path, head in heads.items():
        get = paths[path]["get"]
        assert head["x-amazon-apigateway-integration"]["uri"] == "${local.api_invoke_arn}", path
        cache_keys = head["x-amazon-apigateway-integration"]["cacheKeyParameters"]
        assert cache_keys == get["x-amazon-apigateway-integration"]["cacheKeyParameters"], path
        assert head["parameters"] == get["parameters"], path
    assert sorted(paths["/llms"]["head"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]) == sorted(
        f"method.request.querystring.{name}" for name in contract.LIST.query_parameters
    )


def test_every_method_setting_names_a_method_the_api_has(prod: Export) -> None:
    # API Gateway refuses a method setting for a method the API does not have, failing the apply.
    paths = prod.swagger()["paths"]
    for address, settings in Plan(prod, api_cache_enabled=True).every("aws_api_gateway_method_settings"):
        resource_path, _, method = settings["method_path"].rpartition("/")
        if settings["method_path"] != "*/*":
            assert method.lower() in paths["/" + resource_path], address


def test_names_match_what_chalice_deploy_creates_so_a_migrated_stage_imports_in_place(prod: Export) -> None:
    # `terraform import` with chalice deploy's names must land on the same names, or the next apply
    # replaces (deletes, then recreates) a live resource. Chalice's own graph says what it deploys.
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="prod")
    deployed = DependencyBuilder().build_dependencies(ApplicationGraphBuilder().build(config, "prod"))
    plan = Plan(prod)
    seen: set[type] = set()
    for resource in deployed:
        seen.add(type(resource))
        if isinstance(resource, models.ManagedIAMRole):
            assert plan.resource("aws_iam_role", resource.resource_name)["name"] == resource.role_name
            # chalice deploy names the inline policy after its role (deploy/planner.py: policy_name=role_name).
            assert plan.resource("aws_iam_role_policy", resource.resource_name)["name"] == resource.role_name
        elif isinstance(resource, models.LambdaFunction):
            function = plan.resource("aws_lambda_function", resource.resource_name)
            assert function["function_name"] == resource.function_name
            group = plan.resource("aws_cloudwatch_log_group", resource.resource_name)
            assert group["name"] == f"/aws/lambda/{resource.function_name}"
        elif isinstance(resource, models.ScheduledEvent):
            assert plan.resource("aws_cloudwatch_event_rule", resource.resource_name)["name"] == resource.rule_name
    assert {models.ManagedIAMRole, models.LambdaFunction, models.ScheduledEvent, models.RestAPI} <= seen


def dependency_graph(exported: Export) -> dict[str, set[str]]:
    """Resource and local nodes, each with what it references or depends_on (variables and data are leaves)."""
    graph: dict[str, set[str]] = {}

    def edges(body: Any) -> set[str]:
        found = set()
        for text in strings(body):
            if "${" in text:
                for kind, name, _ in REFERENCE.findall(text):
                    if kind == "local":
                        found.add(f"local.{name}")
                    elif kind.startswith("aws_"):
                        found.add(f"{kind}.{name}")
        for dependency in body.get("depends_on", []) if isinstance(body, dict) else []:
            found.add(dependency)
        return found

    for kind, key, body in exported.all_resources():
        graph[f"{kind}.{key}"] = edges(body)
    for name, value in exported.locals.items():
        graph[f"local.{name}"] = edges({"value": value})
    return graph


def test_dependency_graph_has_no_cycle(exported: Export) -> None:
    graph = dependency_graph(exported)
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", f"cycle: {' -> '.join([*path, node])}"
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            visit(target, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])
    assert "aws_iam_role_policy.api_handler_role" in graph["aws_lambda_function.api_handler"]


def test_api_goes_live_only_after_api_gateway_may_invoke_the_alias(exported: Export) -> None:
    graph = dependency_graph(exported)
    assert "aws_lambda_alias.live" in graph["aws_lambda_permission.rest_api_invoke"]
    assert "aws_lambda_permission.rest_api_invoke" in graph["aws_api_gateway_deployment.rest_api"]
    assert "aws_api_gateway_deployment.rest_api" in graph["aws_api_gateway_stage.api"]


def test_every_function_is_created_after_its_role_policy_so_tracing_never_races_iam(exported: Export) -> None:
    policies = exported.resources("aws_iam_role_policy")
    for key, function in exported.resources("aws_lambda_function").items():
        role = function["role"].split(".")[1]
        (policy_key,) = [k for k, policy in policies.items() if policy["role"] == "${aws_iam_role." + role + ".id}"]
        assert f"aws_iam_role_policy.{policy_key}" in function["depends_on"], key
        if function.get("tracing_config", {}).get("mode") == "Active":
            trace_actions = {a for s in exported.policy(policy_key)["Statement"] for a in s["Action"]}
            assert "xray:PutTraceSegments" in trace_actions


def test_execution_logging_is_off_so_no_unmanaged_execution_log_group_appears(exported: Export) -> None:
    # At ERROR or INFO API Gateway creates API-Gateway-Execution-Logs_<api-id>/<stage> itself: no retention,
    # no KMS, and it outlives destroy. The access log carries the error detail instead.
    settings = dict(Plan(exported).every("aws_api_gateway_method_settings"))
    assert len(settings) == 3
    for address, method in settings.items():
        assert method["settings"]["logging_level"] == "OFF", address
        assert method["settings"]["data_trace_enabled"] is False, address
    log_format = exported.locals["api_access_log_format"]
    assert log_format["errorMessage"] == "$context.error.message"
    assert log_format["integrationErrorMessage"] == "$context.integrationErrorMessage"
    assert {"status", "integrationStatus", "integrationError", "errorType"} <= set(log_format)
    skips = yaml.safe_load((ROOT / ".checkov.yaml").read_text())["skip-check"]
    assert "CKV2_AWS_4" in skips, "checkov's execution-logging check is skipped with the reason, not failed"


# ---- scanners -----------------------------------------------------------------------------------------------


def test_every_checkov_skip_states_its_reason() -> None:
    config_text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(config_text)["skip-check"]
    assert skips
    for check in skips:
        (line,) = [line for line in config_text.splitlines() if re.match(rf"\s*-\s*{check}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) > 20, f"{check} has no reason"


@pytest.mark.parametrize(
    ("root", "minimum_passed", "must_check"),
    [
        ("prod", 100, {"chalice.tf.json": "api_handler", "api_gateway.tf": "api[0]", "waf.tf": "regional"}),
        ("bootstrap", 8, {"api_gateway_account.tf": "api_gateway_cloudwatch", "cost_controls.tf": "cost_alerts"}),
    ],
)
def test_checkov_passes_the_prod_export_and_the_bootstrap_with_no_failures_and_no_parse_errors(
    request: pytest.FixtureRequest, root: str, minimum_passed: int, must_check: dict[str, str]
) -> None:
    # One run per directory: each is its own Terraform root, and checkov merges repeated -d output badly.
    directory = request.getfixturevalue(root).directory
    by_type = checkov_clean(directory)
    passed = sum(report["summary"]["passed"] for report in by_type.values())
    assert passed >= minimum_passed, f"{directory}: a scan that checks nothing is not a pass"
    checked = checked_resources(by_type)
    for file_name, resource in must_check.items():
        assert resource in checked.get(file_name, set()), f"{directory}: {file_name} {resource} was never checked"


def test_cfn_lint_finds_no_errors_in_the_prod_sam_template(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run(
        [str(bin_dir / "chalice"), "package", "--stage", "prod", str(tmp_path)],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [str(bin_dir / "cfn-lint"), "--format", "json", str(tmp_path / "sam.json")],
        capture_output=True,
        text=True,
        env=environment,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [finding for finding in findings if finding["Level"] == "Error"]
    assert errors == [], errors
