"""Exports one stage as a self-contained Terraform directory: `terraform init && terraform apply` is the next step.

Runs `chalice package --pkg-format terraform`, edits the generated JSON as data
(never as text), and adds the project's own Terraform from `infra/terraform/`.
Every edit exists because Chalice's raw output is wrong for current tooling or
incomplete for production; the README lists them ("Production deploy with Terraform").
The front door is chosen at apply time (`api_type`): the export gates the REST API and what hangs
off it with a count, rewriting references to it inside Terraform expressions to match, and declares
the HTTP API's routes from chalicelib/contract.py (docs/decisions/0005-rest-api-not-http-api.md).

    python scripts/export_terraform.py --stage prod [--out build/terraform-prod] [--backend-file backend.tf]
    python scripts/export_terraform.py --bootstrap [--out build/terraform-bootstrap] [--backend-file backend.tf]

`--bootstrap` exports `infra/bootstrap/` instead: the account- and region-wide API Gateway
CloudWatch Logs role, which no stage may own (destroying that stage would stop every other
stage's logs). Apply it once per account and region, before the first stage.
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
STAGE_FILE = "stage.tf.json"
# Generated from chalicelib/contract.py: the HTTP API's routes and CloudFront's cache-key parameters.
CONTRACT_FILE = "contract.tf.json"
VARIABLES_FILE = "variables.tf.json"
DEPLOYMENT_ZIP = "deployment.zip"
ZIP_REFERENCE = "${path.module}/" + DEPLOYMENT_ZIP
# With `automatic_layer` in .chalice/config.json, Chalice puts the dependencies in this archive and
# an aws_lambda_layer_version that every function lists (off: docs/decisions/0013-lambda-layer.md).
LAYER_ZIP = "layer-deployment.zip"
# Files from infra/terraform/ that Terraform loads (or templatefile() reads); stages/ is read here, not copied.
INFRA_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# What an export writes; only these are removed from an existing output directory,
# so local state, .terraform/ and the user's *.tfvars survive a re-export.
GENERATED_SUFFIXES = (*INFRA_SUFFIXES, ".zip")

API_FUNCTION = "api_handler"
REST_API = "rest_api"
TABLE_ARN = "${aws_dynamodb_table.scores.arn}"
LIVE_ALIAS = "${local.live_alias_name}"

# Stage settings (infra/terraform/stages/<stage>.json) that shape the exported structure itself, so
# they become locals rather than variable defaults: flipping one with -var would leave the structure
# that was decided at export time in place and silently disagree with it. Change them by re-exporting.
EXPORT_TIME_SETTINGS: dict[str, bool] = {
    # The provider drops a `snap_start` block when Lambda reports ApplyOn=None and never suppresses
    # the diff, so `apply_on = "None"` plans a change on every run; the block is written only when on.
    "snap_start_enabled": False,
    # WAF rule actions are blocks (`override_action { none {} }` or `{ count {} }`, `action { block {} }` or
    # `{ count {} }`), which only a `dynamic` block could switch at apply time: set_waf_mode() writes them.
    "waf_block_mode": True,
    # Whether API Gateway requires an API key is in the API body (each method's `security`): require_api_keys().
    "api_keys_required": False,
}

# The query parameters each route reads, from the same allow-lists the app validates against.
# Declared in the API body so a stage cache, when enabled, keys on them instead of serving one page for all.
ROUTE_QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    path: tuple(sorted(route.query_parameters)) for path, route in ROUTES.items() if route.query_parameters
}


# Which front door serves the `live` alias is one apply-time variable (docs/decisions/0005-rest-api-not-http-api.md).
# Chalice's REST API, its stage and everything attached to them exist only when it is "REST";
# infra/terraform/http_api.tf.json and the routes below only when it is "HTTP".
REST_ONLY = '${var.api_type == "REST" ? 1 : 0}'
HTTP_ONLY = '${var.api_type == "HTTP" ? 1 : 0}'
# The REST API's own resources: Chalice's, and the stage infra/terraform/api_gateway.tf.json adds.
REST_API_RESOURCES = frozenset(
    {
        ("aws_api_gateway_rest_api", REST_API),
        ("aws_api_gateway_deployment", REST_API),
        ("aws_lambda_permission", "rest_api_invoke"),
        ("aws_api_gateway_stage", "api"),
    }
)
# Kinds that belong to the REST API when they reference one of its resources (method settings, usage
# plans, base path mappings, the regional WAF association, a permission): they are gated with it. Any
# other kind that references it (an alarm, a dashboard, an output) reads it through one(...[*]) instead.
REST_FOLLOWER_PREFIXES = ("aws_api_gateway_", "aws_wafv2_web_acl_association", "aws_lambda_permission")
_RESOURCE_REFERENCE = re.compile(r"(?<![\w.])(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([A-Za-z_][A-Za-z0-9_]*)")
# Any reference to a resource, indexed (`[0]`, `[*]`) or not.
_RESOURCE_NAME = re.compile(r"(?<![\w.])(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?=[.\[])")


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


def _json_object(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)
    return document


def _policy(resource: dict[str, Any]) -> dict[str, Any]:
    return _json_object(resource["policy"])


def _reference_key(reference: str, kind: str) -> str:
    """`${aws_iam_role.api_handler_role.arn}` -> `api_handler_role`."""
    prefix = "${" + kind + "."
    if not reference.startswith(prefix):
        raise ExportError(f"expected a reference to {kind}, got {reference!r}")
    return reference[len(prefix) :].split(".")[0]


def load_stage_settings(stage: str) -> dict[str, Any]:
    """The stage's Terraform settings from infra/terraform/stages/<stage>.json."""
    stage_file = INFRA / "stages" / f"{stage}.json"
    if not stage_file.exists():
        raise ExportError(f"no Terraform settings for stage {stage!r}: create {stage_file.relative_to(ROOT)}")
    return _json_object(stage_file.read_text())


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


