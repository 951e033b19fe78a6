"""Exports one stage as a self-contained Terraform directory: `terraform init && terraform apply` is the next step.

Runs `chalice package --pkg-format terraform` and fixes, as data and never as text, only what Chalice's JSON gets
wrong for current Terraform and for production (each edit and its reason: docs/deploy.md, "What the export changes
in Chalice's output"). The HCL in `infra/terraform/` and the stage's variable values
(`infra/terraform/stages/<stage>.json`, as `terraform.tfvars.json`) are copied beside it unchanged.

    python scripts/operations/export_terraform.py --stage prod [--out build/terraform-prod] [--backend-file backend.tf]
    python scripts/operations/export_terraform.py --bootstrap [--out build/terraform-bootstrap] [--backend-file F]

`--bootstrap` exports `infra/bootstrap/` instead: the account-wide resources no stage may own
(docs/deploy.md, "Once per account: bootstrap"). Apply it once per account and region, before the first stage.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chalicelib.contract import ROUTES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra" / "terraform"
BOOTSTRAP = ROOT / "infra" / "bootstrap"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

CHALICE_FILE = "chalice.tf.json"
# Generated beside it: the stage's names, switches and routes, as locals the HCL reads.
STAGE_FILE = "stage.tf.json"
# infra/terraform/stages/<stage>.json, copied in unchanged: Terraform loads it as the variables' values.
TFVARS_FILE = "terraform.tfvars.json"
DEPLOYMENT_ZIP = "deployment.zip"
# Chalice's dependency layer, with `automatic_layer` in .chalice/config.json (off: docs/decisions/0013-lambda-layer.md).
LAYER_ZIP = "layer-deployment.zip"
# Files from infra/ that Terraform loads (or templatefile() reads); stages/ is not copied whole.
INFRA_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# What an export writes; only these are removed from an existing output directory,
# so local state, .terraform/ and the user's *.tfvars survive a re-export.
GENERATED_SUFFIXES = (*INFRA_SUFFIXES, ".zip", TFVARS_FILE)

API_FUNCTION = "api_handler"
# app.py's scheduled function that pings the API function; infra/terraform/ watches it under this name too.
WARMER_FUNCTION = "warm_up"
# app.py's CodeDeploy lifecycle hooks (chalicelib/deploy_hooks.py): they invoke any published version of the API
# function, where the warmer may invoke only the alias; codedeploy.tf lets CodeDeploy invoke them.
BEFORE_ALLOW_TRAFFIC_FUNCTION = "before_allow_traffic"
AFTER_ALLOW_TRAFFIC_FUNCTION = "after_allow_traffic"
HOOK_FUNCTIONS = (BEFORE_ALLOW_TRAFFIC_FUNCTION, AFTER_ALLOW_TRAFFIC_FUNCTION)
API_INVOKE_ARN = "${aws_lambda_function.api_handler.invoke_arn}"
TABLE_ARN = "${aws_dynamodb_table.scores.arn}"
# Chalice's REST API exists only when var.api_type is "REST"; infra/terraform/ gates its own REST resources alike.
REST_ONLY = '${var.api_type == "REST" ? 1 : 0}'
REST_API = "${aws_api_gateway_rest_api.rest_api[0]"

# The query parameters each route reads, from the same allow-lists the app validates against (Chalice knows
# none). Declared in the API body so a stage cache, when enabled, keys on them instead of serving one page for all.
ROUTE_QUERY_PARAMETERS: dict[str, list[str]] = {path: sorted(route.query_parameters) for path, route in ROUTES.items()}


class ExportError(RuntimeError):
    """Chalice's output does not have the shape this exporter was written for."""


