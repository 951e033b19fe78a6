"""The Terraform export (scripts/export_terraform.py): structure of the output, checkov and cfn-lint.

Everything is asserted on parsed files; no Terraform binary and no AWS account are needed.
checkov runs from its own tool venv (`make checkov`, a prerequisite of `make test`).
"""

from __future__ import annotations

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
from scripts import export_terraform
from tests.terraform.support import Export, checked_resources, checkov_clean, parse_hcl, stage_settings, strings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGES = ("dev", "prod")
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")


@pytest.fixture(scope="module", params=STAGES)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Export:
    stage = request.param
    out = tmp_path_factory.mktemp(f"terraform-{stage}")
    assert export_terraform.main(["--stage", stage, "--out", str(out)]) == 0
    return Export(stage, out)


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out = tmp_path_factory.mktemp("terraform-prod-scan")
    export_terraform.export("prod", out)
    return Export("prod", out)


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


def test_null_data_source_and_deployment_stage_attributes_are_gone(exported: Export) -> None:
    assert "null_data_source" not in exported.chalice.get("data", {})
    (deployment,) = exported.resources("aws_api_gateway_deployment").values()
    assert "stage_name" not in deployment and "stage_description" not in deployment
    for text in (s for document in exported.files.values() for s in strings(document)):
        assert "aws_api_gateway_deployment.rest_api.invoke_url" not in text
        assert "aws_api_gateway_deployment.rest_api.stage_name" not in text
        assert "null_data_source" not in text


# ---- Lambda runtime and package -----------------------------------------------------------------------------


def test_every_function_runs_the_stage_runtime_not_the_packaging_machines(exported: Export) -> None:
    functions = exported.resources("aws_lambda_function")
    assert set(functions) == {"api_handler", "warm_up"}
    assert {function["runtime"] for function in functions.values()} == {"${var.lambda_runtime}"}
    assert exported.default("lambda_runtime") == stage_settings(exported.stage)["lambda_runtime"] == "python3.13"
    assert "python3.11" not in json.dumps(exported.chalice)
    (validation,) = exported.variables["lambda_runtime"]["validation"]
    assert "python3" in validation["condition"] and "1[2-9]" in validation["condition"]


def test_deployment_zip_is_copied_next_to_the_configuration_that_references_it(exported: Export) -> None:
    for function in exported.resources("aws_lambda_function").values():
        assert function["filename"] == "${path.module}/deployment.zip"
        assert "${path.module}/deployment.zip" in function["source_code_hash"]
    names = zipfile.ZipFile(exported.directory / "deployment.zip").namelist()
    assert "app.py" in names and "chalicelib/lifecycle.py" in names


def test_runtime_dependencies_in_the_package_are_pure_python(exported: Export) -> None:
    archive = zipfile.ZipFile(exported.directory / "deployment.zip")
    names = archive.namelist()
    assert not [name for name in names if name.endswith((".so", ".pyd", ".dylib")) or ".so." in name]
    wheels = [name for name in names if name.endswith(".dist-info/WHEEL")]
    requirements = [
        re.split(r"[=<>~!\[; ]", line.strip())[0].lower().replace("-", "_")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    packaged = {name.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0].lower() for name in wheels}
    assert set(requirements) <= packaged, "every runtime requirement is vendored as a wheel"
    for name in wheels:
        metadata = archive.read(name).decode()
        tags = re.findall(r"^Tag: (\S+)$", metadata, flags=re.MULTILINE)
        assert tags and all(tag.endswith("-none-any") for tag in tags), f"{name}: {tags}"
        assert "Root-Is-Purelib: true" in metadata, name


