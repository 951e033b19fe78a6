"""Exports one stage as a self-contained Terraform directory: `terraform init && terraform apply` is the next step.

Runs `chalice package --pkg-format terraform`, edits the generated JSON as data
(never as text), and adds the project's own Terraform from `infra/terraform/`.
Every edit exists because Chalice's raw output is wrong for current tooling or
incomplete for production; the README lists them ("Production deploy with Terraform").

    python scripts/export_terraform.py --stage prod [--out build/terraform-prod] [--backend-file backend.tf]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra" / "terraform"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

CHALICE_FILE = "chalice.tf.json"
STAGE_FILE = "stage.tf.json"
VARIABLES_FILE = "variables.tf.json"
DEPLOYMENT_ZIP = "deployment.zip"
ZIP_REFERENCE = "${path.module}/" + DEPLOYMENT_ZIP
# Files from infra/terraform/ that Terraform loads (or templatefile() reads); stages/ is read here, not copied.
INFRA_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# What an export writes; only these are removed from an existing output directory,
# so local state, .terraform/ and the user's *.tfvars survive a re-export.
GENERATED_SUFFIXES = (*INFRA_SUFFIXES, ".zip")

API_FUNCTION = "api_handler"
REST_API = "rest_api"
TABLE_ARN = "${aws_dynamodb_table.scores.arn}"
LIVE_ALIAS = "${local.live_alias_name}"

# The query parameters each route reads (chalicelib/query.py's allow-lists; a test keeps them equal).
# Declared in the API body so a stage cache, when enabled, keys on them instead of serving one page for all.
ROUTE_QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "/llms": ("limit", "next_token", "order", "provider", "sort"),
    "/health": ("deep",),
}


class ExportError(RuntimeError):
    """Chalice's output does not have the shape this exporter was written for."""


