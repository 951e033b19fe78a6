"""The front doors of the export: REST or HTTP API (`api_type`), optional CloudFront (`cloudfront_enabled`).

Asserted on parsed files, like tests/terraform/test_export.py: no Terraform binary, no AWS account.
Alarms and dashboard widgets are resolved for each API type with a small evaluator of the few
expression shapes infra/terraform/ uses for them (conditionals on var.api_type, local references,
tomap), so a metric or dimension that one API type does not publish fails here, not silently in
CloudWatch as an alarm that never fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib import contract
from scripts import export_terraform
from tests.terraform.support import (
    ROOT,
    Export,
    checked_resources,
    checkov_clean,
    interpolations,
    parse_hcl,
    stage_settings,
    strings,
)

API_TYPES = ("REST", "HTTP")
# What each API type publishes in AWS/ApiGateway, and the dimensions an alarm on one API stage uses.
PUBLISHED_METRICS = {
    "REST": {"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency", "CacheHitCount", "CacheMissCount"},
    "HTTP": {"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"},
}
PUBLISHED_DIMENSIONS = {"REST": {"ApiName", "Stage"}, "HTTP": {"ApiId", "Stage"}}
# Each dimension's value must name that API type's own resource.
DIMENSION_SOURCES = {
    "REST": {"ApiName": "aws_api_gateway_rest_api.rest_api", "Stage": "aws_api_gateway_stage.api"},
    "HTTP": {"ApiId": "aws_apigatewayv2_api.http", "Stage": "aws_apigatewayv2_stage.http"},
}
# The context variables an HTTP API's access log format may use (API Gateway refuses others on the stage).
HTTP_ACCESS_LOG_VARIABLES = {
    "$context.requestId",
    "$context.extendedRequestId",
    "$context.requestTimeEpoch",
    "$context.httpMethod",
    "$context.routeKey",
    "$context.path",
    "$context.protocol",
    "$context.status",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integration.latency",
    "$context.integration.status",
    "$context.integration.error",
    "$context.integrationErrorMessage",
    "$context.error.responseType",
    "$context.error.message",
    "$context.identity.sourceIp",
    "$context.identity.userAgent",
    "$context.dataProcessed",
}
REST_GATED = '${var.api_type == "REST" ? 1 : 0}'
# Chalice's REST resources, which the export gates with REST_GATED; infra/terraform/ gates its own where written.
CHALICE_REST_RESOURCES = {
    ("aws_api_gateway_rest_api", "rest_api"),
    ("aws_api_gateway_deployment", "rest_api"),
    ("aws_lambda_permission", "rest_api_invoke"),
}


# ---- a tiny evaluator -----------------------------------------------------------------------------------------


class Unresolved(str):
    """An expression known only at apply time (a resource attribute, a data source): kept as its text."""


def split_top_level(expression: str, separator: str) -> list[str]:
    """Splits at `separator` outside quotes and brackets."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    while index < len(expression):
        character = expression[index]
        if quoted:
            if character == "\\":
                index += 1
            elif character == '"':
                quoted = False
        elif character == '"':
            quoted = True
        elif character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif depth == 0 and expression.startswith(separator, index):
            parts.append(expression[start:index])
            start = index + len(separator)
            index = start
            continue
        index += 1
    return [*parts, expression[start:]]