def test_log_groups_exist_before_the_functions_with_stage_retention(exported: Export) -> None:
    groups = exported.resources("aws_cloudwatch_log_group")
    for key, function in exported.resources("aws_lambda_function").items():
        group = groups[key]
        assert group["name"] == f"/aws/lambda/{function['function_name']}"
        assert group["retention_in_days"] == "${var.log_retention_days}"
        assert group["kms_key_id"] == "${aws_kms_key.observability.arn}"
        assert f"aws_cloudwatch_log_group.{key}" in function["depends_on"]
        assert "log_retention_in_days" not in function
    assert groups["api_access"]["retention_in_days"] == "${var.log_retention_days}"
    assert exported.default("log_retention_days") == stage_settings(exported.stage)["log_retention_days"]


# ---- DynamoDB and IAM ---------------------------------------------------------------------------------------


def test_table_is_on_demand_with_recovery_encryption_and_stage_deletion_protection(exported: Export) -> None:
    table = exported.resources("aws_dynamodb_table")["scores"]
    assert exported.resolve(table["name"]) == f"llm_scores-{exported.stage}"
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == "model_name"
    assert table["attribute"] == [{"name": "model_name", "type": "S"}]
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"]["enabled"] is True
    assert "var.dynamodb_kms_key_arn" in table["server_side_encryption"]["kms_key_arn"]
    assert table["deletion_protection_enabled"] == "${var.dynamodb_deletion_protection}"
    assert exported.default("dynamodb_deletion_protection") is (exported.stage == "prod")


def test_table_actions_reference_the_table_arn_and_nothing_else(exported: Export) -> None:
    (statement,) = [s for s in exported.policy("api_handler_role")["Statement"] if "dynamodb" in str(s["Action"])]
    assert statement["Action"] == ["dynamodb:Scan"]  # deep health probes with a Scan, not DescribeTable
    assert statement["Resource"] == ["${aws_dynamodb_table.scores.arn}"]
    for key in exported.resources("aws_iam_role_policy"):
        for policy_statement in exported.policy(key)["Statement"]:
            actions = policy_statement["Action"]
            assert not any(action.endswith(":*") or action == "*" for action in actions)
            if policy_statement["Resource"] == ["*"] or policy_statement["Resource"] == "*":
                # Only X-Ray's trace upload, which supports no resource-level permissions.
                assert {action.split(":")[0] for action in actions} == {"xray"}
            for resource in policy_statement["Resource"]:
                assert ":*:*:" not in resource, f"{key}: wildcard region/account left in {resource}"


def test_functions_write_only_to_their_terraform_managed_log_groups(exported: Export) -> None:
    for key, function in exported.resources("aws_lambda_function").items():
        role_policy_key = function["role"].split(".")[1]
        (statement,) = [s for s in exported.policy(role_policy_key)["Statement"] if "logs" in str(s["Action"])]
        assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        arn = "${aws_cloudwatch_log_group." + key + ".arn}"
        assert statement["Resource"] == [arn, arn + ":*"]


def test_warm_up_invokes_the_alias_when_there_is_one(exported: Export) -> None:
    (statement,) = [s for s in exported.policy("warm_up_role")["Statement"] if "lambda" in str(s["Action"])]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == [
        "${aws_lambda_function.api_handler.arn}",
        "${aws_lambda_function.api_handler.arn}:${local.live_alias_name}",
    ]
    assert exported.locals["live_alias_name"] == "live"
    variables = exported.resources("aws_lambda_function")["warm_up"]["environment"]["variables"]
    assert variables["API_FUNCTION_QUALIFIER"] == "${local.api_function_qualifier}"
    assert variables["API_FUNCTION_NAME"] == f"llm-scores-{exported.stage}"
    qualifier = exported.locals["api_function_qualifier"]
    assert qualifier.startswith("${var.enable_live_alias ? local.live_alias_name :")


# ---- API Gateway --------------------------------------------------------------------------------------------


