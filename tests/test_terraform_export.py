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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib import query
from scripts import export_terraform

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", ROOT / ".tools" / "checkov"))
STAGES = ("dev", "prod")
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")


class Export:
    """One exported stage directory, parsed."""

    def __init__(self, stage: str, directory: Path) -> None:
        self.stage = stage
        self.directory = directory
        self.files = {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.tf.json"))}
        self.chalice = self.files["chalice.tf.json"]
        self.locals = {
            name: value for document in self.files.values() for name, value in document.get("locals", {}).items()
        }
        self.variables = self.files["variables.tf.json"]["variable"]

    def resources(self, kind: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for document in self.files.values():
            merged.update(document.get("resource", {}).get(kind, {}))
        return merged

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for document in self.files.values():
            for kind, resources in document.get("resource", {}).items():
                for key, body in resources.items():
                    yield kind, key, body

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]

    def resolve(self, text: str) -> str:
        """Substitutes the plain-string stage locals, as Terraform would."""
        for name, value in self.locals.items():
            if isinstance(value, str) and "${" not in value:
                text = text.replace("${local." + name + "}", value)
        return text

    def policy(self, role_policy_key: str) -> dict[str, Any]:
        return json.loads(self.resources("aws_iam_role_policy")[role_policy_key]["policy"])

    def swagger(self) -> dict[str, Any]:
        return json.loads(self.chalice["locals"]["chalice_api_swagger"])


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


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


def stage_settings(stage: str) -> dict[str, Any]:
    return json.loads((ROOT / "infra" / "terraform" / "stages" / f"{stage}.json").read_text())


# ---- versions -------------------------------------------------------------------------------------------------


def parse_hcl(path: Path) -> dict[str, Any]:
    """Parses HCL with the pure-Python parser that ships in checkov's tool venv (kept out of .venv)."""
    python = CHECKOV_VENV / "bin" / "python"
    assert python.exists(), "checkov tool venv missing: run `make checkov`"
    result = subprocess.run(
        [str(python), "-c", "import hcl2, json, sys; print(json.dumps(hcl2.load(open(sys.argv[1]))))", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


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


def test_versions_accept_terraform_1_5_plus_and_aws_provider_5_with_upper_bounds(exported: Export) -> None:
    (block,) = parse_hcl(exported.directory / "versions.tf")["terraform"]
    (required_version,) = block["required_version"]
    (providers,) = block["required_providers"]
    aws = providers["aws"][0] if isinstance(providers["aws"], list) else providers["aws"]
    assert aws["source"] == "hashicorp/aws"
    for accepted in ("1.5.0", "1.9.8", "1.11.4", "1.14.0"):
        assert satisfies(accepted, required_version), accepted
    for refused in ("1.3.9", "1.4.7", "2.0.0"):
        assert not satisfies(refused, required_version), refused
    for accepted in ("5.40.0", "5.100.0"):
        assert satisfies(accepted, aws["version"]), accepted
    for refused in ("4.67.0", "5.39.0", "6.0.0"):
        assert not satisfies(refused, aws["version"]), refused
    assert set(providers) == {"aws"}, "the null provider is no longer needed"


def test_no_json_file_holds_a_terraform_block(exported: Export) -> None:
    # checkov's terraform_json parser fails on it and then runs no check at all.
    assert all("terraform" not in document for document in exported.files.values())


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
    assert sorted(statement["Action"]) == ["dynamodb:DescribeTable", "dynamodb:Scan"]
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
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.rest_api.id}"
    assert exported.resolve(stage["stage_name"]) == CONFIG["stages"][exported.stage]["api_gateway_stage"]
    assert stage["xray_tracing_enabled"] == "${var.xray_tracing_enabled}"
    assert exported.default("xray_tracing_enabled") is bool(CONFIG["stages"][exported.stage].get("xray"))
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
    assert waf["count"] == '${var.web_acl_arn != "" ? 1 : 0}'
    assert waf["resource_arn"] == "${aws_api_gateway_stage.api.arn}"


def test_deployment_redeploys_when_the_api_body_changes(exported: Export) -> None:
    deployment = exported.resources("aws_api_gateway_deployment")["rest_api"]
    assert deployment["triggers"] == {"redeployment": "${sha1(local.chalice_api_swagger)}"}
    assert deployment["lifecycle"]["create_before_destroy"] is True
    assert exported.resources("aws_api_gateway_rest_api")["rest_api"]["body"] == "${local.chalice_api_swagger}"


def test_endpoint_url_output_comes_from_the_stage(exported: Export) -> None:
    assert exported.chalice["output"]["EndpointURL"]["value"] == "${aws_api_gateway_stage.api.invoke_url}"


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
    assert permission["qualifier"] == "${var.enable_live_alias ? local.live_alias_name : null}"


def test_stage_cache_keys_on_every_parameter_the_routes_read(exported: Export) -> None:
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/llms"]) == query._LIST_PARAMETERS
    assert set(export_terraform.ROUTE_QUERY_PARAMETERS["/health"]) == query._HEALTH_PARAMETERS
    paths = exported.swagger()["paths"]
    llms = paths["/llms"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert sorted(llms) == sorted(f"method.request.querystring.{name}" for name in query._LIST_PARAMETERS)
    one = paths["/llms/{model_name}"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert one == ["method.request.path.model_name"]
    declared = {p["name"] for p in paths["/llms"]["get"]["parameters"] if p["in"] == "query"}
    assert declared == query._LIST_PARAMETERS


# ---- cold-start controls ------------------------------------------------------------------------------------


def test_cold_start_controls_are_on_in_prod_and_off_in_dev(exported: Export) -> None:
    api = exported.resources("aws_lambda_function")["api_handler"]
    assert api["publish"] == "${var.enable_live_alias}"
    assert api["snap_start"] == {"apply_on": '${var.snap_start_enabled ? "PublishedVersions" : "None"}'}
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
    assert exported.default("snap_start_enabled") is False


def test_snap_start_and_provisioned_concurrency_are_mutually_exclusive(exported: Export) -> None:
    conditions = [
        p["condition"] for p in exported.resources("aws_lambda_function")["api_handler"]["lifecycle"]["precondition"]
    ]
    assert "${!(var.snap_start_enabled && var.provisioned_concurrency > 0)}" in conditions
    assert any("var.snap_start_enabled" in c and "var.enable_live_alias" in c for c in conditions)
    assert any("var.snap_start_enabled" in c and "var.lambda_runtime" in c and ">= 12" in c for c in conditions)


# ---- alarms and dashboard -----------------------------------------------------------------------------------


def test_alarms_cover_the_failure_modes_and_notify_an_encrypted_topic(exported: Export) -> None:
    alarms = exported.resources("aws_cloudwatch_metric_alarm")
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
        ("AWS/ApiGateway", "5XXError", "Sum"),
        ("AWS/ApiGateway", "Latency", "p99"),
        ("AWS/DynamoDB", "ThrottledRequests", "Sum"),
        (namespace, "CacheStale", "Sum"),
        (namespace, "WarmupFailures", "Sum"),
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
    assert '"WarmupFailures"' in source and 'f"Cache{record.cache_state.capitalize()}"' in source
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
    metrics = {metric[1] for widget in body["widgets"] for metric in widget["properties"]["metrics"]}
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


# ---- names and references -----------------------------------------------------------------------------------

NAME_ATTRIBUTES = ("name", "function_name", "alarm_name", "dashboard_name")


def resource_names(exported: Export) -> set[str]:
    names = set()
    for kind, _, body in exported.all_resources():
        if kind in {"aws_lambda_alias"}:
            continue  # alias names are scoped to their function
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


def test_stage_settings_only_set_declared_variables() -> None:
    declared = json.loads((ROOT / "infra" / "terraform" / "variables.tf.json").read_text())["variable"]
    for stage in STAGES:
        assert set(stage_settings(stage)) <= set(declared)


def test_re_export_keeps_state_and_user_files(tmp_path: Path) -> None:
    kept = ["terraform.tfstate", "terraform.tfstate.backup", ".terraform.lock.hcl", "mine.auto.tfvars"]
    for name in [*kept, "chalice.tf.json", "old.tf", "deployment.zip"]:
        (tmp_path / name).write_text("x")
    export_terraform._clear_generated(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)


# ---- scanners -----------------------------------------------------------------------------------------------


def test_every_checkov_skip_states_its_reason() -> None:
    config_text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(config_text)["skip-check"]
    assert skips
    for check in skips:
        (line,) = [line for line in config_text.splitlines() if re.match(rf"\s*-\s*{check}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) > 20, f"{check} has no reason"


def test_checkov_passes_the_prod_export_with_no_failures_and_no_parse_errors(prod: Export) -> None:
    checkov = CHECKOV_VENV / "bin" / "checkov"
    assert checkov.exists(), "checkov tool venv missing: run `make checkov` (make test does it)"
    environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(prod.directory),
            "--framework",
            "terraform",
            "terraform_json",
            "--config-file",
            str(ROOT / ".checkov.yaml"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_type = {report["check_type"]: report for report in reports}
    assert "terraform_json" in by_type, f"checkov ran no terraform_json checks: {result.stdout[:500]}"
    failures = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failures == []
    for report in reports:
        assert report["results"]["parsing_errors"] == [], report["results"]["parsing_errors"]
    assert by_type["terraform_json"]["summary"]["passed"] >= 50, "a scan that checks nothing is not a pass"
    # checkov logs a crashed check and carries on as if it had not existed.
    assert "Failed to run check" not in result.stderr and "Failed to add block" not in result.stderr
    assert result.returncode == 0


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