class Evaluator:
    """Evaluates the export's values for one api_type, as far as they follow from variables and locals."""

    def __init__(self, export: Export, api_type: str) -> None:
        self.export = export
        self.api_type = api_type

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, str) and "${" in value:
            spans = interpolations(value)
            if spans == [(0, len(value))]:
                return self.expression(value[2:-1])
            pieces, last = [], 0
            for start, end in spans:
                pieces += [value[last:start], str(self.expression(value[start + 2 : end - 1]))]
                last = end
            return "".join([*pieces, value[last:]])
        return value

    def condition(self, expression: str) -> bool | None:
        """True or False when the condition turns on var.api_type alone (or `&&` with it false), else None."""
        terms = [term.strip().strip("()").strip() for term in split_top_level(expression, "&&")]
        verdicts = []
        for term in terms:
            match = re.fullmatch(r'var\.api_type\s*(==|!=)\s*"(REST|HTTP)"', term)
            if match:
                verdicts.append((self.api_type == match[2]) is (match[1] == "=="))
            elif term in ("true", "false"):
                verdicts.append(term == "true")
            elif re.fullmatch(r"local\.\w+", term) and str(self.export.locals.get(term[6:], "")).startswith("${"):
                verdicts.append(self.condition(self.export.locals[term[6:]][2:-1]))
            else:
                verdicts.append(None)
        if False in verdicts:
            return False
        return True if all(verdicts) else None

    def expression(self, expression: str) -> Any:
        expression = expression.strip()
        question = split_top_level(expression, "?")
        if len(question) == 2:
            branches = split_top_level(question[1], ":")
            verdict = self.condition(question[0])
            if len(branches) == 2 and verdict is not None:
                return self.expression(branches[0] if verdict else branches[1])
            return Unresolved(expression)
        if re.fullmatch(r'"(?:[^"\\]|\\.)*"', expression):
            return self.value(json.loads(expression))
        if re.fullmatch(r"-?[0-9]+", expression):
            return int(expression)
        if expression in ("{}", "[]"):
            return {} if expression == "{}" else []
        if expression.startswith("(") and expression.endswith(")"):
            return self.expression(expression[1:-1])
        match = re.fullmatch(r"tomap\((.*)\)", expression, flags=re.DOTALL)
        if match:
            return self.expression(match[1])
        if expression == "var.api_type":
            return self.api_type
        if expression.startswith("local."):
            return self.reference(expression)
        return Unresolved(expression)

    def reference(self, expression: str) -> Any:
        """`local.a.b[local.c].d`: each step by attribute or by an evaluated index."""
        steps = re.findall(r"\.([A-Za-z_][\w-]*)|\[([^\]]+)\]", expression[len("local") :])
        current: Any = self.export.locals
        for attribute, index in steps:
            key = attribute or self.expression(index)
            if isinstance(current, Unresolved) or not isinstance(current, dict) or key not in current:
                return Unresolved(expression)
            current = self.value(current[key])
        return current

    def exists(self, body: dict[str, Any]) -> bool:
        """False when the resource's count is 0 (or for_each empty) for this api_type; True otherwise or if unknown."""
        gate = body.get("for_each", body.get("count"))
        if not isinstance(gate, str):
            return gate != 0
        if "for_each" in body and self.value(gate) in ({}, []):
            return False
        question = split_top_level(gate[2:-1], "?")
        if len(question) != 2:
            return True
        verdict = self.condition(question[0])
        if verdict is None:
            return True
        branch = split_top_level(question[1], ":")[0 if verdict else 1].strip()
        return branch.strip("()") != "0" and branch not in ("toset([])", "{}", "[]")


def test_evaluator_resolves_the_expression_shapes_alarms_use() -> None:
    export = Export.__new__(Export)
    export.locals = {
        "names": {"five": '${var.api_type == "HTTP" ? "5xx" : "5XXError"}', "by": {"REST": "r", "HTTP": "h"}},
        "dims": '${var.api_type == "HTTP" ? tomap(local.names.by) : tomap({A = 1})}',
    }
    rest, http = Evaluator(export, "REST"), Evaluator(export, "HTTP")
    assert (rest.value("${local.names.five}"), http.value("${local.names.five}")) == ("5XXError", "5xx")
    assert http.value("${local.dims}") == {"REST": "r", "HTTP": "h"}
    assert http.value("${local.names.by[var.api_type]}") == "h"
    assert isinstance(rest.value("${one(aws_x.y[*].name)}"), Unresolved)
    assert rest.value("a-${local.names.five}-b") == "a-5XXError-b"
    assert not http.exists({"count": '${var.api_type == "REST" ? (var.web_acl_arn != "" ? 1 : 0) : 0}'})
    assert rest.exists({"count": '${var.api_type == "REST" ? (var.web_acl_arn != "" ? 1 : 0) : 0}'})
    assert not rest.exists({"count": '${var.api_type == "HTTP" && var.alarms ? 1 : 0}'})
    assert http.exists({"count": "${var.alarms ? 1 : 0}"}) and http.exists({})
    export.locals["clients"] = '${local.keys && var.api_type == "REST" ? var.clients : {}}'
    assert not http.exists({"for_each": "${local.clients}"}) and rest.exists({"for_each": "${local.clients}"})


