"""Exports one stage as a self-contained Terraform directory: `terraform init && terraform apply` is the next step.

Runs `chalice package --pkg-format terraform`, fixes what Chalice's generated JSON gets wrong for current
Terraform and for production (as data, never as text; each edit and its reason is listed in docs/deploy.md,
"What the export changes in Chalice's output"), and copies the project's own HCL from `infra/terraform/`
beside it unchanged. Options are variables, gated with count and for_each where the resources are written;
the stage's values (`infra/terraform/stages/<stage>.json`) are copied in as `terraform.tfvars.json`.

    python scripts/export_terraform.py --stage prod [--out build/terraform-prod] [--backend-file backend.tf]
    python scripts/export_terraform.py --bootstrap [--out build/terraform-bootstrap] [--backend-file backend.tf]

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
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.contract import ROUTE_METHODS, ROUTES

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra" / "terraform"
BOOTSTRAP = ROOT / "infra" / "bootstrap"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

CHALICE_FILE = "chalice.tf.json"
# Generated: the stage's names from Chalice's output, and the routes of chalicelib/contract.py.
STAGE_FILE = "stage.tf.json"
CONTRACT_FILE = "contract.tf.json"
# infra/terraform/stages/<stage>.json, copied in unchanged: Terraform loads it as the variables' values.
TFVARS_FILE = "terraform.tfvars.json"
DEPLOYMENT_ZIP = "deployment.zip"
ZIP_REFERENCE = "${path.module}/" + DEPLOYMENT_ZIP
# With `automatic_layer` in .chalice/config.json, Chalice puts the dependencies in this archive and
# an aws_lambda_layer_version that every function lists (off: docs/decisions/0013-lambda-layer.md).
LAYER_ZIP = "layer-deployment.zip"
# Files from infra/ that Terraform loads (or templatefile() reads); stages/ is not copied whole.
INFRA_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# What an export writes; only these are removed from an existing output directory,
# so local state, .terraform/ and the user's *.tfvars survive a re-export.
GENERATED_SUFFIXES = (*INFRA_SUFFIXES, ".zip", TFVARS_FILE)

API_FUNCTION = "api_handler"
TABLE_ARN = "${aws_dynamodb_table.scores.arn}"
LIVE_ALIAS = "${local.live_alias_name}"
# Chalice's REST API exists only when var.api_type is "REST"; infra/terraform/ gates its own REST resources alike.
REST_ONLY = '${var.api_type == "REST" ? 1 : 0}'
REST_API = "${aws_api_gateway_rest_api.rest_api[0]"

# The query parameters each route reads, from the same allow-lists the app validates against.
# Declared in the API body so a stage cache, when enabled, keys on them instead of serving one page for all.
ROUTE_QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    path: tuple(sorted(route.query_parameters)) for path, route in ROUTES.items() if route.query_parameters
}
# API keys (var.api_keys_required): the header API Gateway reads them from, and the operations that stay
# open, because a browser never sends a key with a CORS preflight.
API_KEY_HEADER = "x-api-key"
API_KEY_SCHEME = "api_key"
KEYLESS_METHODS = frozenset({"options", "parameters"})


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


def stage_file(stage: str) -> Path:
    """The stage's Terraform variable values, infra/terraform/stages/<stage>.json."""
    path = INFRA / "stages" / f"{stage}.json"
    if not path.exists():
        raise ExportError(f"no Terraform settings for stage {stage!r}: create {path.relative_to(ROOT)}")
    return path


def _warmup_concurrency(functions: dict[str, Any], api_function_name: str) -> int:
    """WARMUP_CONCURRENCY of the function that pings the API function (0 when there is none)."""
    for key, function in functions.items():
        variables = function.get("environment", {}).get("variables", {})
        if key != API_FUNCTION and variables.get("API_FUNCTION_NAME") == api_function_name:
            text = variables.get("WARMUP_CONCURRENCY", "0")
            if not re.fullmatch(r"[0-9]+", text):
                raise ExportError(f"{key}: WARMUP_CONCURRENCY must be a whole number >= 0, got {text!r}")
            return int(text)
    return 0