def run_chalice_package(stage: str, destination: Path, project: Path = ROOT) -> None:
    """Runs `chalice package --pkg-format terraform` for `stage` of the app in `project` into `destination`."""
    chalice = Path(sys.executable).with_name("chalice")
    environment = dict(os.environ)
    # Chalice refuses to package without a region even though its Terraform output
    # reads the region at apply time (data.aws_region); any value produces the same files.
    if not environment.get("AWS_DEFAULT_REGION") and not environment.get("AWS_REGION"):
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
    result = subprocess.run(
        [str(chalice), "package", "--pkg-format", "terraform", "--stage", stage, str(destination)],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ExportError(f"chalice package failed for stage {stage!r}:\n{result.stdout}{result.stderr}")


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    resources: dict[str, Any] | None = template.get("resource", {}).get(kind)
    if not resources:
        raise ExportError(f"Chalice's output has no {kind} resources")
    return resources


def _reference_key(reference: str, kind: str) -> str:
    """`${aws_iam_role.api_handler_role.arn}` -> `api_handler_role`."""
    prefix = "${" + kind + "."
    if not reference.startswith(prefix):
        raise ExportError(f"expected a reference to {kind}, got {reference!r}")
    return reference[len(prefix) :].split(".")[0]


def _environment(function: dict[str, Any]) -> dict[str, str]:
    variables: dict[str, str] = function.get("environment", {}).get("variables", {})
    return variables


def stage_file(stage: str) -> Path:
    """The stage's Terraform variable values, infra/terraform/stages/<stage>.json."""
    path = INFRA / "stages" / f"{stage}.json"
    if not path.exists():
        raise ExportError(f"no Terraform settings for stage {stage!r}: create {path.relative_to(ROOT)}")
    return path


def stage_facts(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """Names and switches the stage's resources are built from, as Chalice packaged them (stage.tf.json's locals)."""
    functions = _resources(template, "aws_lambda_function")
    if missing := {API_FUNCTION, WARMER_FUNCTION, *HOOK_FUNCTIONS} - set(functions):
        raise ExportError(f"Chalice's output lacks aws_lambda_function.{', .'.join(sorted(missing))}")
    api = functions[API_FUNCTION]
    variables = _environment(api)
    for name in ("TABLE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
        if not variables.get(name):
            raise ExportError(f"the API function's environment has no {name}")
    warmup_concurrency = _environment(functions[WARMER_FUNCTION]).get("WARMUP_CONCURRENCY", "0")
    if not re.fullmatch(r"[0-9]+", warmup_concurrency):
        raise ExportError(
            f"{WARMER_FUNCTION}: WARMUP_CONCURRENCY must be a whole number >= 0, got {warmup_concurrency!r}"
        )
    config = json.loads(CHALICE_CONFIG.read_text())
    stage_config = config["stages"][stage]
    snap_start = json.loads(stage_file(stage).read_text()).get("snap_start_enabled", False)
    if not isinstance(snap_start, bool):
        raise ExportError(f"stages/{stage}.json: snap_start_enabled must be true or false, got {snap_start!r}")
    layers = template["resource"].get("aws_lambda_layer_version", {}).values()
    paths = json.loads(template["locals"]["chalice_api_swagger"])["paths"]
    return {
        "stage": stage,
        "app_name": config["app_name"],
        "name_prefix": api["function_name"],
        "api_gateway_stage_name": stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api")),
        "table_name": variables["TABLE_NAME"],
        "metrics_namespace": variables["POWERTOOLS_METRICS_NAMESPACE"],
        "service_name": variables["POWERTOOLS_SERVICE_NAME"],
        # Fixed in the package's environment, so the "warm-up stopped" alarm is decided here too.
        "warmup_concurrency": int(warmup_concurrency),
        # One source of truth for tracing: the stage's Chalice `xray` setting, which the functions carry.
        "xray_tracing_enabled": api.get("tracing_config", {}).get("mode") == "Active",
        # Written into Chalice's function below; lambda.tf refuses a var.snap_start_enabled that disagrees.
        "snap_start_enabled": snap_start,
        # Chalice builds a dependency layer for the packaging machine's Python only; lambda.tf refuses any other.
        "dependency_layer_runtimes": sorted({runtime for layer in layers for runtime in layer["compatible_runtimes"]}),
        # One HTTP API route per path and method Chalice serves (http_api.tf): Chalice routes on
        # requestContext.resourcePath, which a `$default` or `{proxy+}` route would fill with the same path.
        "api_route_keys": sorted(
            f"{method.upper()} {path}" for path, operations in paths.items() for method in operations
        ),
        # Every query parameter a route reads: CloudFront's cache key (cloudfront.tf).
        "api_query_parameters": sorted({name for names in ROUTE_QUERY_PARAMETERS.values() for name in names}),
    }


def remove_obsolete_blocks(template: dict[str, Any]) -> None:
    """Drops the `terraform {}` pins (<1.4, aws<5), `null_data_source`, and the outputs that read the deployment's
    `invoke_url`, which provider 6 removes; versions.tf replaces the pins and outputs.tf the outputs."""
    template.pop("terraform", None)
    template.pop("output", None)
    template.get("data", {}).pop("null_data_source", None)


def rewrite_functions(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """The stage's runtime, its log group and role policy in place first, and the API function's cold-start controls."""
    functions = _resources(template, "aws_lambda_function")
    policy_by_role = {
        _reference_key(policy["role"], "aws_iam_role"): key
        for key, policy in _resources(template, "aws_iam_role_policy").items()
    }
    for key, function in functions.items():
        # Chalice writes the packaging machine's Python; the stage's runtime is a variable instead.
        function["runtime"] = "${var.lambda_runtime}"
        # The log group first, or Lambda creates one that never expires. The inline policy first, because with
        # tracing Active CreateFunction fails until the role may call xray:PutTraceSegments (the provider hides
        # that race by retrying for minutes).
        role_policy = policy_by_role.get(_reference_key(function["role"], "aws_iam_role"))
        if role_policy is None:
            raise ExportError(f"aws_lambda_function.{key}: its role has no aws_iam_role_policy")
        function["depends_on"] = sorted(
            {*function.get("depends_on", []), f"aws_cloudwatch_log_group.{key}", f"aws_iam_role_policy.{role_policy}"}
        )
    # The warmer must ping what API Gateway invokes, or it warms containers nobody uses.
    _environment(functions[WARMER_FUNCTION])["API_FUNCTION_QUALIFIER"] = "${local.api_function_qualifier}"
    # The AfterAllowTraffic hook checks what clients reach: the active front door's URL (outputs.tf EndpointURL).
    _environment(functions[AFTER_ALLOW_TRAFFIC_FUNCTION])["PUBLIC_BASE_URL"] = "${local.api_endpoint_url}"
    api = functions[API_FUNCTION]
    # The commit goes in the environment, set at apply time, so the zip stays byte-identical for the same code
    # (chalicelib/version.py sends it in X-Api-Version).
    _environment(api)["SOURCE_COMMIT"] = "${var.source_commit}"
    api["publish"] = "${var.enable_live_alias}"
    # Only when on: the provider drops the block when Lambda reports apply_on "None", so writing it off would plan a
    # change on every run. Written here, not as a `dynamic` block, because that makes checkov skip the function.
    if facts["snap_start_enabled"]:
        api["snap_start"] = {"apply_on": "PublishedVersions"}


def rewrite_policies(template: dict[str, Any]) -> None:
    """Role policies reference the Terraform-managed table, log groups and alias instead of wildcard ARNs."""
    functions = _resources(template, "aws_lambda_function")
    function_by_role = {_reference_key(function["role"], "aws_iam_role"): key for key, function in functions.items()}
    api_function_name = functions[API_FUNCTION]["function_name"]
    api_function_arn = f"arn:aws:lambda:*:*:function:{api_function_name}"
    api_arns = {
        f"arn:aws:lambda:*:*:function:{api_function_name}": "${aws_lambda_function.api_handler.arn}",
        f"arn:aws:lambda:*:*:function:{api_function_name}:*": "${aws_lambda_function.api_handler.arn}:"
        "${local.live_alias_name}",
    }
    # The hooks report on this stage's live-alias deployments only. Named, not referenced: the deployment group
    # depends on CodeDeploy's policy, which references the hook functions, which wait for their own policies.
    deployment_group_arns = {
        f"arn:aws:codedeploy:*:*:deploymentgroup:{api_function_name}/{api_function_name}-live": (
            "arn:${data.aws_partition.chalice.partition}:codedeploy:${data.aws_region.chalice.id}:"
            "${data.aws_caller_identity.chalice.account_id}:deploymentgroup:"
            "${aws_codedeploy_app.api.name}/${local.name_prefix}-${local.live_alias_name}"
        )
    }
    roles = _resources(template, "aws_iam_role")
    for key, resource in _resources(template, "aws_iam_role_policy").items():
        role_key = _reference_key(resource["role"], "aws_iam_role")
        function_key = function_by_role.get(role_key)
        if function_key is None:
            raise ExportError(f"role policy {key} belongs to no function")
        # The name `chalice deploy` gives the inline policy (the role's name, already stage-unique), so a
        # stage moved from `chalice deploy` imports it and updates it in place instead of replacing it.
        resource["name"] = roles[role_key]["name"]
        policy = json.loads(resource["policy"])
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
            elif services == {"codedeploy"}:
                statement["Resource"] = [deployment_group_arns.get(arn, arn) for arn in statement["Resource"]]
            elif services == {"lambda"} and function_key in HOOK_FUNCTIONS:
                # The BeforeAllowTraffic hook invokes the version CodeDeploy is about to shift to: any qualifier.
                statement["Resource"] = [
                    "${aws_lambda_function.api_handler.arn}:*" if arn == f"{api_function_arn}:*" else arn
                    for arn in statement["Resource"]
                ]
            elif services == {"lambda"}:
                statement["Resource"] = [api_arns.get(arn, arn) for arn in statement["Resource"]]
        resource["policy"] = json.dumps(policy)


def bound_roles(template: dict[str, Any]) -> None:
    """Every role carries the stage's permissions boundary (infra/bootstrap/stage_role_boundary.tf), none while unset:
    it caps any policy the role is given, so the deploy role that writes those policies cannot grant the account."""
    for role in _resources(template, "aws_iam_role").values():
        role["permissions_boundary"] = (
            '${var.role_permissions_boundary_arn == "" ? null : var.role_permissions_boundary_arn}'
        )


def rewrite_api(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Integration through the alias, cache keys, a stage resource instead of `stage_name`, and the REST count.

    Every operation is handled alike, so a HEAD route gets its GET twin's integration and cache keys.
    """
    swagger = json.loads(template["locals"]["chalice_api_swagger"])
    if API_INVOKE_ARN not in template["locals"]["chalice_api_swagger"]:
        raise ExportError("no API integration invokes aws_lambda_function.api_handler")
    for path, operations in swagger["paths"].items():
        query = ROUTE_QUERY_PARAMETERS.get(path, [])
        for operation in operations.values():
            declared = operation.get("parameters", [])
            path_parameters = [parameter["name"] for parameter in declared if parameter["in"] == "path"]
            integration = operation["x-amazon-apigateway-integration"]
            if integration.get("uri") == API_INVOKE_ARN:
                integration["uri"] = "${local.api_invoke_arn}"
            operation["parameters"] = [
                *declared,
                *({"name": name, "in": "query", "required": False, "type": "string"} for name in query),
            ]
            integration["cacheKeyParameters"] = [
                *(f"method.request.path.{name}" for name in path_parameters),
                *(f"method.request.querystring.{name}" for name in query),
            ]
    template["locals"]["chalice_api_swagger"] = json.dumps(swagger)

    rest_api = _resources(template, "aws_api_gateway_rest_api")["rest_api"]
    rest_api["name"] = facts["name_prefix"]
    # infra/terraform/api_keys.tf picks the body: Chalice's, or the same with API keys (var.api_keys_required).
    rest_api["body"] = "${local.api_body}"
    rest_api["lifecycle"] = {"create_before_destroy": True}

    deployment = _resources(template, "aws_api_gateway_deployment")["rest_api"]
    # Removed in AWS provider 6; aws_api_gateway_stage.api (api_gateway.tf) owns the stage now.
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    deployment["rest_api_id"] = REST_API + ".id}"
    deployment["triggers"] = {"redeployment": "${sha1(local.api_body)}"}
    deployment["lifecycle"] = {"create_before_destroy": True}
    # A deployment goes live when the stage points at it: API Gateway must already be allowed to invoke
    # what it routes to, or the first requests after an apply (or a migration) answer 500.
    deployment["depends_on"] = sorted({*deployment.get("depends_on", []), "aws_lambda_permission.rest_api_invoke"})

    permission = _resources(template, "aws_lambda_permission")["rest_api_invoke"]
    permission["source_arn"] = REST_API + ".execution_arn}/*"
    # Through the alias resource, not its name: AddPermission on an alias that does not exist yet fails.
    permission["qualifier"] = "${var.enable_live_alias ? one(aws_lambda_alias.live[*].name) : null}"
    for resource in (rest_api, deployment, permission):
        resource["count"] = REST_ONLY


def pass_cors_origins(template: dict[str, Any], stage: str) -> None:
    """The API function reads its CORS origins from var.cors_allowed_origins, so each stage sets them in one place."""
    variables = _environment(_resources(template, "aws_lambda_function")[API_FUNCTION])
    if "CORS_ALLOWED_ORIGINS" in variables:
        raise ExportError(
            f"stage {stage!r} sets CORS_ALLOWED_ORIGINS in .chalice/config.json: set cors_allowed_origins in "
            f"infra/terraform/stages/{stage}.json instead, which the export passes to the function"
        )
    variables["CORS_ALLOWED_ORIGINS"] = '${join(",", var.cors_allowed_origins)}'


def rename_schedules(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Chalice names rules `<function>-event`, so two stages in one account would overwrite each other's rule."""
    for rule in template["resource"].get("aws_cloudwatch_event_rule", {}).values():
        rule["name"] = f"{facts['name_prefix']}-{rule['name']}"


def postprocess(raw: dict[str, Any], stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chalice's template made production-ready, and the stage facts the infra files read as locals."""
    template = copy.deepcopy(raw)
    facts = stage_facts(template, stage)
    remove_obsolete_blocks(template)
    rewrite_functions(template, facts)
    rewrite_policies(template)
    bound_roles(template)
    rewrite_api(template, facts)
    pass_cors_origins(template, stage)
    rename_schedules(template, facts)
    return template, facts


def _clear_generated(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            path.unlink()


def _copy_terraform(source: Path, out: Path, backend_file: Path | None) -> None:
    """Replaces what an earlier export wrote in `out` with the HCL of `source` and the user's backend file."""
    out.mkdir(parents=True, exist_ok=True)
    _clear_generated(out)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name.endswith(INFRA_SUFFIXES):
            shutil.copy2(path, out / path.name)
    if backend_file is not None:
        shutil.copy2(backend_file, out / "backend.tf")


def export(stage: str, out: Path, backend_file: Path | None = None, project: Path = ROOT) -> Path:
    """Writes the stage's Terraform directory to `out` and returns it (`project`: a copy of the app, for tests)."""
    settings = stage_file(stage)
    if clash := {CHALICE_FILE, STAGE_FILE, TFVARS_FILE} & {path.name for path in INFRA.iterdir()}:
        raise ExportError(f"infra/terraform/ must not hold {', '.join(sorted(clash))}: the export writes them")
    with tempfile.TemporaryDirectory(prefix=f"chalice-tf-{stage}-") as work:
        package = Path(work) / "package"
        run_chalice_package(stage, package, project)
        template, facts = postprocess(json.loads((package / CHALICE_FILE).read_text()), stage)
        _copy_terraform(INFRA, out, backend_file)
        for archive in (DEPLOYMENT_ZIP, LAYER_ZIP):
            if (package / archive).exists():
                shutil.copy2(package / archive, out / archive)
    shutil.copy2(settings, out / TFVARS_FILE)
    (out / CHALICE_FILE).write_text(json.dumps(template, indent=2) + "\n")
    (out / STAGE_FILE).write_text(json.dumps({"locals": facts}, indent=2) + "\n")
    return out


def export_bootstrap(out: Path, backend_file: Path | None = None) -> Path:
    """Writes infra/bootstrap/ to `out`, so its state lands beside the stages' and takes a backend file alike."""
    _copy_terraform(BOOTSTRAP, out, backend_file)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--stage", default="prod", help="Chalice stage to export (default: prod)")
    target.add_argument("--bootstrap", action="store_true", help="export the account-wide infra/bootstrap/ instead")
    parser.add_argument("--out", type=Path, help="output directory (default: build/terraform-<stage|bootstrap>)")
    parser.add_argument("--backend-file", type=Path, help="an HCL backend block to copy in as backend.tf")
    arguments = parser.parse_args(argv)
    out = arguments.out or ROOT / "build" / f"terraform-{'bootstrap' if arguments.bootstrap else arguments.stage}"
    try:
        if arguments.bootstrap:
            export_bootstrap(out, arguments.backend_file)
        else:
            export(arguments.stage, out, arguments.backend_file)
    except ExportError as error:
        print(f"export failed: {error}", file=sys.stderr)
        return 1
    what = "Account-level Terraform" if arguments.bootstrap else f"Terraform for stage {arguments.stage!r}"
    print(f"{what} written to {out}.")
    print(f"Next: cd {out} && terraform init && terraform apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