# ---- exports ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out = tmp_path_factory.mktemp("front-door-prod")
    export_terraform.export("prod", out)
    return Export("prod", out)


def interpolated_references(export: Export) -> list[str]:
    return [
        text[start:end]
        for document in export.files.values()
        for text in strings(document)
        for start, end in interpolations(text)
    ]


def metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The alarm's metric, or each metric of its metric-math queries."""
    found = [alarm] if "metric_name" in alarm else []
    queries = alarm.get("metric_query", [])
    for query in queries if isinstance(queries, list) else [queries]:
        metric = query.get("metric")
        found += metric if isinstance(metric, list) else [metric] if metric else []
    return found


@pytest.mark.parametrize("api_type", API_TYPES)
def test_every_api_gateway_alarm_watches_a_metric_its_api_type_publishes(prod: Export, api_type: str) -> None:
    evaluate = Evaluator(prod, api_type)
    checked = []
    for key, alarm in prod.resources("aws_cloudwatch_metric_alarm").items():
        if not evaluate.exists(alarm):
            continue
        for metric in metrics_of(alarm):
            if evaluate.value(metric.get("namespace")) != "AWS/ApiGateway":
                continue
            name = evaluate.value(metric["metric_name"])
            dimensions = evaluate.value(metric.get("dimensions", {}))
            assert name in PUBLISHED_METRICS[api_type], f"{key}: {api_type} APIs publish no {name!r}"
            assert isinstance(dimensions, dict), f"{key}: dimensions {dimensions!r} did not resolve"
            assert set(dimensions) == PUBLISHED_DIMENSIONS[api_type], f"{key}: {sorted(dimensions)} under {api_type}"
            for dimension, value in dimensions.items():
                source = DIMENSION_SOURCES[api_type][dimension]
                assert source in value or value == "$default", f"{key}: {dimension}={value!r} is not {source}"
            checked.append((key, name))
    assert ("api_5xx", "5xx" if api_type == "HTTP" else "5XXError") in checked
    assert ("api_latency_p99", "Latency") in checked


def render_dashboard(export: Export, api_type: str) -> dict[str, Any]:
    """dashboard.json.tftpl rendered with the arguments observability.tf.json passes, for one api_type."""
    body = export.resources("aws_cloudwatch_dashboard")["service"]["dashboard_body"]
    call = body[2:-1]
    arguments = call[call.index("{", call.index(",")) + 1 : call.rindex("}")]
    evaluate = Evaluator(export, api_type)
    values = {}
    for pair in split_top_level(arguments, ","):
        name, _, expression = pair.partition("=")
        value = evaluate.expression(expression)
        values[name.strip()] = f"<{name.strip()}>" if isinstance(value, Unresolved) else str(value)
    template = (export.directory / "dashboard.json.tftpl").read_text()
    rendered: dict[str, Any] = json.loads(re.sub(r"\$\{(\w+)\}", lambda match: values[match[1]], template))
    return rendered


@pytest.mark.parametrize("api_type", API_TYPES)
def test_every_api_gateway_dashboard_metric_is_one_its_api_type_publishes(prod: Export, api_type: str) -> None:
    plotted = []
    for widget in render_dashboard(prod, api_type)["widgets"]:
        previous: list[Any] = []
        for line in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
            fields = [field for field in line if not isinstance(field, dict)]
            # CloudWatch's shorthand: "." repeats the previous line's field, "..." all the rest.
            if "..." in fields:
                fields = fields[: fields.index("...")] + previous[fields.index("...") :]
            fields = [previous[i] if field == "." else field for i, field in enumerate(fields)]
            previous = fields
            if fields and fields[0] == "AWS/ApiGateway":
                name, dimensions = fields[1], dict(zip(fields[2::2], fields[3::2], strict=True))
                assert name in PUBLISHED_METRICS[api_type], f"{widget['properties']['title']}: {name}"
                assert set(dimensions) == PUBLISHED_DIMENSIONS[api_type], widget["properties"]["title"]
                plotted.append(name)
    errors = {"REST": ("4XXError", "5XXError"), "HTTP": ("4xx", "5xx")}[api_type]
    assert {"Count", "Latency", *errors} <= set(plotted)