def run_chalice_package(stage: str, destination: Path) -> None:
    """Runs `chalice package --pkg-format terraform` for `stage` into `destination`."""
    chalice = Path(sys.executable).with_name("chalice")
    environment = dict(os.environ)
    # Chalice refuses to package without a region even though its Terraform output
    # reads the region at apply time (data.aws_region); any value produces the same files.
    if not environment.get("AWS_DEFAULT_REGION") and not environment.get("AWS_REGION"):
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
    result = subprocess.run(
        [str(chalice), "package", "--pkg-format", "terraform", "--stage", stage, str(destination)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ExportError(f"chalice package failed for stage {stage!r}:\n{result.stdout}{result.stderr}")


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    resources = template.get("resource", {}).get(kind)
    if not resources:
        raise ExportError(f"Chalice's output has no {kind} resources")
    return resources


def _policy(resource: dict[str, Any]) -> dict[str, Any]:
    return json.loads(resource["policy"])


def _reference_key(reference: str, kind: str) -> str:
    """`${aws_iam_role.api_handler_role.arn}` -> `api_handler_role`."""
    prefix = "${" + kind + "."
    if not reference.startswith(prefix):
        raise ExportError(f"expected a reference to {kind}, got {reference!r}")
    return reference[len(prefix) :].split(".")[0]


def stage_facts(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """Names this stage's resources are built from, read from Chalice's own output."""
    functions = _resources(template, "aws_lambda_function")
    api = functions.get(API_FUNCTION)
    if api is None:
        raise ExportError(f"Chalice's output has no aws_lambda_function.{API_FUNCTION}")
    variables = api.get("environment", {}).get("variables", {})
    for name in ("TABLE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
        if not variables.get(name):
            raise ExportError(f"the API function's environment has no {name}")
    config = json.loads(CHALICE_CONFIG.read_text())
    stage_config = config["stages"][stage]
    return {
        "stage": stage,
        "app_name": config["app_name"],
        "name_prefix": api["function_name"],
        "api_gateway_stage_name": stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api")),
        "table_name": variables["TABLE_NAME"],
        "metrics_namespace": variables["POWERTOOLS_METRICS_NAMESPACE"],
        "service_name": variables["POWERTOOLS_SERVICE_NAME"],
    }


def remove_obsolete_blocks(template: dict[str, Any]) -> None:
    """Drops the `terraform {}` pins (<1.4, aws<5) and `null_data_source`; versions.tf replaces the pins."""
    template.pop("terraform", None)
    data = template.get("data", {})
    data.pop("null_data_source", None)


def rewrite_functions(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Explicit runtime, log groups created first, and the API function's cold-start controls."""
    functions = _resources(template, "aws_lambda_function")
    log_groups = template["resource"].setdefault("aws_cloudwatch_log_group", {})
    for key, function in functions.items():
        # Chalice writes the packaging machine's Python; the stage's runtime is a variable instead.
        function["runtime"] = "${var.lambda_runtime}"
        function["filename"] = ZIP_REFERENCE
        function["source_code_hash"] = '${filebase64sha256("' + ZIP_REFERENCE + '")}'
        # Created by Terraform before the function, so Lambda never creates it without retention.
        log_groups[key] = {
            "name": f"/aws/lambda/{function['function_name']}",
            "retention_in_days": "${var.log_retention_days}",
            "kms_key_id": "${aws_kms_key.observability.arn}",
        }
        function["depends_on"] = sorted({*function.get("depends_on", []), f"aws_cloudwatch_log_group.{key}"})

    api = functions[API_FUNCTION]
    api["publish"] = "${var.enable_live_alias}"
    # A static block with "None" rather than a `dynamic` block: checkov crashes on `dynamic` in
    # .tf.json and then silently skips every check of the function.
    api["snap_start"] = {"apply_on": '${var.snap_start_enabled ? "PublishedVersions" : "None"}'}
    api.setdefault("lifecycle", {})["precondition"] = [
        {
            "condition": "${!(var.snap_start_enabled && var.provisioned_concurrency > 0)}",
            "error_message": "SnapStart and provisioned concurrency cannot be combined: choose one.",
        },
        {
            "condition": "${(!var.snap_start_enabled && var.provisioned_concurrency == 0) || var.enable_live_alias}",
            "error_message": "SnapStart and provisioned concurrency need published versions: set enable_live_alias.",
        },
        {
            "condition": '${!var.snap_start_enabled || tonumber(split(".", var.lambda_runtime)[1]) >= 12}',
            "error_message": "SnapStart for Python needs python3.12 or newer.",
        },
    ]
    for key, function in functions.items():
        if key != API_FUNCTION:
            variables = function.get("environment", {}).get("variables", {})
            if variables.get("API_FUNCTION_NAME") == facts["name_prefix"]:
                # The warmer must ping what API Gateway invokes, or it warms containers nobody uses.
                variables["API_FUNCTION_QUALIFIER"] = "${local.api_function_qualifier}"


def rewrite_policies(template: dict[str, Any]) -> None:
    """Role policies reference the Terraform-managed table, log groups and alias instead of wildcard ARNs."""
    functions = _resources(template, "aws_lambda_function")
    function_by_role = {_reference_key(function["role"], "aws_iam_role"): key for key, function in functions.items()}
    api_function_name = functions[API_FUNCTION]["function_name"]
    api_arns = {
        f"arn:aws:lambda:*:*:function:{api_function_name}": "${aws_lambda_function.api_handler.arn}",
        f"arn:aws:lambda:*:*:function:{api_function_name}:*": "${aws_lambda_function.api_handler.arn}:" + LIVE_ALIAS,
    }
    roles = _resources(template, "aws_iam_role")
    for key, resource in _resources(template, "aws_iam_role_policy").items():
        role_key = _reference_key(resource["role"], "aws_iam_role")
        function_key = function_by_role.get(role_key)
        if function_key is None:
            raise ExportError(f"role policy {key} belongs to no function")
        # Inline policy names are per role, but stage-unique names keep every name greppable.
        resource["name"] = f"{roles[role_key]['name']}-policy"
        policy = _policy(resource)
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            services = {action.split(":")[0] for action in actions}
            if "dynamodb" in services:
                if services != {"dynamodb"} or any("*" in action for action in actions):
                    raise ExportError(f"{key}: table statements must list exact dynamodb actions only")
                statement["Resource"] = [TABLE_ARN]
            elif services == {"logs"}:
                # Terraform owns the log group, so the function must not (re)create it without retention.
                statement["Action"] = [action for action in actions if action != "logs:CreateLogGroup"]
                log_group = "${aws_cloudwatch_log_group." + function_key + ".arn}"
                statement["Resource"] = [log_group, log_group + ":*"]
            elif services == {"lambda"}:
                statement["Resource"] = [api_arns.get(arn, arn) for arn in statement["Resource"]]
        resource["policy"] = json.dumps(policy)


def rewrite_api(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Integration through the alias, a stage resource instead of `stage_name`, stage-unique API name."""
    swagger = json.loads(template["locals"]["chalice_api_swagger"])
    api_invoke_arn = "${aws_lambda_function.api_handler.invoke_arn}"
    rewired = 0
    for path, operations in swagger["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            declared = [*operations.get("parameters", []), *operation.get("parameters", [])]
            path_parameters = [parameter["name"] for parameter in declared if parameter.get("in") == "path"]
            integration = operation["x-amazon-apigateway-integration"]
            if integration.get("uri") == api_invoke_arn:
                integration["uri"] = "${local.api_invoke_arn}"
                rewired += 1
            query = ROUTE_QUERY_PARAMETERS.get(path, ())
            operation["parameters"] = [
                *operation.get("parameters", []),
                *({"name": name, "in": "query", "required": False, "type": "string"} for name in query),
            ]
            integration["cacheKeyParameters"] = [
                *(f"method.request.path.{name}" for name in path_parameters),
                *(f"method.request.querystring.{name}" for name in query),
            ]
    if rewired == 0:
        raise ExportError("no API integration invokes aws_lambda_function.api_handler")
    template["locals"]["chalice_api_swagger"] = json.dumps(swagger)

    rest_api = _resources(template, "aws_api_gateway_rest_api")[REST_API]
    rest_api["name"] = facts["name_prefix"]
    rest_api["lifecycle"] = {"create_before_destroy": True}

    deployment = _resources(template, "aws_api_gateway_deployment")[REST_API]
    # Removed in AWS provider 6; aws_api_gateway_stage.api (api_gateway.tf.json) owns the stage now.
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    deployment["triggers"] = {"redeployment": "${sha1(local.chalice_api_swagger)}"}
    deployment["lifecycle"] = {"create_before_destroy": True}

    permission = _resources(template, "aws_lambda_permission")["rest_api_invoke"]
    permission["qualifier"] = "${var.enable_live_alias ? local.live_alias_name : null}"

    template["output"]["EndpointURL"] = {"value": "${aws_api_gateway_stage.api.invoke_url}"}


def rename_schedules(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Chalice names rules `<function>-event`, so two stages in one account would overwrite each other's rule."""
    for key, rule in template["resource"].get("aws_cloudwatch_event_rule", {}).items():
        rule["name"] = f"{facts['name_prefix']}-{rule['name']}"
        if not rule.get("description"):
            rule["description"] = f"{facts['name_prefix']}: schedule of {key}"


def postprocess(raw: dict[str, Any], stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chalice's template made production-ready, and the stage facts the infra files read as locals."""
    template = copy.deepcopy(raw)
    facts = stage_facts(template, stage)
    remove_obsolete_blocks(template)
    rewrite_functions(template, facts)
    rewrite_policies(template)
    rewrite_api(template, facts)
    rename_schedules(template, facts)
    return template, facts


def stage_variables(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """variables.tf.json with this stage's defaults from infra/terraform/stages/<stage>.json."""
    variables = json.loads((INFRA / VARIABLES_FILE).read_text())
    stage_file = INFRA / "stages" / f"{stage}.json"
    if not stage_file.exists():
        raise ExportError(f"no Terraform settings for stage {stage!r}: create {stage_file.relative_to(ROOT)}")
    settings = json.loads(stage_file.read_text())
    functions = _resources(template, "aws_lambda_function")
    # One source of truth for tracing: the stage's Chalice `xray` setting.
    settings.setdefault(
        "xray_tracing_enabled", functions[API_FUNCTION].get("tracing_config", {}).get("mode") == "Active"
    )
    declared = variables["variable"]
    unknown = sorted(set(settings) - set(declared))
    if unknown:
        raise ExportError(f"{stage_file.name} sets undeclared variables: {', '.join(unknown)}")
    for name, value in settings.items():
        declared[name]["default"] = value
    return variables


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def _clear_generated(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            path.unlink()


def export(stage: str, out: Path, backend_file: Path | None = None) -> Path:
    """Writes the stage's Terraform directory to `out` and returns it."""
    with tempfile.TemporaryDirectory(prefix=f"chalice-tf-{stage}-") as work:
        package = Path(work) / "package"
        run_chalice_package(stage, package)
        raw = json.loads((package / CHALICE_FILE).read_text())
        template, facts = postprocess(raw, stage)
        variables = stage_variables(template, stage)
        out.mkdir(parents=True, exist_ok=True)
        _clear_generated(out)
        shutil.copy2(package / DEPLOYMENT_ZIP, out / DEPLOYMENT_ZIP)
    _write_json(out / CHALICE_FILE, template)
    _write_json(out / STAGE_FILE, {"locals": facts})
    for source in sorted(INFRA.iterdir()):
        if source.is_file() and source.name.endswith(INFRA_SUFFIXES) and source.name != VARIABLES_FILE:
            shutil.copy2(source, out / source.name)
    _write_json(out / VARIABLES_FILE, variables)
    if backend_file is not None:
        shutil.copy2(backend_file, out / "backend.tf")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", help="Chalice stage to export (default: prod)")
    parser.add_argument("--out", type=Path, help="output directory (default: build/terraform-<stage>)")
    parser.add_argument("--backend-file", type=Path, help="an HCL backend block to copy in as backend.tf")
    arguments = parser.parse_args(argv)
    out = arguments.out or ROOT / "build" / f"terraform-{arguments.stage}"
    try:
        export(arguments.stage, out, arguments.backend_file)
    except ExportError as error:
        print(f"export failed: {error}", file=sys.stderr)
        return 1
    print(f"Terraform for stage {arguments.stage!r} written to {out}.")
    print(f"Next: cd {out} && terraform init && terraform apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