def test_stage_resource_carries_logs_tracing_throttling_cache_and_waf(exported: Export) -> None:
    stage = exported.resources("aws_api_gateway_stage")["api"]
    # Gated on var.api_type with the REST API, so it reads its siblings by index (tests/terraform/test_front_door.py).
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.rest_api[0].id}"
    assert exported.resolve(stage["stage_name"]) == CONFIG["stages"][exported.stage]["api_gateway_stage"]
    assert stage["xray_tracing_enabled"] == "${local.xray_tracing_enabled}"
    assert exported.locals["xray_tracing_enabled"] is bool(CONFIG["stages"][exported.stage].get("xray"))
    assert stage["access_log_settings"]["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    assert stage["access_log_settings"]["format"] == "${jsonencode(local.api_access_log_format)}"
    log_format = exported.locals["api_access_log_format"]
    assert {"requestId", "status", "responseLatency", "integrationError", "xrayTraceId"} <= set(log_format)
    assert stage["cache_cluster_enabled"] == "${var.api_cache_enabled}"
    settings = exported.resources("aws_api_gateway_method_settings")
    assert settings["all"]["method_path"] == "*/*"
    assert settings["all"]["settings"]["throttling_rate_limit"] == "${var.api_throttling_rate_limit}"
    assert settings["all"]["settings"]["throttling_burst_limit"] == "${var.api_throttling_burst_limit}"
    assert settings["all"]["settings"]["cache_data_encrypted"] is True
    assert settings["health"]["settings"]["caching_enabled"] is False
    expected = stage_settings(exported.stage)
    assert exported.default("api_throttling_rate_limit") == expected["api_throttling_rate_limit"]
    assert exported.default("api_throttling_burst_limit") == expected["api_throttling_burst_limit"]
    waf = exported.resources("aws_wafv2_web_acl_association")["api"]
    assert waf["count"] == '${var.web_acl_arn != "" && var.api_type == "REST" ? 1 : 0}'
    assert waf["resource_arn"] == "${aws_api_gateway_stage.api[0].arn}"


def test_deployment_redeploys_when_the_api_body_changes(exported: Export) -> None:
    deployment = exported.resources("aws_api_gateway_deployment")["rest_api"]
    assert deployment["triggers"] == {"redeployment": "${sha1(local.api_body)}"}
    assert deployment["lifecycle"]["create_before_destroy"] is True
    assert exported.resources("aws_api_gateway_rest_api")["rest_api"]["body"] == "${local.api_body}"


def test_endpoint_url_output_comes_from_the_stage(exported: Export) -> None:
    assert exported.chalice["output"]["EndpointURL"]["value"] == "${local.api_endpoint_url}"
    # The REST stage's URL, or the HTTP API's when var.api_type is "HTTP".
    assert "one(aws_api_gateway_stage.api[*].invoke_url)" in exported.locals["api_endpoint_url"]


def test_api_gateway_invokes_the_alias_when_enabled(exported: Export) -> None:
    swagger = exported.swagger()
    uris = [
        operation["x-amazon-apigateway-integration"]["uri"]
        for operations in swagger["paths"].values()
        for method, operation in operations.items()
        if method != "parameters"
    ]
    assert uris and set(uris) == {"${local.api_invoke_arn}"}
    assert exported.locals["api_invoke_arn"] == (
        "${var.enable_live_alias ? one(aws_lambda_alias.live[*].invoke_arn)"
        " : aws_lambda_function.api_handler.invoke_arn}"
    )
    permission = exported.resources("aws_lambda_permission")["rest_api_invoke"]
    assert permission["qualifier"] == "${var.enable_live_alias ? one(aws_lambda_alias.live[*].name) : null}"


def test_stage_cache_keys_on_every_parameter_the_routes_read(exported: Export) -> None:
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/llms"]) == contract.LIST.query_parameters
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/health"]) == contract.HEALTH.query_parameters
    assert "/llms/{model_name}" not in export_terraform.ROUTE_QUERY_PARAMETERS
    paths = exported.swagger()["paths"]
    llms = paths["/llms"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert sorted(llms) == sorted(f"method.request.querystring.{name}" for name in contract.LIST.query_parameters)
    one = paths["/llms/{model_name}"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert one == ["method.request.path.model_name"]
    declared = {p["name"] for p in paths["/llms"]["get"]["parameters"] if p["in"] == "query"}
    assert declared == contract.LIST.query_parameters


# ---- cold-start controls ------------------------------------------------------------------------------------


def test_cold_start_controls_are_on_in_prod_and_off_in_dev(exported: Export) -> None:
    api = exported.resources("aws_lambda_function")["api_handler"]
    assert api["publish"] == "${var.enable_live_alias}"
    alias = exported.resources("aws_lambda_alias")["live"]
    assert alias["count"] == "${var.enable_live_alias ? 1 : 0}"
    assert alias["name"] == "${local.live_alias_name}"
    assert "aws_lambda_function.api_handler.version" in alias["function_version"]
    provisioned = exported.resources("aws_lambda_provisioned_concurrency_config")["live"]
    assert provisioned["qualifier"] == "${one(aws_lambda_alias.live[*].name)}"
    assert provisioned["provisioned_concurrent_executions"] == "${var.provisioned_concurrency}"
    prod = exported.stage == "prod"
    assert exported.default("enable_live_alias") is prod
    assert exported.default("provisioned_concurrency") == (2 if prod else 0)
    assert exported.locals["snap_start_enabled"] is False


def test_snap_start_and_provisioned_concurrency_are_mutually_exclusive(exported: Export) -> None:
    options = exported.resources("terraform_data")["cold_start_options"]
    conditions = [p["condition"] for p in options["lifecycle"]["precondition"]]
    assert "${!(var.snap_start_enabled && var.provisioned_concurrency > 0)}" in conditions
    assert any("var.snap_start_enabled" in c and "var.enable_live_alias" in c for c in conditions)
    assert any("var.snap_start_enabled" in c and "var.lambda_runtime" in c and ">= 12" in c for c in conditions)


# ---- alarms and dashboard -----------------------------------------------------------------------------------


def test_alarms_cover_the_failure_modes_and_notify_an_encrypted_topic(exported: Export) -> None:
    alarms = exported.resources("aws_cloudwatch_metric_alarm")
    # Metric-math alarms (SLO burn rates, ratios) have no single namespace: tests/terraform/test_slo.py checks them.
    alarms = {key: alarm for key, alarm in alarms.items() if "metric_query" not in alarm}
    watched = {
        (
            exported.resolve(alarm["namespace"]),
            alarm["metric_name"],
            alarm.get("extended_statistic", alarm.get("statistic")),
        )
        for alarm in alarms.values()
    }
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert {
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        ("AWS/Lambda", "Duration", "p99"),
        # Named through local.api_metrics, which follows var.api_type (tests/terraform/test_front_door.py).
        ("AWS/ApiGateway", "${local.api_metrics.errors_5xx}", "Sum"),
        ("AWS/ApiGateway", "${local.api_metrics.latency}", "p99"),
        ("AWS/DynamoDB", "ThrottledRequests", "Sum"),
        (namespace, "CacheStale", "Sum"),
        (namespace, "WarmupFailures", "Sum"),
        # A malformed row is left out of every answer; without this alarm it would vanish silently.
        (namespace, "SkippedItems", "Sum"),
    } <= watched
    for alarm in alarms.values():
        assert alarm["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
        if exported.resolve(alarm["namespace"]) == namespace:
            assert alarm["dimensions"] == {"service": "${local.service_name}"}
    stage_variables = CONFIG["stages"][exported.stage]["environment_variables"]
    assert exported.locals["service_name"] == stage_variables["POWERTOOLS_SERVICE_NAME"]
    assert exported.locals["service_name"] == f"llm-scores-{exported.stage}"
    # The app must actually emit the custom metrics the alarms watch.
    source = "".join(path.read_text() for path in (ROOT / "chalicelib").glob("*.py"))
    assert (
        '"WarmupFailures"' in source
        and '"SkippedItems"' in source
        and 'f"Cache{record.cache_state.capitalize()}"' in source
    )
    topic = exported.resources("aws_sns_topic")["alarms"]
    assert topic["kms_master_key_id"] == "${aws_kms_key.observability.arn}"
    assert exported.resources("aws_kms_key")["observability"]["enable_key_rotation"] is True


def test_dashboard_renders_to_valid_json_with_the_key_metrics(exported: Export) -> None:
    dashboard = exported.resources("aws_cloudwatch_dashboard")["service"]
    assert 'templatefile("${path.module}/dashboard.json.tftpl"' in dashboard["dashboard_body"]
    template = (exported.directory / "dashboard.json.tftpl").read_text()
    passed = set(re.findall(r"(\w+) = ", dashboard["dashboard_body"]))
    used = set(re.findall(r"\$\{(\w+)\}", template))
    assert used == passed, "every template variable is passed, and nothing else"
    body = json.loads(re.sub(r"\$\{(\w+)\}", lambda match: f"sample-{match[1]}", template))
    metrics = {
        metric[1]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
    }
    assert {
        "Latency",
        "sample-api_errors_5xx",  # 5XXError or 5xx, by var.api_type (tests/terraform/test_front_door.py)
        "Duration",
        "Throttles",
        "CacheStale",
        "CacheHit",
        "ColdStart",
        "WarmupFailures",
    } <= metrics


# ---- names and references -----------------------------------------------------------------------------------

NAME_ATTRIBUTES = ("name", "function_name", "alarm_name", "dashboard_name")


def resource_names(exported: Export) -> set[str]:
    names = set()
    for kind, _, body in exported.all_resources():
        if kind in {"aws_lambda_alias", "aws_apigatewayv2_stage", "aws_route53_record"}:
            # Alias names are scoped to their function, HTTP API stage names ($default) to their API, and
            # DNS record names are the stage's custom_domain_name and what ACM asks for (domain.tf.json).
            continue
        for attribute in NAME_ATTRIBUTES:
            value = body.get(attribute)
            # A bare reference (a permission's function_name) names nothing new.
            if isinstance(value, str) and not re.fullmatch(r"\$\{aws_[^}]+\}", value):
                names.add(exported.resolve(value))
    return names


def test_every_resource_name_is_stage_unique(exported: Export) -> None:
    names = resource_names(exported)
    assert f"llm-scores-{exported.stage}-warm_up-event" in names
    assert f"llm-scores-{exported.stage}" in names  # the REST API and the API function
    for name in names:
        assert re.search(rf"llm[-_]scores-{exported.stage}\b", name), f"{name!r} is not stage-unique"


def test_dev_and_prod_share_no_resource_name(tmp_path_factory: pytest.TempPathFactory, prod: Export) -> None:
    out = tmp_path_factory.mktemp("terraform-dev-names")
    export_terraform.export("dev", out)
    assert resource_names(Export("dev", out)).isdisjoint(resource_names(prod))


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


def test_stage_settings_only_set_declared_variables_or_export_time_settings() -> None:
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


@pytest.fixture(scope="module")
def raw_prod(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Chalice's unedited Terraform for prod, to post-process with settings the stage files do not hold."""
    out = tmp_path_factory.mktemp("chalice-raw-prod")
    export_terraform.run_chalice_package("prod", out)
    return json.loads((out / export_terraform.CHALICE_FILE).read_text())


def swagger_of(template: dict[str, Any]) -> dict[str, Any]:
    return json.loads(template["locals"]["chalice_api_swagger"])


def with_swagger(raw: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed = json.loads(json.dumps(raw))
    swagger = swagger_of(changed)
    for operations in swagger["paths"].values():
        edit(operations)
    changed["locals"]["chalice_api_swagger"] = json.dumps(swagger)
    return changed


def add_head_twins(operations: dict[str, Any]) -> None:
    if "get" in operations:
        operations.setdefault("head", json.loads(json.dumps(operations["get"])))


def drop_head(operations: dict[str, Any]) -> None:
    operations.pop("head", None)


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
    enabled = str(stage_settings(exported.stage)["snap_start_enabled"]).lower()
    preconditions = exported.resources("aws_lambda_function")["api_handler"]["lifecycle"]["precondition"]
    assert [p["condition"] for p in preconditions] == ["${var.snap_start_enabled == " + enabled + "}"]
    assert "re-export" in preconditions[0]["error_message"]


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
    settings = exported.resources("aws_api_gateway_method_settings")
    assert {"all", "health"} <= set(settings)
    for key, method in settings.items():
        assert method["settings"]["logging_level"] == "OFF", key
        assert method["settings"]["data_trace_enabled"] is False, key
    log_format = exported.locals["api_access_log_format"]
    assert log_format["errorMessage"] == "$context.error.message"
    assert log_format["integrationErrorMessage"] == "$context.integrationErrorMessage"
    assert {"status", "integrationStatus", "integrationError", "errorType"} <= set(log_format)
    skips = yaml.safe_load((ROOT / ".checkov.yaml").read_text())["skip-check"]
    assert "CKV2_AWS_4" in skips, "checkov's execution-logging check is skipped with the reason, not failed"


def test_dashboard_plots_init_duration_from_report_lines_not_a_metric_lambda_never_publishes(
    exported: Export,
) -> None:
    template = (exported.directory / "dashboard.json.tftpl").read_text()
    body = json.loads(re.sub(r"\$\{(\w+)\}", lambda match: f"<{match[1]}>", template))
    plotted = [
        (metric[0], metric[1])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
    ]
    assert ("AWS/Lambda", "InitDuration") not in plotted
    (init,) = [w for w in body["widgets"] if w["type"] == "log" and "@initDuration" in w["properties"]["query"]]
    query = init["properties"]["query"]
    assert query.startswith("SOURCE '<api_log_group>'")
    assert '@type = "REPORT"' in query and "ispresent(@initDuration)" in query
    assert init["properties"]["region"] == "<region>"
    dashboard = exported.resources("aws_cloudwatch_dashboard")["service"]["dashboard_body"]
    assert "api_log_group = aws_cloudwatch_log_group.api_handler.name" in dashboard


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
    alarm = exported.resources("aws_cloudwatch_metric_alarm")["warm_up_stopped"]
    warmup = int(CONFIG["stages"][exported.stage]["environment_variables"]["WARMUP_CONCURRENCY"])
    assert warmup > 0 and exported.locals["warmup_concurrency"] == warmup
    assert alarm["count"] == "${local.warmup_concurrency > 0 ? 1 : 0}"
    assert exported.resolve(alarm["namespace"]) == CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["metric_name"] == "WarmupInvocations"
    assert alarm["dimensions"] == {"service": "${local.service_name}"}
    assert alarm["treat_missing_data"] == "breaching"
    # Any report at all means the warmer ran; absence of data is the failure.
    assert alarm["statistic"] == "SampleCount"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
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


def test_spillover_alarm_watches_the_live_alias_only_with_provisioned_concurrency(exported: Export) -> None:
    alarm = exported.resources("aws_cloudwatch_metric_alarm")["provisioned_concurrency_spillover"]
    provisioned = exported.resources("aws_lambda_provisioned_concurrency_config")["live"]
    assert (
        alarm["count"] == provisioned["count"] == "${var.enable_live_alias && var.provisioned_concurrency > 0 ? 1 : 0}"
    )
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/Lambda", "ProvisionedConcurrencySpilloverInvocations")
    assert alarm["dimensions"] == {
        "FunctionName": "${aws_lambda_function.api_handler.function_name}",
        "Resource": "${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}",
    }
    assert alarm["statistic"] == "Sum" and alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
    assert (exported.default("provisioned_concurrency") > 0) is (exported.stage == "prod")


def test_every_head_route_of_the_real_export_is_served_exactly_like_its_get(exported: Export) -> None:
    paths = exported.swagger()["paths"]
    assert all("head" in operations for operations in paths.values() if "get" in operations), "app.py: GET+HEAD"
    for path, operations in paths.items():
        if "head" in operations:
            get, head = operations["get"], operations["head"]
            assert head["x-amazon-apigateway-integration"] == get["x-amazon-apigateway-integration"], path
            assert head["parameters"] == get["parameters"], path
    settings = exported.resources("aws_api_gateway_method_settings")
    assert settings["health_head"]["method_path"] == "health/HEAD"
    assert settings["health_head"]["settings"] == settings["health"]["settings"]


def test_head_operations_are_rewired_and_cache_keyed_exactly_like_their_get(raw_prod: dict[str, Any]) -> None:
    raw = with_swagger(raw_prod, add_head_twins)
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
    infra = parse_hcl((ROOT / "infra" / "terraform" / "api_gateway.tf").read_text())
    method_settings = infra["resource"]["aws_api_gateway_method_settings"]
    assert method_settings["health_head"] == {**method_settings["health"], "method_path": "health/HEAD"}


def test_every_method_setting_names_a_method_the_api_has(prod: Export) -> None:
    # API Gateway refuses a method setting for a method the API does not have, failing the apply.
    paths = prod.swagger()["paths"]
    for key, settings in prod.resources("aws_api_gateway_method_settings").items():
        resource_path, _, method = settings["method_path"].rpartition("/")
        if settings["method_path"] != "*/*":
            assert method.lower() in paths["/" + resource_path], key


def test_names_match_what_chalice_deploy_creates_so_a_migrated_stage_imports_in_place(prod: Export) -> None:
    # `terraform import` with chalice deploy's names must land on the same names, or the next apply
    # replaces (deletes, then recreates) a live resource. Chalice's own graph says what it deploys.
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="prod")
    deployed = DependencyBuilder().build_dependencies(ApplicationGraphBuilder().build(config, "prod"))
    roles = prod.resources("aws_iam_role")
    policies = prod.resources("aws_iam_role_policy")
    functions = prod.resources("aws_lambda_function")
    rules = prod.resources("aws_cloudwatch_event_rule")
    seen: set[type] = set()
    for resource in deployed:
        seen.add(type(resource))
        if isinstance(resource, models.ManagedIAMRole):
            assert roles[resource.resource_name]["name"] == resource.role_name
            # chalice deploy names the inline policy after its role (deploy/planner.py: policy_name=role_name).
            assert policies[resource.resource_name]["name"] == resource.role_name
        elif isinstance(resource, models.LambdaFunction):
            assert functions[resource.resource_name]["function_name"] == resource.function_name
            group = prod.resources("aws_cloudwatch_log_group")[resource.resource_name]
            assert group["name"] == f"/aws/lambda/{resource.function_name}"
        elif isinstance(resource, models.ScheduledEvent):
            assert rules[resource.resource_name]["name"] == resource.rule_name
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


# ---- scanners -----------------------------------------------------------------------------------------------


def test_every_checkov_skip_states_its_reason() -> None:
    config_text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(config_text)["skip-check"]
    assert skips
    for check in skips:
        (line,) = [line for line in config_text.splitlines() if re.match(rf"\s*-\s*{check}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) > 20, f"{check} has no reason"


def test_checkov_passes_the_prod_export_and_the_bootstrap_with_no_failures_and_no_parse_errors(
    prod: Export, tmp_path: Path
) -> None:
    bootstrap = export_terraform.export_bootstrap(tmp_path / "bootstrap")
    # One run per directory: each is its own Terraform root, and checkov merges repeated -d output badly.
    for directory, minimum_passed, must_check in (
        (prod.directory, 100, {"chalice.tf.json": "api_handler", "api_gateway.tf": "api[0]", "waf.tf": "regional"}),
        (bootstrap, 8, {"api_gateway_account.tf": "api_gateway_cloudwatch", "cost_controls.tf": "cost_alerts"}),
    ):
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