# ---- the switch ----------------------------------------------------------------------------------------------


def test_api_type_is_one_validated_variable_and_every_stage_sets_it(prod: Export) -> None:
    variable = prod.variables["api_type"]
    assert variable["type"] == "string"
    (validation,) = variable["validation"]
    assert '"REST"' in validation["condition"] and '"HTTP"' in validation["condition"]
    declared = parse_hcl((ROOT / "infra" / "terraform" / "variables.tf").read_text())["variable"]
    assert declared["api_type"]["default"] == "REST"
    for stage in ("dev", "prod"):
        assert stage_settings(stage)["api_type"] in API_TYPES
    assert prod.default("api_type") == stage_settings("prod")["api_type"]


def test_api_metrics_local_names_each_api_types_metrics(prod: Export) -> None:
    rest, http = Evaluator(prod, "REST"), Evaluator(prod, "HTTP")
    expected = {
        "REST": {
            "namespace": "AWS/ApiGateway",
            "requests": "Count",
            "errors_5xx": "5XXError",
            "errors_4xx": "4XXError",
        },
        "HTTP": {"namespace": "AWS/ApiGateway", "requests": "Count", "errors_5xx": "5xx", "errors_4xx": "4xx"},
    }
    for evaluate in (rest, http):
        metrics = evaluate.value(prod.locals["api_metrics"])
        assert {key: metrics[key] for key in expected[evaluate.api_type]} == expected[evaluate.api_type]
        assert metrics["latency"] == "Latency"
        assert set(metrics["dimensions"]) == PUBLISHED_DIMENSIONS[evaluate.api_type]
    # one(...[*]) everywhere: the API type that is not deployed yields null instead of an invalid index.
    for value in prod.locals["api_metric_dimensions_by_type"].values():
        for reference in value.values():
            assert re.fullmatch(r"\$\{one\(aws_[a-z0-9_]+\.[a-z_]+\[\*\]\.[a-z_]+\)\}", reference), reference


def test_rest_api_and_everything_attached_to_it_exist_only_when_api_type_is_rest(prod: Export) -> None:
    rest, http = Evaluator(prod, "REST"), Evaluator(prod, "HTTP")
    for kind, key, body in prod.all_resources():
        if (kind, key) in CHALICE_REST_RESOURCES:
            assert body["count"] == REST_GATED, f"{kind}.{key}"
        if kind.startswith("aws_api_gateway_"):
            assert not http.exists(body), f"{kind}.{key} would outlive the REST API under api_type HTTP"
        if kind.startswith("aws_apigatewayv2_") or (kind, key) == ("aws_lambda_permission", "http_api_invoke"):
            assert not rest.exists(body), f"{kind}.{key} would exist beside the REST API"
    assert rest.exists(prod.resources("aws_apigatewayv2_route")["contract"]) is False
    assert http.exists(prod.resources("aws_apigatewayv2_route")["contract"]) is True
    # A regional web ACL can only be associated with the REST stage.
    associations = prod.resources("aws_wafv2_web_acl_association")
    for key, association in associations.items():
        if "aws_api_gateway_stage.api" in association["resource_arn"]:
            assert not http.exists(association), key
    # A gated resource is read by index from its siblings and through one(...[*]) from anything else.
    bare = re.compile(
        r"\b(?:aws_api_gateway_rest_api\.rest_api|aws_api_gateway_stage\.api|aws_apigatewayv2_\w+\.\w+)\."
    )
    assert not [text for text in interpolated_references(prod) if bare.search(text)]