def stage_facts(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """Names the stage's resources are built from, as Chalice packaged them (stage.tf.json's locals)."""
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
    snap_start = json.loads(stage_file(stage).read_text()).get("snap_start_enabled", False)
    if not isinstance(snap_start, bool):
        raise ExportError(f"stages/{stage}.json: snap_start_enabled must be true or false, got {snap_start!r}")
    return {
        "stage": stage,
        "app_name": config["app_name"],
        "name_prefix": api["function_name"],
        "api_gateway_stage_name": stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api")),
        "table_name": variables["TABLE_NAME"],
        "metrics_namespace": variables["POWERTOOLS_METRICS_NAMESPACE"],
        "service_name": variables["POWERTOOLS_SERVICE_NAME"],
        # Fixed in the package's environment, so the "warm-up stopped" alarm is decided here too.
        "warmup_concurrency": _warmup_concurrency(functions, api["function_name"]),
        # One source of truth for tracing: the stage's Chalice `xray` setting, which the functions carry.
        "xray_tracing_enabled": api.get("tracing_config", {}).get("mode") == "Active",
        "snap_start_enabled": snap_start,
    }


def remove_obsolete_blocks(template: dict[str, Any]) -> None:
    """Drops the `terraform {}` pins (<1.4, aws<5) and `null_data_source`; versions.tf replaces the pins."""
    template.pop("terraform", None)
    template.get("data", {}).pop("null_data_source", None)


def rewrite_functions(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Explicit runtime, log groups and role policies in place first, and the API function's cold-start controls."""
    functions = _resources(template, "aws_lambda_function")
    log_groups = template["resource"].setdefault("aws_cloudwatch_log_group", {})
    policy_by_role = {
        _reference_key(policy["role"], "aws_iam_role"): key
        for key, policy in _resources(template, "aws_iam_role_policy").items()
    }
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
        # With tracing Active, CreateFunction fails until the role may call xray:PutTraceSegments; the
        # provider hides that race by retrying for minutes. Ordering after the inline policy removes it.
        role_policy = policy_by_role.get(_reference_key(function["role"], "aws_iam_role"))
        if role_policy is None:
            raise ExportError(f"aws_lambda_function.{key}: its role has no aws_iam_role_policy")
        function["depends_on"] = sorted(
            {*function.get("depends_on", []), f"aws_cloudwatch_log_group.{key}", f"aws_iam_role_policy.{role_policy}"}
        )
        variables = function.get("environment", {}).get("variables", {})
        if key != API_FUNCTION and variables.get("API_FUNCTION_NAME") == facts["name_prefix"]:
            # The warmer must ping what API Gateway invokes, or it warms containers nobody uses.
            variables["API_FUNCTION_QUALIFIER"] = "${local.api_function_qualifier}"

    api = functions[API_FUNCTION]
    api["publish"] = "${var.enable_live_alias}"
    # The block exists only when on (apply_on = "None" plans a change on every run), and is written here
    # because a `dynamic` block makes checkov skip the function. So the stage's value is fixed at export;
    # the precondition refuses another at apply. infra/terraform/lambda.tf refuses the invalid combinations.
    api.pop("snap_start", None)
    if facts["snap_start_enabled"]:
        api["snap_start"] = {"apply_on": "PublishedVersions"}
    api.setdefault("lifecycle", {})["precondition"] = [
        {
            "condition": "${var.snap_start_enabled == " + str(facts["snap_start_enabled"]).lower() + "}",
            "error_message": "snap_start_enabled is decided at export: change it in infra/terraform/stages/"
            f"{facts['stage']}.json and re-export.",
        }
    ]


def guard_layers(template: dict[str, Any]) -> None:
    """A dependency layer (Chalice's `automatic_layer`) may only run under the Python it was built with.

    Chalice installs the layer's packages into python/lib/python3.X/site-packages for the packaging
    machine's Python, which Lambda searches only under that runtime: every function that lists the
    layer gets a precondition, so the plan fails instead of the first import (docs/decisions/0013-lambda-layer.md).
    """
    layers = template.get("resource", {}).get("aws_lambda_layer_version", {})
    for key, layer in layers.items():
        if layer.get("filename") != "${path.module}/" + LAYER_ZIP:
            raise ExportError(f"aws_lambda_layer_version.{key}: expected its code in {LAYER_ZIP}")
        if len(layer.get("compatible_runtimes", [])) != 1:
            raise ExportError(f"aws_lambda_layer_version.{key}: expected the one runtime Chalice built it for")
    for function in _resources(template, "aws_lambda_function").values():
        for reference in function.get("layers", []):
            layer_key = _reference_key(reference, "aws_lambda_layer_version")
            (built_for,) = layers[layer_key]["compatible_runtimes"]
            function.setdefault("lifecycle", {}).setdefault("precondition", []).append(
                {
                    "condition": '${var.lambda_runtime == "' + built_for + '"}',
                    "error_message": (
                        f"aws_lambda_layer_version.{layer_key} holds the dependencies under "
                        f"python/lib/{built_for}/site-packages, which only the {built_for} runtime searches: "
                        "package with the runtime's Python, or leave automatic_layer off "
                        "(docs/decisions/0013-lambda-layer.md)."
                    ),
                }
            )


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
            elif services == {"lambda"}:
                statement["Resource"] = [api_arns.get(arn, arn) for arn in statement["Resource"]]
        resource["policy"] = json.dumps(policy)


def rewrite_api(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Integration through the alias, cache keys, a stage resource instead of `stage_name`, and the REST count.

    Every operation is handled alike, so a HEAD route gets its GET twin's integration and cache keys.
    """
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
    template["locals"]["chalice_api_swagger_with_api_keys"] = json.dumps(with_api_keys(swagger))

    rest_api = _resources(template, "aws_api_gateway_rest_api")["rest_api"]
    rest_api["name"] = facts["name_prefix"]
    # infra/terraform/api_keys.tf picks the body: with or without API keys (var.api_keys_required).
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

    # The active front door's URL (infra/terraform/http_api.tf): REST's stage or the HTTP API's.
    template["output"]["EndpointURL"] = {"value": "${local.api_endpoint_url}"}
    template["output"]["RestAPIId"] = {"value": "${one(aws_api_gateway_rest_api.rest_api[*].id)}"}


def with_api_keys(swagger: dict[str, Any]) -> dict[str, Any]:
    """The API body with an API key required on every operation but OPTIONS (var.api_keys_required)."""
    keyed = copy.deepcopy(swagger)
    keyed["x-amazon-apigateway-api-key-source"] = "HEADER"
    keyed.setdefault("securityDefinitions", {})[API_KEY_SCHEME] = {
        "type": "apiKey",
        "name": API_KEY_HEADER,
        "in": "header",
    }
    for operations in keyed["paths"].values():
        for method, operation in operations.items():
            if method not in KEYLESS_METHODS:
                operation["security"] = [{API_KEY_SCHEME: []}]
    return keyed


def pass_cors_origins(template: dict[str, Any], stage: str) -> None:
    """The API function reads its CORS origins from var.cors_allowed_origins, so each stage sets them in one place."""
    config = json.loads(CHALICE_CONFIG.read_text())
    environments = [config.get("environment_variables", {}), config["stages"][stage].get("environment_variables", {})]
    if any("CORS_ALLOWED_ORIGINS" in environment for environment in environments):
        raise ExportError(
            f"stage {stage!r} sets CORS_ALLOWED_ORIGINS in .chalice/config.json: set cors_allowed_origins in "
            f"infra/terraform/stages/{stage}.json instead, which the export passes to the function"
        )
    api = _resources(template, "aws_lambda_function")[API_FUNCTION]
    api.setdefault("environment", {}).setdefault("variables", {})["CORS_ALLOWED_ORIGINS"] = (
        '${join(",", var.cors_allowed_origins)}'
    )


def rename_schedules(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Chalice names rules `<function>-event`, so two stages in one account would overwrite each other's rule."""
    for key, rule in template["resource"].get("aws_cloudwatch_event_rule", {}).items():
        rule["name"] = f"{facts['name_prefix']}-{rule['name']}"
        if not rule.get("description"):
            rule["description"] = f"{facts['name_prefix']}: schedule of {key}"


def contract_locals(swagger: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API's route keys and CloudFront's cache-key parameters, from chalicelib/contract.py.

    The contract must match what Chalice serves (GET, HEAD, and OPTIONS for CORS preflights): the HTTP
    API declares each route and method on its own (infra/terraform/http_api.tf), because Chalice routes on
    requestContext.resourcePath, which a `$default` or `{proxy+}` route would fill with the same path.
    """
    served = {
        (method.upper(), path)
        for path, operations in swagger["paths"].items()
        for method in operations
        if method != "parameters"
    }
    declared = {(method, path) for path in ROUTES for method in ROUTE_METHODS}
    if served != declared:
        raise ExportError(
            "chalicelib/contract.py and app.py disagree on the routes: "
            f"only in app.py {sorted(served - declared)}, only in the contract {sorted(declared - served)}"
        )
    return {
        "contract_route_keys": sorted(f"{method} {path}" for method, path in declared),
        "contract_query_parameters": sorted({name for route in ROUTES.values() for name in route.query_parameters}),
    }


def postprocess(raw: dict[str, Any], stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chalice's template made production-ready, and the stage facts the infra files read as locals."""
    template = copy.deepcopy(raw)
    facts = stage_facts(template, stage)
    remove_obsolete_blocks(template)
    rewrite_functions(template, facts)
    guard_layers(template)
    rewrite_policies(template)
    rewrite_api(template, facts)
    pass_cors_origins(template, stage)
    rename_schedules(template, facts)
    return template, facts


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def _clear_generated(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            path.unlink()


def _copy_terraform(source: Path, out: Path) -> None:
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name.endswith(INFRA_SUFFIXES):
            shutil.copy2(path, out / path.name)


def export(stage: str, out: Path, backend_file: Path | None = None, project: Path = ROOT) -> Path:
    """Writes the stage's Terraform directory to `out` and returns it (`project`: a copy of the app, for tests)."""
    settings = stage_file(stage)
    with tempfile.TemporaryDirectory(prefix=f"chalice-tf-{stage}-") as work:
        package = Path(work) / "package"
        run_chalice_package(stage, package, project)
        template, facts = postprocess(json.loads((package / CHALICE_FILE).read_text()), stage)
        out.mkdir(parents=True, exist_ok=True)
        _clear_generated(out)
        shutil.copy2(package / DEPLOYMENT_ZIP, out / DEPLOYMENT_ZIP)
        if template.get("resource", {}).get("aws_lambda_layer_version"):
            shutil.copy2(package / LAYER_ZIP, out / LAYER_ZIP)
    generated = {CHALICE_FILE, STAGE_FILE, CONTRACT_FILE, TFVARS_FILE}
    if clash := generated & {path.name for path in INFRA.iterdir()}:
        raise ExportError(f"infra/terraform/ must not hold {', '.join(sorted(clash))}: the export writes them")
    _copy_terraform(INFRA, out)
    shutil.copy2(settings, out / TFVARS_FILE)
    _write_json(out / CHALICE_FILE, template)
    _write_json(out / STAGE_FILE, {"locals": facts})
    _write_json(out / CONTRACT_FILE, {"locals": contract_locals(json.loads(template["locals"]["chalice_api_swagger"]))})
    if backend_file is not None:
        shutil.copy2(backend_file, out / "backend.tf")
    return out


def export_bootstrap(out: Path, backend_file: Path | None = None) -> Path:
    """Writes the account-level Terraform (infra/bootstrap/) to `out` and returns it.

    Copied out rather than applied in place so its state lands next to the stage exports (build/ is
    git-ignored) and can take the same backend file.
    """
    out.mkdir(parents=True, exist_ok=True)
    _clear_generated(out)
    _copy_terraform(BOOTSTRAP, out)
    if backend_file is not None:
        shutil.copy2(backend_file, out / "backend.tf")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--stage", default="prod", help="Chalice stage to export (default: prod)")
    target.add_argument(
        "--bootstrap",
        action="store_true",
        help="export the account-level API Gateway logging role instead (once per account and region)",
    )
    parser.add_argument("--out", type=Path, help="output directory (default: build/terraform-<stage|bootstrap>)")
    parser.add_argument("--backend-file", type=Path, help="an HCL backend block to copy in as backend.tf")
    arguments = parser.parse_args(argv)
    if arguments.bootstrap:
        out = arguments.out or ROOT / "build" / "terraform-bootstrap"
        export_bootstrap(out, arguments.backend_file)
        print(f"Account-level Terraform written to {out}.")
        print(f"Next: cd {out} && terraform init && terraform apply")
        return 0
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