def stage_facts(template: dict[str, Any], stage: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Names and export-time switches this stage's resources are built from (Chalice's output, stage settings)."""
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
    facts: dict[str, Any] = {
        "stage": stage,
        "app_name": config["app_name"],
        "name_prefix": api["function_name"],
        "api_gateway_stage_name": stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api")),
        "table_name": variables["TABLE_NAME"],
        "metrics_namespace": variables["POWERTOOLS_METRICS_NAMESPACE"],
        "service_name": variables["POWERTOOLS_SERVICE_NAME"],
        # Fixed in the package's environment, so the "warm-up stopped" alarm is decided here too.
        "warmup_concurrency": _warmup_concurrency(functions, api["function_name"]),
    }
    for name, default in EXPORT_TIME_SETTINGS.items():
        value = settings.get(name, default)
        if not isinstance(value, type(default)):
            raise ExportError(f"stage setting {name} must be {type(default).__name__}, got {value!r}")
        facts[name] = value
    return facts


def remove_obsolete_blocks(template: dict[str, Any]) -> None:
    """Drops the `terraform {}` pins (<1.4, aws<5) and `null_data_source`; versions.tf replaces the pins."""
    template.pop("terraform", None)
    data = template.get("data", {})
    data.pop("null_data_source", None)


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

    api = functions[API_FUNCTION]
    api["publish"] = "${var.enable_live_alias}"
    # Decided here, not with a `dynamic` block or a conditional apply_on: `dynamic` crashes checkov's
    # .tf.json parser (it then skips every check of the function) and apply_on = "None" never converges.
    if facts["snap_start_enabled"]:
        api["snap_start"] = {"apply_on": "PublishedVersions"}
    else:
        api.pop("snap_start", None)
    # local.snap_start_enabled is the exported decision; the preconditions hold the apply-time
    # variables (alias, provisioned concurrency, runtime) to it.
    api.setdefault("lifecycle", {})["precondition"] = [
        {
            "condition": "${!(local.snap_start_enabled && var.provisioned_concurrency > 0)}",
            "error_message": "SnapStart and provisioned concurrency cannot be combined: choose one.",
        },
        {
            "condition": "${(!local.snap_start_enabled && var.provisioned_concurrency == 0) || var.enable_live_alias}",
            "error_message": "SnapStart and provisioned concurrency need published versions: set enable_live_alias.",
        },
        {
            "condition": '${!local.snap_start_enabled || tonumber(split(".", var.lambda_runtime)[1]) >= 12}',
            "error_message": "SnapStart for Python needs python3.12 or newer.",
        },
    ]
    for key, function in functions.items():
        if key != API_FUNCTION:
            variables = function.get("environment", {}).get("variables", {})
            if variables.get("API_FUNCTION_NAME") == facts["name_prefix"]:
                # The warmer must ping what API Gateway invokes, or it warms containers nobody uses.
                variables["API_FUNCTION_QUALIFIER"] = "${local.api_function_qualifier}"


def guard_layers(template: dict[str, Any]) -> None:
    """A dependency layer (Chalice's `automatic_layer`) may only run under the Python it was built with.

    Chalice installs the layer's packages into python/lib/python3.X/site-packages for the packaging
    machine's Python and writes that runtime into `compatible_runtimes`. Lambda searches only its own
    python3.X there, so under any other runtime the functions would fail their first import. Every
    function that lists the layer gets a precondition: the plan fails instead of the deployment.
    Left off by default: docs/decisions/0013-lambda-layer.md.
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
    """Integration through the alias, a stage resource instead of `stage_name`, stage-unique API name.

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
    mirror_method_settings_for_head(template, swagger)

    rest_api = _resources(template, "aws_api_gateway_rest_api")[REST_API]
    rest_api["name"] = facts["name_prefix"]
    rest_api["lifecycle"] = {"create_before_destroy": True}

    deployment = _resources(template, "aws_api_gateway_deployment")[REST_API]
    # Removed in AWS provider 6; aws_api_gateway_stage.api (api_gateway.tf.json) owns the stage now.
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    deployment["triggers"] = {"redeployment": "${sha1(local.chalice_api_swagger)}"}
    deployment["lifecycle"] = {"create_before_destroy": True}
    # A deployment goes live when the stage points at it: API Gateway must already be allowed to invoke
    # what it routes to, or the first requests after an apply (or a migration) answer 500.
    deployment["depends_on"] = sorted({*deployment.get("depends_on", []), "aws_lambda_permission.rest_api_invoke"})

    permission = _resources(template, "aws_lambda_permission")["rest_api_invoke"]
    # Through the alias resource, not its name: AddPermission on an alias that does not exist yet fails.
    permission["qualifier"] = "${var.enable_live_alias ? one(aws_lambda_alias.live[*].name) : null}"

    # The active front door's URL (infra/terraform/http_api.tf.json): REST's stage or the HTTP API's.
    template["output"]["EndpointURL"] = {"value": "${local.api_endpoint_url}"}


def mirror_method_settings_for_head(template: dict[str, Any], swagger: dict[str, Any]) -> None:
    """Gives each HEAD route the per-method settings its GET twin has in infra/terraform/.

    API Gateway applies `*/*` to a HEAD method without an override of its own, so without this an
    enabled stage cache would cache HEAD /health while GET /health stays uncached. The settings are
    written only for methods the API has: a method path that does not exist fails the stage update.
    """
    infra = json.loads((INFRA / "api_gateway.tf.json").read_text())
    method_settings = infra.get("resource", {}).get("aws_api_gateway_method_settings", {})
    mirrored: dict[str, Any] = {}
    for key, settings in method_settings.items():
        resource_path, _, method = settings["method_path"].rpartition("/")
        operations = swagger["paths"].get("/" + resource_path, {})
        if method == "GET" and "head" in operations:
            head = copy.deepcopy(settings)
            head["method_path"] = f"{resource_path}/HEAD"
            mirrored[f"{key}_head"] = head
    if mirrored:
        template["resource"].setdefault("aws_api_gateway_method_settings", {}).update(mirrored)


def _interpolations(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of each top-level `${...}` in a Terraform string, braces balanced."""
    spans = []
    index = text.find("${")
    while index != -1:
        depth, position = 0, index + 1
        while position < len(text):
            if text[position] == "{":
                depth += 1
            elif text[position] == "}":
                depth -= 1
                if depth == 0:
                    break
            position += 1
        spans.append((index, position + 1))
        index = text.find("${", position + 1)
    return spans


def _referenced_resources(value: Any) -> set[tuple[str, str]]:
    """Every `kind.name` a value's interpolations reference (depends_on lists included)."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "depends_on":
                found |= {(entry.split(".")[0], entry.split(".")[1]) for entry in item if "." in entry}
            else:
                found |= _referenced_resources(item)
    elif isinstance(value, list):
        for item in value:
            found |= _referenced_resources(item)
    elif isinstance(value, str):
        for start, end in _interpolations(value):
            found |= set(_RESOURCE_NAME.findall(value[start:end]))
    return found


def _rewrite_references(value: Any, gated: set[tuple[str, str]], inside_gated: bool) -> Any:
    """`kind.name.attr` of a gated resource -> `kind.name[0].attr` (from a resource gated alike) or
    `one(kind.name[*].attr)` (from anything else, which then reads null under the other API type)."""

    def replace(match: re.Match[str]) -> str:
        kind, name, attribute = match.groups()
        if (kind, name) not in gated:
            return match.group(0)
        if inside_gated:
            return f"{kind}.{name}[0].{attribute}"
        return f"one({kind}.{name}[*].{attribute})"

    if isinstance(value, dict):
        return {key: _rewrite_references(item, gated, inside_gated) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite_references(item, gated, inside_gated) for item in value]
    if isinstance(value, str) and "${" in value:
        pieces, last = [], 0
        for start, end in _interpolations(value):
            pieces += [value[last:start], _RESOURCE_REFERENCE.sub(replace, value[start:end])]
            last = end
        return "".join([*pieces, value[last:]])
    return value


def _gate_count(body: dict[str, Any], kind: str, key: str) -> None:
    if "for_each" in body:
        raise ExportError(f"{kind}.{key}: follows the REST API but uses for_each; give it a count instead")
    count = body.get("count")
    if count is None:
        body["count"] = REST_ONLY
    elif isinstance(count, int) or (isinstance(count, str) and re.fullmatch(r"\$\{.*\}", count, flags=re.DOTALL)):
        inner = count if isinstance(count, int) else count[2:-1]
        body["count"] = '${var.api_type == "REST" ? ' + f"({inner})" + " : 0}"
    else:
        raise ExportError(f"{kind}.{key}: count {count!r} is neither a number nor one expression")


def _rest_gated(documents: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """The REST API's own resources and, transitively, the follower kinds that reference them."""
    bodies = {
        (kind, key): body
        for document in documents.values()
        for kind, resources in document.get("resource", {}).items()
        for key, body in resources.items()
    }
    missing = sorted(f"{kind}.{key}" for kind, key in REST_API_RESOURCES - set(bodies))
    if missing:
        raise ExportError(f"the REST API is missing {', '.join(missing)}")
    gated = set(REST_API_RESOURCES)
    followers = {(kind, key) for kind, key in bodies if kind.startswith(REST_FOLLOWER_PREFIXES)}
    grown = True
    while grown:
        joining = {resource for resource in followers - gated if _referenced_resources(bodies[resource]) & gated}
        gated |= joining
        grown = bool(joining)
    return gated


def gate_rest_api(documents: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """Makes the REST API and everything that hangs off it exist only when var.api_type is "REST".

    `documents` are the export's .tf.json files by name, edited in place. Returns the gated resources.
    """
    gated = _rest_gated(documents)
    for document in documents.values():
        for kind, resources in document.get("resource", {}).items():
            for key in resources:
                inside = (kind, key) in gated
                resources[key] = _rewrite_references(resources[key], gated, inside)
                if inside:
                    _gate_count(resources[key], kind, key)
        for section in ("locals", "output"):
            if section in document:
                document[section] = _rewrite_references(document[section], gated, inside_gated=False)
    return gated


def _route_key_name(method: str, path: str) -> str:
    """`GET /llms/{model_name}` -> `get_llms_model_name`: the route resource's key."""
    return "_".join([method.lower(), *re.findall(r"[a-z0-9]+", path.lower())])


def contract_front_door(swagger: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API routes and CloudFront cache-key parameters, from chalicelib/contract.py.

    Every route and method is declared on its own: Chalice routes on requestContext.resourcePath,
    which payload format 1.0 fills with the matched route's path, so a `$default` or `{proxy+}` route
    would hand every request the same resource path. The contract must match what Chalice serves:
    GET and HEAD, and OPTIONS so a CORS preflight reaches the function (chalicelib/cors.py).
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
    routes = {
        _route_key_name(method, path): {
            "count": HTTP_ONLY,
            "api_id": "${aws_apigatewayv2_api.http[0].id}",
            "route_key": f"{method} {path}",
            "target": "integrations/${aws_apigatewayv2_integration.live[0].id}",
            "authorization_type": "NONE",
            # With auto_deploy, a route is live as soon as it exists: API Gateway must already be allowed to invoke.
            "depends_on": ["aws_lambda_permission.http_api_invoke"],
        }
        for path in ROUTES
        for method in ROUTE_METHODS
    }
    parameters = sorted({name for route in ROUTES.values() for name in route.query_parameters})
    return {
        "//": "Generated by scripts/export_terraform.py from chalicelib/contract.py; edit the contract, not this file.",
        "locals": {"contract_query_parameters": parameters},
        "resource": {"aws_apigatewayv2_route": routes},
    }


# The header API Gateway reads API keys from (the swagger security scheme's name), and the OPTIONS
# operations that must stay open: a browser never sends a key with a CORS preflight.
API_KEY_HEADER = "x-api-key"
API_KEY_SCHEME = "api_key"
KEYLESS_METHODS = frozenset({"options"})


def require_api_keys(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """With `api_keys_required`, every GET and HEAD needs an API key (infra/terraform/api_keys.tf.json).

    API Gateway reads a method's `apiKeyRequired` from the body's `security`; usage plans and keys
    are resources, chosen per client at apply time. OPTIONS stays keyless for CORS preflights.
    """
    if not facts["api_keys_required"]:
        return
    swagger = json.loads(template["locals"]["chalice_api_swagger"])
    swagger["x-amazon-apigateway-api-key-source"] = "HEADER"
    swagger.setdefault("securityDefinitions", {})[API_KEY_SCHEME] = {
        "type": "apiKey",
        "name": API_KEY_HEADER,
        "in": "header",
    }
    for operations in swagger["paths"].values():
        for method, operation in operations.items():
            if method != "parameters" and method not in KEYLESS_METHODS:
                operation["security"] = [{API_KEY_SCHEME: []}]
    template["locals"]["chalice_api_swagger"] = json.dumps(swagger)


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


def set_waf_mode(documents: dict[str, dict[str, Any]], block: bool) -> None:
    """Writes every web ACL rule's action for the stage's `waf_block_mode` (infra/terraform/waf.tf.json).

    The files hold block mode. Count mode turns each managed group's `override_action` into `count`
    and each own rule's `action` into `count`: matches are counted and logged, nothing is refused.
    """
    for name, document in documents.items():
        for key, acl in document.get("resource", {}).get("aws_wafv2_web_acl", {}).items():
            for rule in acl.get("rule", []):
                if ("override_action" in rule) == ("action" in rule):
                    raise ExportError(f"{name}: aws_wafv2_web_acl.{key} rule {rule.get('name')!r} needs one action")
                if "override_action" in rule:
                    rule["override_action"] = {"none": {}} if block else {"count": {}}
                elif not block:
                    rule["action"] = {"count": {}}


def rename_schedules(template: dict[str, Any], facts: dict[str, Any]) -> None:
    """Chalice names rules `<function>-event`, so two stages in one account would overwrite each other's rule."""
    for key, rule in template["resource"].get("aws_cloudwatch_event_rule", {}).items():
        rule["name"] = f"{facts['name_prefix']}-{rule['name']}"
        if not rule.get("description"):
            rule["description"] = f"{facts['name_prefix']}: schedule of {key}"


def postprocess(
    raw: dict[str, Any], stage: str, settings: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chalice's template made production-ready, and the stage facts the infra files read as locals."""
    template = copy.deepcopy(raw)
    settings = load_stage_settings(stage) if settings is None else settings
    facts = stage_facts(template, stage, settings)
    remove_obsolete_blocks(template)
    rewrite_functions(template, facts)
    guard_layers(template)
    rewrite_policies(template)
    rewrite_api(template, facts)
    require_api_keys(template, facts)
    pass_cors_origins(template, stage)
    rename_schedules(template, facts)
    return template, facts


def stage_variables(template: dict[str, Any], stage: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """variables.tf.json with this stage's defaults from infra/terraform/stages/<stage>.json.

    Export-time settings are left out: stage_facts() turned them into locals.
    """
    variables = _json_object((INFRA / VARIABLES_FILE).read_text())
    settings = load_stage_settings(stage) if settings is None else settings
    settings = {name: value for name, value in settings.items() if name not in EXPORT_TIME_SETTINGS}
    functions = _resources(template, "aws_lambda_function")
    # One source of truth for tracing: the stage's Chalice `xray` setting.
    settings.setdefault(
        "xray_tracing_enabled", functions[API_FUNCTION].get("tracing_config", {}).get("mode") == "Active"
    )
    declared = variables["variable"]
    unknown = sorted(set(settings) - set(declared))
    if unknown:
        raise ExportError(f"stages/{stage}.json sets undeclared variables: {', '.join(unknown)}")
    for name, value in settings.items():
        declared[name]["default"] = value
    return variables


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def _clear_generated(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            path.unlink()


def export(stage: str, out: Path, backend_file: Path | None = None, project: Path = ROOT) -> Path:
    """Writes the stage's Terraform directory to `out` and returns it (`project`: a copy of the app, for tests)."""
    with tempfile.TemporaryDirectory(prefix=f"chalice-tf-{stage}-") as work:
        package = Path(work) / "package"
        run_chalice_package(stage, package, project)
        raw = json.loads((package / CHALICE_FILE).read_text())
        settings = load_stage_settings(stage)
        template, facts = postprocess(raw, stage, settings)
        variables = stage_variables(template, stage, settings)
        out.mkdir(parents=True, exist_ok=True)
        _clear_generated(out)
        shutil.copy2(package / DEPLOYMENT_ZIP, out / DEPLOYMENT_ZIP)
        if template.get("resource", {}).get("aws_lambda_layer_version"):
            shutil.copy2(package / LAYER_ZIP, out / LAYER_ZIP)
    documents: dict[str, dict[str, Any]] = {CHALICE_FILE: template}
    for source in sorted(INFRA.iterdir()):
        if not source.is_file() or source.name == VARIABLES_FILE or not source.name.endswith(INFRA_SUFFIXES):
            continue
        if source.name.endswith(".tf.json"):
            documents[source.name] = _json_object(source.read_text())
        else:
            shutil.copy2(source, out / source.name)
    if {CONTRACT_FILE, STAGE_FILE} & set(documents):
        raise ExportError(f"infra/terraform/ must not hold {CONTRACT_FILE} or {STAGE_FILE}: the export writes them")
    documents[CONTRACT_FILE] = contract_front_door(json.loads(template["locals"]["chalice_api_swagger"]))
    set_waf_mode(documents, facts["waf_block_mode"])
    gate_rest_api(documents)
    for name, document in documents.items():
        _write_json(out / name, document)
    _write_json(out / STAGE_FILE, {"locals": facts})
    _write_json(out / VARIABLES_FILE, variables)
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
    for source in sorted(BOOTSTRAP.iterdir()):
        if source.is_file() and source.name.endswith(INFRA_SUFFIXES):
            shutil.copy2(source, out / source.name)
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