def test_endpoint_url_is_the_active_apis(prod: Export) -> None:
    assert prod.chalice["output"]["EndpointURL"]["value"] == "${local.api_endpoint_url}"
    # Chalice's REST API is gated: its id is read through one(...[*]), null under api_type HTTP.
    assert prod.chalice["output"]["RestAPIId"]["value"] == "${one(aws_api_gateway_rest_api.rest_api[*].id)}"
    url = prod.locals["api_endpoint_url"]
    assert url.startswith('${var.api_type == "HTTP" ?')
    assert 'trimsuffix(one(aws_apigatewayv2_stage.http[*].invoke_url), "/")' in url
    assert "one(aws_api_gateway_stage.api[*].invoke_url)" in url


# ---- the HTTP API --------------------------------------------------------------------------------------------


def test_http_api_declares_every_contract_route_and_method_on_its_own(prod: Export) -> None:
    (route,) = prod.resources("aws_apigatewayv2_route").values()
    assert route["for_each"] == '${var.api_type == "HTTP" ? toset(local.contract_route_keys) : toset([])}'
    assert route["route_key"] == "${each.value}"
    route_keys = prod.files[export_terraform.CONTRACT_FILE]["locals"]["contract_route_keys"]
    assert route_keys == sorted(f"{method} {path}" for path in contract.ROUTES for method in contract.ROUTE_METHODS)
    for route_key in route_keys:
        assert "$default" not in route_key and "{proxy+}" not in route_key, route_key
    assert route["target"] == "integrations/${aws_apigatewayv2_integration.live[0].id}"
    assert route["api_id"] == "${aws_apigatewayv2_api.http[0].id}"
    assert route["authorization_type"] == "NONE"
    assert route["depends_on"] == ["aws_lambda_permission.http_api_invoke"]


def test_export_refuses_a_route_the_contract_does_not_declare() -> None:
    paths = {path: {method.lower(): {} for method in contract.ROUTE_METHODS} for path in contract.ROUTES}
    assert export_terraform.contract_locals({"paths": paths})["contract_route_keys"]
    with pytest.raises(export_terraform.ExportError, match="disagree"):
        export_terraform.contract_locals({"paths": {**paths, "/admin": {"get": {}}}})
    with pytest.raises(export_terraform.ExportError, match="disagree"):
        export_terraform.contract_locals({"paths": {path: {"get": {}} for path in contract.ROUTES}})


def test_http_api_integration_is_payload_1_0_to_the_live_alias_like_rest(prod: Export) -> None:
    integration = prod.resources("aws_apigatewayv2_integration")["live"]
    assert integration["payload_format_version"] == "1.0"
    assert integration["integration_type"] == "AWS_PROXY" and integration["integration_method"] == "POST"
    rest_uris = {
        operation["x-amazon-apigateway-integration"]["uri"]
        for operations in prod.swagger()["paths"].values()
        for operation in operations.values()
        if isinstance(operation, dict) and "x-amazon-apigateway-integration" in operation
    }
    assert rest_uris == {integration["integration_uri"]} == {"${local.api_invoke_arn}"}
    permissions = prod.resources("aws_lambda_permission")
    http, rest = permissions["http_api_invoke"], permissions["rest_api_invoke"]
    assert http["qualifier"] == rest["qualifier"] and http["function_name"] == rest["function_name"]
    assert http["principal"] == "apigateway.amazonaws.com"
    assert http["source_arn"] == "${aws_apigatewayv2_api.http[0].execution_arn}/*"


