"""Gradual shifting in the Terraform export: CodeDeploy, its alarms and rollback, the alias it owns, the layer.

Asserted on the parsed export, as tests/terraform/test_export.py does; no Terraform binary and no AWS.
`make deploy` itself (scripts/deploy.py) is tested against moto in tests/integration/test_deploy.py.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from scripts.operations import deploy, export_terraform
from tests.terraform.support import DATA_SOURCES, Export, Plan, checked_resources, checkov_clean, stage_settings

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


def deployment_group(exported: Export) -> dict[str, Any]:
    (group,) = exported.resources("aws_codedeploy_deployment_group").values()
    return dict(group)


def test_prod_export_shifts_with_a_canary_that_its_own_alarms_stop_and_roll_back(exports: dict[str, Export]) -> None:
    prod = exports["prod"]
    (application,) = prod.resources("aws_codedeploy_app").values()
    assert application["compute_platform"] == "Lambda"
    group = deployment_group(prod)
    assert group["app_name"] == "${aws_codedeploy_app.api.name}"
    assert group["service_role_arn"] == "${aws_iam_role.codedeploy.arn}"
    assert group["deployment_config_name"] == "${var.codedeploy_deployment_config}"
    assert prod.default("codedeploy_deployment_config") == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    # Lambda deployments are blue/green with traffic control; anything else plans a change on every run.
    assert group["deployment_style"] == {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}
    assert group["auto_rollback_configuration"] == {"enabled": True, "events": ROLLBACK_EVENTS}
    alarm_configuration = group["alarm_configuration"]
    assert alarm_configuration["enabled"] is True
    assert alarm_configuration["ignore_poll_alarm_failure"] is False
    # The service's own alarms, by name: API 5XX, function errors, p99 latency.
    alarms = prod.resources("aws_cloudwatch_metric_alarm")
    watched = set()
    for reference in alarm_configuration["alarms"]:
        key = reference.removeprefix("${aws_cloudwatch_metric_alarm.").removesuffix(".alarm_name}")
        assert reference == "${aws_cloudwatch_metric_alarm." + key + ".alarm_name}"
        alarm = alarms[key]
        assert "count" not in alarm, "a deployment alarm must always exist"
        watched.add((alarm["namespace"], alarm["metric_name"], alarm.get("extended_statistic", alarm.get("statistic"))))
    # API metric names come from local.api_metrics, which names REST's or the HTTP API's metric
    # (tests/terraform/test_front_door.py holds each name to what that API type publishes).
    assert watched == {
        ("AWS/ApiGateway", "${local.api_metrics.errors_5xx}", "Sum"),
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/ApiGateway", "${local.api_metrics.latency}", "p99"),
    }
    assert "aws_iam_role_policy.codedeploy" in group["depends_on"]


def test_dev_shifts_all_at_once_with_the_same_rollback(exports: dict[str, Export]) -> None:
    dev = exports["dev"]
    assert dev.default("codedeploy_deployment_config") == "CodeDeployDefault.LambdaAllAtOnce"
    group = deployment_group(dev)
    assert group == deployment_group(exports["prod"]), "only the variable's default differs between stages"


def test_every_stage_shift_config_is_a_lambda_config(prod: Export) -> None:
    for config, valid in (
        ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", True),
        ("my-custom-lambda-config", True),
        ("CodeDeployDefault.OneAtATime", False),
        ("CodeDeployDefault.ECSAllAtOnce", False),
    ):
        assert Plan(prod, codedeploy_deployment_config=config).valid("codedeploy_deployment_config") is valid, config
    for stage in STAGES:
        config = stage_settings(stage)["codedeploy_deployment_config"]
        assert Plan(prod, codedeploy_deployment_config=config).valid("codedeploy_deployment_config"), stage
        assert config.startswith("CodeDeployDefault.Lambda")


def test_terraform_creates_the_alias_once_and_ignores_the_version_and_weights_codedeploy_moves(
    exports: dict[str, Export],
) -> None:
    for exported in exports.values():
        (alias,) = exported.resources("aws_lambda_alias").values()
        assert alias["lifecycle"]["ignore_changes"] == ["function_version", "routing_config"]
        # Created at the version the first apply publishes, with no way to pin it from Terraform afterwards:
        # a variable here would silently do nothing once the alias exists.
        assert alias["function_version"] == "${aws_lambda_function.api_handler.version}"
        assert "routing_config" not in alias
        assert "live_alias_version" not in exported.variables
        # The apply still publishes the version CodeDeploy shifts to.
        assert exported.resources("aws_lambda_function")["api_handler"]["publish"] == "${var.enable_live_alias}"


def test_codedeploy_may_move_only_this_functions_alias_and_read_only_its_deployment_alarms(
    exports: dict[str, Export],
) -> None:
    prod = exports["prod"]
    role = prod.resources("aws_iam_role")["codedeploy"]
    trust = json.loads(role["assume_role_policy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    policy = prod.resources("aws_iam_role_policy")["codedeploy"]
    assert policy["role"] == "${aws_iam_role.codedeploy.id}"
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    alarms = deployment_group(prod)["alarm_configuration"]["alarms"]
    assert statements["ReadTheAlarmsThatStopADeployment"]["Action"] == ["cloudwatch:DescribeAlarms"]
    assert statements["ReadTheAlarmsThatStopADeployment"]["Resource"] == [
        alarm.replace(".alarm_name}", ".arn}") for alarm in alarms
    ]
    alias = statements["ShiftTheLiveAliasOfTheApiFunction"]
    assert sorted(alias["Action"]) == [
        "lambda:GetAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "lambda:UpdateAlias",
    ]
    assert alias["Resource"] == ["${aws_lambda_function.api_handler.arn}", "${aws_lambda_function.api_handler.arn}:*"]
    # The lifecycle hooks CodeDeploy runs: these two functions, by ARN, and nothing else it may invoke.
    hooks = statements["InvokeTheDeploymentHooks"]
    assert hooks["Action"] == ["lambda:InvokeFunction"]
    assert hooks["Resource"] == [f"${{aws_lambda_function.{key}.arn}}" for key in export_terraform.HOOK_FUNCTIONS]
    assert set(statements) == {
        "ReadTheAlarmsThatStopADeployment",
        "ShiftTheLiveAliasOfTheApiFunction",
        "InvokeTheDeploymentHooks",
    }
    invokes = [
        statement
        for statement in json.loads(policy["policy"])["Statement"]
        if any(action.startswith("lambda:Invoke") or action == "lambda:*" for action in statement["Action"])
    ]
    assert invokes == [hooks]


def test_make_deploy_finds_what_the_export_names_with_or_without_terraform_outputs(exports: dict[str, Export]) -> None:
    for stage, exported in exports.items():
        declared = exported.outputs()
        assert declared[deploy.OUTPUT_TARGET_VERSION]["value"] == "${aws_lambda_function.api_handler.version}"
        assert declared[deploy.OUTPUT_FUNCTION]["value"] == "${aws_lambda_function.api_handler.function_name}"
        assert declared[deploy.OUTPUT_ALIAS]["value"] == "${one(aws_lambda_alias.live[*].name)}"
        assert declared[deploy.OUTPUT_APPLICATION]["value"] == "${aws_codedeploy_app.api.name}"
        assert declared[deploy.OUTPUT_DEPLOYMENT_GROUP]["value"] == (
            "${aws_codedeploy_deployment_group.api.deployment_group_name}"
        )
        # Without outputs, scripts/deploy.py derives the same names the export gives.
        names = deploy.default_names(stage)
        (application,) = exported.resources("aws_codedeploy_app").values()
        group = deployment_group(exported)
        plan = Plan(exported)
        assert plan.value(application["name"]) == names[deploy.OUTPUT_APPLICATION]
        assert plan.value(group["deployment_group_name"]) == names[deploy.OUTPUT_DEPLOYMENT_GROUP]
        function = exported.resources("aws_lambda_function")["api_handler"]
        assert function["function_name"] == names[deploy.OUTPUT_FUNCTION]
        assert exported.locals["live_alias_name"] == names[deploy.OUTPUT_ALIAS] == deploy.LIVE_ALIAS
        # The AppSpec's hooks: the functions Chalice deploys for app.py's two @app.lambda_function handlers.
        functions = exported.resources("aws_lambda_function")
        for output, key in (
            (deploy.OUTPUT_BEFORE_ALLOW_TRAFFIC_HOOK, export_terraform.BEFORE_ALLOW_TRAFFIC_FUNCTION),
            (deploy.OUTPUT_AFTER_ALLOW_TRAFFIC_HOOK, export_terraform.AFTER_ALLOW_TRAFFIC_FUNCTION),
        ):
            assert declared[output]["value"] == f"${{aws_lambda_function.{key}.function_name}}"
            assert functions[key]["function_name"] == names[output]


# ---- the CodeDeploy lifecycle hooks (chalicelib/deploy_hooks.py) -------------------------------------------------


def test_export_deploys_both_hook_functions_with_their_own_roles_log_groups_and_handlers(
    exports: dict[str, Export],
) -> None:
    for stage, exported in exports.items():
        functions = exported.resources("aws_lambda_function")
        log_groups = exported.resources("aws_cloudwatch_log_group")
        for key in export_terraform.HOOK_FUNCTIONS:
            function = functions[key]
            assert function["handler"] == f"app.{key}"
            assert function["function_name"] == f"llm-scores-{stage}-{key}"
            # Its own role: the API's role may read the table, a hook's may not.
            assert function["role"] == f"${{aws_iam_role.{key}_role.arn}}"
            assert f"aws_cloudwatch_log_group.{key}" in function["depends_on"]
            assert Plan(exported).value(log_groups[key]["name"]) == f"/aws/lambda/{function['function_name']}"
            # It reports before its own timeout (deploy_hooks.REPORT_MARGIN_SECONDS), well under CodeDeploy's hour.
            assert 30 <= function["timeout"] <= 300
            assert function["reserved_concurrent_executions"] >= 1
        after = functions[export_terraform.AFTER_ALLOW_TRAFFIC_FUNCTION]
        assert after["environment"]["variables"]["PUBLIC_BASE_URL"] == "${local.api_endpoint_url}"
        before = functions[export_terraform.BEFORE_ALLOW_TRAFFIC_FUNCTION]["environment"]["variables"]
        assert 0 <= int(before["PREWARM_MINIMUM"]) <= int(before["PREWARM_MAXIMUM"])
        # The floor is what the warm-up schedule keeps warm anyway.
        assert int(before["PREWARM_MINIMUM"]) == int(before["WARMUP_CONCURRENCY"])


def test_hooks_may_report_only_on_this_stages_deployments_and_only_the_first_may_invoke_api_versions(
    exports: dict[str, Export],
) -> None:
    for stage, exported in exports.items():
        plan = Plan(exported)
        (application,) = exported.resources("aws_codedeploy_app").values()
        group = deployment_group(exported)
        account, region = DATA_SOURCES["aws_caller_identity"]["account_id"], DATA_SOURCES["aws_region"]["id"]
        group_arn = (
            f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:{plan.value(application['name'])}/"
            f"{plan.value(group['deployment_group_name'])}"
        )
        for key in export_terraform.HOOK_FUNCTIONS:
            statements = {statement["Sid"]: statement for statement in exported.policy(f"{key}_role")["Statement"]}
            report = statements["ReportToTheLiveAliasDeployments"]
            assert sorted(report["Action"]) == [
                "codedeploy:GetDeployment",
                "codedeploy:PutLifecycleEventHookExecutionStatus",
            ]
            assert [plan.value(arn) for arn in report["Resource"]] == [group_arn], stage
            actions = {action for statement in statements.values() for action in statement["Action"]}
            assert not any(action.startswith("dynamodb:") for action in actions), "a hook never reads the table"
            assert not any("*" in action for action in actions)
        before = {s["Sid"]: s for s in exported.policy("before_allow_traffic_role")["Statement"]}
        invoke = before["InvokeTheApiFunctionsVersions"]
        assert invoke["Action"] == ["lambda:InvokeFunction"]
        # Qualified ARNs only: the version being deployed, never $LATEST through the unqualified name.
        assert invoke["Resource"] == ["${aws_lambda_function.api_handler.arn}:*"]
        assert before["ReadTheLiveAliasConcurrency"]["Action"] == ["cloudwatch:GetMetricStatistics"]
        after = {s["Sid"]: s for s in exported.policy("after_allow_traffic_role")["Statement"]}
        assert "InvokeTheApiFunctionsVersions" not in after and "ReadTheLiveAliasConcurrency" not in after


def test_dev_has_the_live_alias_and_shifts_it_all_at_once_through_the_same_hooks(exports: dict[str, Export]) -> None:
    dev, prod = exports["dev"], exports["prod"]
    assert dev.default("enable_live_alias") is True
    plan = Plan(dev)
    assert {"aws_lambda_alias.live", "aws_codedeploy_deployment_group.api"} <= plan.planned(
        "aws_lambda_alias", "aws_codedeploy_deployment_group"
    )
    assert plan.value(dev.resources("aws_lambda_function")["api_handler"]["publish"]) is True
    assert plan.value(deployment_group(dev)["deployment_config_name"]) == "CodeDeployDefault.LambdaAllAtOnce"
    assert Plan(prod).value(deployment_group(prod)["deployment_config_name"]) == (
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    )
    # API Gateway invokes the alias in dev too, so what CodeDeploy moves is what clients reach.
    assert plan.value("${local.api_function_qualifier}") == deploy.LIVE_ALIAS
    assert dev.resources("aws_iam_role_policy")["codedeploy"] == prod.resources("aws_iam_role_policy")["codedeploy"]


def test_the_commit_reaches_the_api_function_through_a_validated_variable_not_the_zip(
    exports: dict[str, Export],
) -> None:
    for exported in exports.values():
        variables = exported.resources("aws_lambda_function")["api_handler"]["environment"]["variables"]
        assert variables["SOURCE_COMMIT"] == "${var.source_commit}"
        assert exported.default("source_commit") == "unknown"
        for commit, valid in (("0123456789abcdef0123456789abcdef01234567", True), ("v1.2+dirty", True), ("", False)):
            assert Plan(exported, source_commit=commit).valid("source_commit") is valid, commit
        assert Plan(exported, source_commit="a b; rm").valid("source_commit") is False


# ---- dependencies in a layer (Chalice's automatic_layer; docs/decisions/0013-lambda-layer.md) ------------------


STAND_IN_DEPENDENCY, STAND_IN_PACKAGE = "jmespath==1.0.1", "jmespath"


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Export:
    """The prod export of a copy of the app with `"automatic_layer": true` in its .chalice/config.json."""
    project = tmp_path_factory.mktemp("layered-project")
    shutil.copy2(ROOT / "app.py", project / "app.py")
    # The app vendors nothing today (decision 0016): one small pure-Python pin stands in for a dependency.
    (project / "requirements.txt").write_text(f"{STAND_IN_DEPENDENCY}\n")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployed", "deployments"))
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["automatic_layer"] = True
    config_path.write_text(json.dumps(config, indent=2))
    out = tmp_path_factory.mktemp("terraform-layered-prod")
    export_terraform.export("prod", out, project=project)
    return Export("prod", out)


def test_layered_export_refuses_at_plan_a_runtime_the_layer_was_not_built_for(layered: Export) -> None:
    """Why the layer stays off (0013): Chalice builds it for the packaging Python's site-packages path."""
    (key,) = layered.resources("aws_lambda_layer_version")
    layer = layered.resources("aws_lambda_layer_version")[key]
    assert layer["filename"] == "${path.module}/" + export_terraform.LAYER_ZIP
    (built_for,) = layer["compatible_runtimes"]
    assert built_for == f"python{sys.version_info.major}.{sys.version_info.minor}"
    # The dependencies sit where only that runtime looks (Lambda adds /opt/python/lib/python3.X/site-packages).
    dependencies = zipfile.ZipFile(layered.directory / export_terraform.LAYER_ZIP).namelist()
    assert f"python/lib/{built_for}/site-packages/{STAND_IN_PACKAGE}/__init__.py" in dependencies
    assert all(name.startswith(f"python/lib/{built_for}/site-packages/") for name in dependencies)
    code = zipfile.ZipFile(layered.directory / export_terraform.DEPLOYMENT_ZIP).namelist()
    assert "app.py" in code and not [name for name in code if name.startswith(STAND_IN_PACKAGE)]
    for function in layered.resources("aws_lambda_function").values():
        assert function["layers"] == [f"${{aws_lambda_layer_version.{key}.arn}}"]
    # Any other runtime is refused by the plan, naming the one that works.
    (refused,) = Plan(layered).refusals("terraform_data.dependency_layer")
    assert built_for in refused and "0013" in refused
    matching = Plan(layered, lambda_runtime=built_for)
    assert matching.refusals("terraform_data.dependency_layer") == []
    # The stage runtime must be python3.12+, so a layer packaged on a 3.11 machine can never plan.
    assert matching.valid("lambda_runtime") is (sys.version_info >= (3, 12))


def test_export_without_the_layer_is_unchanged_by_the_layer_guard(exports: dict[str, Export]) -> None:
    for exported in exports.values():
        assert exported.locals["dependency_layer_runtimes"] == []
        assert Plan(exported, lambda_runtime="python3.12").refusals("terraform_data.dependency_layer") == []
        assert not exported.resources("aws_lambda_layer_version")
        assert not (exported.directory / export_terraform.LAYER_ZIP).exists()
        assert all("layers" not in function for function in exported.resources("aws_lambda_function").values())


def test_layered_export_passes_checkov_with_no_failures(layered: Export) -> None:
    by_type = checkov_clean(layered.directory)
    passed = sum(report["summary"]["passed"] for report in by_type.values())
    assert passed >= 50, "a scan that checks nothing is not a pass"
    # checkov 3.3 has no check for aws_lambda_layer_version; the functions that list it are checked
    # (Chalice's JSON), and so is the CodeDeploy role (infra/terraform/codedeploy.tf).
    checked = checked_resources(by_type)
    assert {"api_handler", "warm_up", *export_terraform.HOOK_FUNCTIONS} <= checked["chalice.tf.json"]
    assert "codedeploy" in checked["codedeploy.tf"]