def test_http_api_stage_has_its_own_throttling_and_access_logs(prod: Export) -> None:
    stage = prod.resources("aws_apigatewayv2_stage")["http"]
    assert prod.resolve(stage["name"]) == "$default" and stage["auto_deploy"] is True
    settings = stage["default_route_settings"]
    assert settings["throttling_rate_limit"] == "${var.api_throttling_rate_limit}"
    assert settings["throttling_burst_limit"] == "${var.api_throttling_burst_limit}"
    logs = stage["access_log_settings"]
    assert logs["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    assert logs["format"] == "${jsonencode(local.http_api_access_log_format)}"
    log_format = prod.locals["http_api_access_log_format"]
    assert set(log_format.values()) <= HTTP_ACCESS_LOG_VARIABLES
    # The same field names as the REST stage's, where both APIs know the value, so one query reads either.
    rest_format = prod.locals["api_access_log_format"]
    shared = {"requestId", "status", "responseLatency", "integrationError", "integrationErrorMessage", "errorMessage"}
    assert {name: log_format[name] for name in shared} == {name: rest_format[name] for name in shared}


def test_http_api_refuses_the_rest_only_settings_it_would_silently_drop(prod: Export) -> None:
    conditions = [p["condition"] for p in prod.resources("aws_apigatewayv2_api")["http"]["lifecycle"]["precondition"]]
    assert "${!var.api_cache_enabled}" in conditions
    assert '${var.web_acl_arn == ""}' in conditions


# ---- CloudFront ----------------------------------------------------------------------------------------------

CLOUDFRONT_KINDS = ("aws_cloudfront_", "aws_s3_bucket")


def test_cloudfront_is_optional_and_off_in_every_stage(prod: Export) -> None:
    assert prod.variables["cloudfront_enabled"]["type"] == "bool"
    for stage in ("dev", "prod"):
        assert stage_settings(stage)["cloudfront_enabled"] is False
    resources = [(kind, key, body) for kind, key, body in prod.all_resources() if kind.startswith(CLOUDFRONT_KINDS)]
    resources.append(("aws_kms_key", "cloudfront_logs", prod.resources("aws_kms_key")["cloudfront_logs"]))
    assert len(resources) >= 10
    for kind, key, body in resources:
        assert "var.cloudfront_enabled" in body["count"], f"{kind}.{key}"


def test_cloudfront_cache_policy_honours_the_apis_cache_control_and_keys_on_the_contract_only(prod: Export) -> None:
    policies = prod.resources("aws_cloudfront_cache_policy")
    assert set(policies) == {"api", "api_cors"}
    parameters = sorted({name for route in contract.ROUTES.values() for name in route.query_parameters})
    assert prod.locals["contract_query_parameters"] == parameters
    for key, policy in policies.items():
        assert (policy["min_ttl"], policy["default_ttl"]) == (0, 0), key
        assert policy["max_ttl"] == "${var.cloudfront_max_ttl_seconds}"
        keyed = policy["parameters_in_cache_key_and_forwarded_to_origin"]
        assert keyed["enable_accept_encoding_gzip"] is True and keyed["enable_accept_encoding_brotli"] is True
        assert keyed["cookies_config"] == {"cookie_behavior": "none"}
        assert keyed["query_strings_config"] == {
            "query_string_behavior": "whitelist",
            "query_strings": {"items": "${local.contract_query_parameters}"},
        }
    # Headers: none, unless CORS answers depend on Origin; exactly one of the two policies exists.
    assert policies["api"]["parameters_in_cache_key_and_forwarded_to_origin"]["headers_config"] == {
        "header_behavior": "none"
    }
    assert policies["api_cors"]["parameters_in_cache_key_and_forwarded_to_origin"]["headers_config"] == {
        "header_behavior": "whitelist",
        "headers": {"items": ["Origin"]},
    }
    # The app answers by Origin when CORS lists origins; with "*" every caller gets the same answer.
    assert prod.locals["cloudfront_cache_key_has_origin"] == (
        '${length(var.cors_allowed_origins) > 0 && !contains(var.cors_allowed_origins, "*")}'
    )
    assert "!local.cloudfront_cache_key_has_origin ? 1 : 0" in policies["api"]["count"]
    assert "&& local.cloudfront_cache_key_has_origin ? 1 : 0" in policies["api_cors"]["count"]
    assert prod.locals["cloudfront_cache_policy_id"] == (
        "${local.cloudfront_cache_key_has_origin ? one(aws_cloudfront_cache_policy.api_cors[*].id)"
        " : one(aws_cloudfront_cache_policy.api[*].id)}"
    )


def test_cloudfront_serves_the_active_api_compressed_over_https_with_waf_at_the_edge(prod: Export) -> None:
    distribution = prod.resources("aws_cloudfront_distribution")["api"]
    behaviour = distribution["default_cache_behavior"]
    assert behaviour["compress"] is True
    assert behaviour["viewer_protocol_policy"] in ("https-only", "redirect-to-https")
    assert behaviour["cached_methods"] == ["GET", "HEAD"]
    assert set(behaviour["allowed_methods"]) <= {"GET", "HEAD", "OPTIONS"}
    assert behaviour["cache_policy_id"] == "${local.cloudfront_cache_policy_id}"
    assert "origin_request_policy_id" not in behaviour, "the origin gets only what is in the cache key"
    origin = distribution["origin"]
    assert origin["domain_name"] == "${local.cloudfront_origin_domain}"
    assert origin["origin_path"] == "${local.cloudfront_origin_path}"
    assert origin["custom_origin_config"]["origin_protocol_policy"] == "https-only"
    assert origin["custom_origin_config"]["origin_ssl_protocols"] == ["TLSv1.2"]
    assert "local.api_endpoint_url" in prod.locals["cloudfront_origin_domain"]
    for api_type, path in (("REST", "/api"), ("HTTP", "")):
        resolved = Evaluator(prod, api_type).value(prod.locals["cloudfront_origin_path"])
        assert resolved == path or (api_type == "REST" and "local.api_gateway_stage_name" in resolved)
    # The CLOUDFRONT-scoped web ACL is the edge settings' (null when off); only its wiring is asserted here.
    assert distribution["web_acl_id"] == "${local.cloudfront_web_acl_arn}"
    # API keys live on X-Api-Key at the REST stage; the CDN neither forwards nor keys on it.
    (precondition,) = distribution["lifecycle"]["precondition"]
    assert precondition["condition"] == "${length(var.api_clients) == 0}"
    logging = distribution["logging_config"]
    assert logging["bucket"] == "${aws_s3_bucket.cloudfront_logs[0].bucket_domain_name}"
    assert logging["include_cookies"] is False


def test_cloudfront_logs_land_in_a_private_encrypted_bucket_that_expires_them(prod: Export) -> None:
    block = prod.resources("aws_s3_bucket_public_access_block")["cloudfront_logs"]
    assert all(block[name] is True for name in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert block["restrict_public_buckets"] is True
    (encryption,) = prod.resources("aws_s3_bucket_server_side_encryption_configuration")["cloudfront_logs"]["rule"]
    assert encryption["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    (lifecycle,) = prod.resources("aws_s3_bucket_lifecycle_configuration")["cloudfront_logs"]["rule"]
    assert lifecycle["expiration"] == {"days": "${var.log_retention_days}"}
    assert prod.resources("aws_kms_key")["cloudfront_logs"]["enable_key_rotation"] is True
    bucket = prod.resources("aws_s3_bucket")["cloudfront_logs"]["bucket"]
    assert prod.resolve(bucket).startswith("llm-scores-prod-cloudfront-logs-")


# ---- checkov on the other front door -------------------------------------------------------------------------


def with_values(export: Export, **values: Any) -> Path:
    """Changes the export's terraform.tfvars.json in place, as an operator's -var would, and returns the directory."""
    tfvars = export.directory / export_terraform.TFVARS_FILE
    tfvars.write_text(json.dumps({**export.values, **values}, indent=2) + "\n")
    return export.directory


def test_checkov_passes_an_http_api_export_with_cloudfront_on(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("front-door-http-cloudfront")
    export_terraform.export("prod", out)
    directory = with_values(Export("prod", out), api_type="HTTP", cloudfront_enabled=True)
    # checkov names a resource `<key>[0]` where it evaluated the count, `<key>` where it did not.
    checked = {
        name: {re.sub(r"\[\d+\]$", "", key) for key in keys}
        for name, keys in checked_resources(checkov_clean(directory)).items()
    }
    for file_name, resource in (
        ("http_api.tf", "http"),
        ("cloudfront.tf", "api"),
        ("cloudfront.tf", "cloudfront_logs"),
    ):
        assert resource in checked.get(file_name, set()), f"{file_name}: {resource} was never checked"
