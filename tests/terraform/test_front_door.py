"""The front doors of the export: REST or HTTP API (`api_type`), optional CloudFront (`cloudfront_enabled`).

Each test switches a front door on and reads what the plan then holds (`support.Plan`): no Terraform binary, no
AWS account. Alarms and dashboard widgets are read as planned for each API type, so a metric or dimension that
one API type does not publish fails here, not silently in CloudWatch as an alarm that never fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib import contract
from scripts.operations import export_terraform
from tests.terraform.support import (
    Export,
    Plan,
    checked_resources,
    checkov_clean,
    copy_export,
    interpolations,
    stage_settings,
    strings,
)

API_TYPES = ("REST", "HTTP")
# What each API type publishes in AWS/ApiGateway, and the dimensions an alarm on one API stage uses.
PUBLISHED_METRICS = {
    "REST": {"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency", "CacheHitCount", "CacheMissCount"},
    "HTTP": {"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"},
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
# What an earlier apply knows and a first plan does not.
APPLIED = {
    "aws_apigatewayv2_api.http[0].id": "h77p4p1",
    "aws_apigatewayv2_api.http[0].execution_arn": "arn:aws:execute-api:eu-west-1:123456789012:h77p4p1",
    "aws_apigatewayv2_integration.live[0].id": "int0001",
    "aws_apigatewayv2_stage.http[0].invoke_url": "https://h77p4p1.execute-api.eu-west-1.amazonaws.com/",
    "aws_api_gateway_stage.api[0].invoke_url": "https://r3st4p1.execute-api.eu-west-1.amazonaws.com/api",
    "aws_lambda_alias.live[0].invoke_arn": "arn:aws:apigateway:eu-west-1:lambda:path/live/invocations",
    # The dashboard's alarm widget lists the SLO alerts.
    **{
        f"aws_cloudwatch_composite_alarm.slo_{slo}_{kind}.arn": f"arn:aws:cloudwatch:eu-west-1:1:alarm:{slo}-{kind}"
        for slo in ("availability", "latency")
        for kind in ("page", "ticket")
    },
}


def published_dimensions(plan: Plan, api_type: str) -> dict[str, Any]:
    """The dimensions API Gateway publishes one stage's metrics under, with this plan's values."""
    if api_type == "REST":
        return {
            "ApiName": plan.resource("aws_api_gateway_rest_api", "rest_api", 0)["name"],
            "Stage": plan.resource("aws_api_gateway_stage", "api", 0)["stage_name"],
        }
    return {
        "ApiId": APPLIED["aws_apigatewayv2_api.http[0].id"],
        "Stage": plan.resource("aws_apigatewayv2_stage", "http", 0)["name"],
    }


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
    plan = Plan(prod, api_type=api_type, waf_enabled=api_type == "REST").knowing(APPLIED)
    checked = []
    for address, alarm in plan.every("aws_cloudwatch_metric_alarm"):
        for metric in metrics_of(alarm):
            if metric.get("namespace") != "AWS/ApiGateway":
                continue
            name = metric["metric_name"]
            assert name in PUBLISHED_METRICS[api_type], f"{address}: {api_type} APIs publish no {name!r}"
            assert metric["dimensions"] == published_dimensions(plan, api_type), address
            checked.append((address, name))
    assert ("aws_cloudwatch_metric_alarm.api_5xx", "5xx" if api_type == "HTTP" else "5XXError") in checked
    assert ("aws_cloudwatch_metric_alarm.api_latency_p99", "Latency") in checked


@pytest.mark.parametrize("api_type", API_TYPES)
def test_every_api_gateway_dashboard_metric_is_one_its_api_type_publishes(prod: Export, api_type: str) -> None:
    plan = Plan(prod, api_type=api_type, waf_enabled=api_type == "REST").knowing(APPLIED)
    dashboard = json.loads(plan.resource("aws_cloudwatch_dashboard", "service")["dashboard_body"])
    plotted = []
    for widget in dashboard["widgets"]:
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
                assert dimensions == published_dimensions(plan, api_type), widget["properties"]["title"]
                plotted.append(name)
    errors = {"REST": ("4XXError", "5XXError"), "HTTP": ("4xx", "5xx")}[api_type]
    assert {"Count", "Latency", *errors} <= set(plotted)


# ---- the switch ----------------------------------------------------------------------------------------------


def test_api_type_is_one_validated_variable_and_every_stage_sets_it(prod: Export) -> None:
    for value, valid in (("REST", True), ("HTTP", True), ("rest", False), ("WEBSOCKET", False)):
        assert Plan(prod, api_type=value).valid("api_type") is valid, value
    assert prod.variables["api_type"]["default"] == "REST"
    for stage in ("dev", "prod"):
        assert stage_settings(stage)["api_type"] in API_TYPES
    assert prod.default("api_type") == stage_settings("prod")["api_type"]


def test_api_metrics_local_names_each_api_types_metrics(prod: Export) -> None:
    expected = {
        "REST": {"requests": "Count", "errors_5xx": "5XXError", "errors_4xx": "4XXError"},
        "HTTP": {"requests": "Count", "errors_5xx": "5xx", "errors_4xx": "4xx"},
    }
    for api_type, names in expected.items():
        plan = Plan(prod, api_type=api_type).knowing(APPLIED)
        metrics = plan.value("${local.api_metrics}")
        assert {key: metrics[key] for key in names} == names
        assert (metrics["namespace"], metrics["latency"]) == ("AWS/ApiGateway", "Latency")
        assert metrics["dimensions"] == published_dimensions(plan, api_type)


def interpolated_references(export: Export) -> list[str]:
    return [
        text[start:end]
        for document in export.files.values()
        for text in strings(document)
        for start, end in interpolations(text)
    ]


def test_rest_api_and_everything_attached_to_it_exist_only_when_api_type_is_rest(prod: Export) -> None:
    # With every option that adds API Gateway resources on.
    domain = {"custom_domain_name": "api.scores.example.com", "route53_zone_id": "Z0123456789ABCDEFGHIJ"}
    rest = Plan(prod, api_keys_required=True, api_clients={"acme": {}}, **domain).instances()
    http = Plan(prod, api_type="HTTP", waf_enabled=False, **domain).instances()
    for address in rest:
        if address.startswith("aws_api_gateway_"):
            assert http[address] == 0, f"{address} would outlive the REST API under api_type HTTP"
        if address.startswith("aws_apigatewayv2_") or address == "aws_lambda_permission.http_api_invoke":
            assert rest[address] == 0, f"{address} would exist beside the REST API"
    assert rest["aws_api_gateway_rest_api.rest_api"] == rest["aws_api_gateway_usage_plan.client"] == 1
    assert http["aws_apigatewayv2_api.http"] == http["aws_apigatewayv2_domain_name.api"] == 1
    # A regional web ACL can only be associated with the REST stage.
    acl = "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"
    associations = ("aws_wafv2_web_acl_association.",)
    assert Plan(prod, waf_enabled=False, web_acl_arn=acl).planned(*associations) == {
        "aws_wafv2_web_acl_association.api"
    }
    assert Plan(prod).planned(*associations) == {"aws_wafv2_web_acl_association.regional"}
    assert Plan(prod, api_type="HTTP", web_acl_arn=acl).planned(*associations) == set()
    # A gated resource is read by index from its siblings and through one(...[*]) from anything else.
    bare = re.compile(
        r"\b(?:aws_api_gateway_rest_api\.rest_api|aws_api_gateway_stage\.api|aws_apigatewayv2_\w+\.\w+)\."
    )
    assert not [text for text in interpolated_references(prod) if bare.search(text)]


def test_endpoint_url_is_the_active_apis(prod: Export) -> None:
    outputs = prod.outputs()
    rest, http = Plan(prod).knowing(APPLIED), Plan(prod, api_type="HTTP", waf_enabled=False).knowing(APPLIED)
    assert rest.value(outputs["EndpointURL"]["value"]) == APPLIED["aws_api_gateway_stage.api[0].invoke_url"]
    assert http.value(outputs["EndpointURL"]["value"]) == "https://h77p4p1.execute-api.eu-west-1.amazonaws.com"
    assert rest.value(outputs["RestAPIId"]["value"]) == "aws_api_gateway_rest_api.rest_api[0].id"
    assert http.value(outputs["RestAPIId"]["value"]) is None


# ---- the HTTP API --------------------------------------------------------------------------------------------


def test_http_api_declares_every_contract_route_and_method_on_its_own(prod: Export) -> None:
    route_keys = sorted(f"{method} {path}" for path in contract.ROUTES for method in contract.ROUTE_METHODS)
    plan = Plan(prod, api_type="HTTP", waf_enabled=False).knowing(APPLIED)
    routes = dict(plan.every("aws_apigatewayv2_route"))
    assert sorted(route["route_key"] for route in routes.values()) == route_keys
    for route in routes.values():
        assert "$default" not in route["route_key"] and "{proxy+}" not in route["route_key"]
        assert route["target"] == "integrations/int0001"
        assert route["api_id"] == "h77p4p1" and route["authorization_type"] == "NONE"
        assert route["depends_on"] == ["aws_lambda_permission.http_api_invoke"]
    assert Plan(prod).instances()["aws_apigatewayv2_route.contract"] == 0


def test_http_api_routes_follow_the_routes_chalice_serves(raw_prod: dict[str, Any]) -> None:
    template = json.loads(json.dumps(raw_prod))
    swagger = json.loads(template["locals"]["chalice_api_swagger"])
    swagger["paths"]["/admin"] = {"get": swagger["paths"]["/health"]["get"]}
    template["locals"]["chalice_api_swagger"] = json.dumps(swagger)
    _, facts = export_terraform.postprocess(template, "prod")
    assert "GET /admin" in facts["api_route_keys"] and "HEAD /admin" not in facts["api_route_keys"]


def test_http_api_integration_is_payload_1_0_to_the_live_alias_like_rest(prod: Export) -> None:
    plan = Plan(prod, api_type="HTTP", waf_enabled=False).knowing(APPLIED)
    integration = plan.resource("aws_apigatewayv2_integration", "live", 0)
    assert integration["payload_format_version"] == "1.0"
    assert integration["integration_type"] == "AWS_PROXY" and integration["integration_method"] == "POST"
    rest_body = json.loads(Plan(prod).knowing(APPLIED).value("${local.api_body}"))
    rest_uris = {
        operation["x-amazon-apigateway-integration"]["uri"]
        for operations in rest_body["paths"].values()
        for operation in operations.values()
    }
    assert rest_uris == {integration["integration_uri"]} == {APPLIED["aws_lambda_alias.live[0].invoke_arn"]}
    http = plan.resource("aws_lambda_permission", "http_api_invoke", 0)
    rest = Plan(prod).knowing(APPLIED).resource("aws_lambda_permission", "rest_api_invoke", 0)
    assert (http["qualifier"], http["function_name"]) == (rest["qualifier"], rest["function_name"])
    assert http["principal"] == "apigateway.amazonaws.com"
    assert http["source_arn"] == APPLIED["aws_apigatewayv2_api.http[0].execution_arn"] + "/*"


def test_http_api_stage_has_its_own_throttling_and_access_logs(prod: Export) -> None:
    plan = Plan(prod, api_type="HTTP", waf_enabled=False).knowing(APPLIED)
    stage = plan.resource("aws_apigatewayv2_stage", "http", 0)
    assert stage["name"] == "$default" and stage["auto_deploy"] is True
    settings = stage["default_route_settings"]
    throttle = (
        stage_settings("prod")["api_throttling_rate_limit"],
        stage_settings("prod")["api_throttling_burst_limit"],
    )
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == throttle
    logs = stage["access_log_settings"]
    assert logs["destination_arn"] == "aws_cloudwatch_log_group.api_access.arn"
    log_format = json.loads(logs["format"])
    assert set(log_format.values()) <= HTTP_ACCESS_LOG_VARIABLES
    # The same field names as the REST stage's, where both APIs know the value, so one query reads either.
    rest_format = json.loads(Plan(prod).resource("aws_api_gateway_stage", "api", 0)["access_log_settings"]["format"])
    shared = {"requestId", "status", "responseLatency", "integrationError", "integrationErrorMessage", "errorMessage"}
    assert {name: log_format[name] for name in shared} == {name: rest_format[name] for name in shared}


def test_http_api_refuses_the_rest_only_settings_it_would_silently_drop(prod: Export) -> None:
    http = {"api_type": "HTTP", "waf_enabled": False}
    assert Plan(prod, **http).refusals() == []
    assert Plan(prod, api_cache_enabled=True, **http).refusals()
    assert Plan(prod, web_acl_arn="arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y", **http).refusals()


# ---- CloudFront ----------------------------------------------------------------------------------------------

CLOUDFRONT_KINDS = ("aws_cloudfront_", "aws_s3_bucket", "aws_kms_key.cloudfront_logs")


def test_cloudfront_is_optional_and_off_in_every_stage(prod: Export, dev: Export) -> None:
    assert prod.variables["cloudfront_enabled"]["type"] == "bool"
    for export in (prod, dev):
        assert stage_settings(export.stage)["cloudfront_enabled"] is False
        assert Plan(export).planned(*CLOUDFRONT_KINDS) == set()
        assert len(Plan(export, cloudfront_enabled=True).planned(*CLOUDFRONT_KINDS)) >= 10


@pytest.mark.parametrize(
    ("origins", "policy", "headers"),
    [
        ([], "api", {"header_behavior": "none"}),
        (["*"], "api", {"header_behavior": "none"}),
        (["https://a.example"], "api_cors", {"header_behavior": "whitelist", "headers": {"items": ["Origin"]}}),
    ],
)
def test_cloudfront_cache_policy_honours_the_apis_cache_control_and_keys_on_the_contract_only(
    prod: Export, origins: list[str], policy: str, headers: dict[str, Any]
) -> None:
    # The app answers by Origin when CORS lists origins; with "*" every caller gets the same answer.
    plan = Plan(prod, cloudfront_enabled=True, cors_allowed_origins=origins)
    assert plan.planned("aws_cloudfront_cache_policy") == {f"aws_cloudfront_cache_policy.{policy}"}
    cache_policy = plan.resource("aws_cloudfront_cache_policy", policy, 0)
    assert (cache_policy["min_ttl"], cache_policy["default_ttl"]) == (0, 0)
    assert cache_policy["max_ttl"] == prod.default("cloudfront_max_ttl_seconds") == 300
    keyed = cache_policy["parameters_in_cache_key_and_forwarded_to_origin"]
    assert keyed["enable_accept_encoding_gzip"] is True and keyed["enable_accept_encoding_brotli"] is True
    assert keyed["cookies_config"] == {"cookie_behavior": "none"}
    parameters = sorted({name for route in contract.ROUTES.values() for name in route.query_parameters})
    assert keyed["query_strings_config"] == {
        "query_string_behavior": "whitelist",
        "query_strings": {"items": parameters},
    }
    assert keyed["headers_config"] == headers
    distribution = plan.resource("aws_cloudfront_distribution", "api", 0)
    assert distribution["default_cache_behavior"]["cache_policy_id"] == f"aws_cloudfront_cache_policy.{policy}[0].id"


@pytest.mark.parametrize(("api_type", "origin_path"), [("REST", "/api"), ("HTTP", "")])
def test_cloudfront_serves_the_active_api_compressed_over_https_with_waf_at_the_edge(
    prod: Export, api_type: str, origin_path: str
) -> None:
    plan = Plan(prod, api_type=api_type, cloudfront_enabled=True).knowing(APPLIED)
    distribution = plan.resource("aws_cloudfront_distribution", "api", 0)
    behaviour = distribution["default_cache_behavior"]
    assert behaviour["compress"] is True
    assert behaviour["viewer_protocol_policy"] in ("https-only", "redirect-to-https")
    assert behaviour["cached_methods"] == ["GET", "HEAD"]
    assert set(behaviour["allowed_methods"]) <= {"GET", "HEAD", "OPTIONS"}
    assert "origin_request_policy_id" not in behaviour, "the origin gets only what is in the cache key"
    origin = distribution["origin"]
    api_host = {"REST": "r3st4p1", "HTTP": "h77p4p1"}[api_type] + ".execute-api.eu-west-1.amazonaws.com"
    assert (origin["domain_name"], origin["origin_path"]) == (api_host, origin_path)
    assert origin["custom_origin_config"]["origin_protocol_policy"] == "https-only"
    assert origin["custom_origin_config"]["origin_ssl_protocols"] == ["TLSv1.2"]
    assert distribution["web_acl_id"] == "aws_wafv2_web_acl.cloudfront[0].arn"
    assert distribution["logging_config"]["bucket"] == "aws_s3_bucket.cloudfront_logs[0].bucket_domain_name"
    assert distribution["logging_config"]["include_cookies"] is False
    # API keys live on X-Api-Key at the REST stage; the CDN neither forwards nor keys on it.
    refused = Plan(prod, cloudfront_enabled=True, api_clients={"acme": {}}).refusals()
    assert any("api_clients" in message or "x-api-key" in message for message in refused)


def test_cloudfront_logs_land_in_a_private_encrypted_bucket_that_expires_them(prod: Export) -> None:
    plan = Plan(prod, cloudfront_enabled=True)
    block = plan.resource("aws_s3_bucket_public_access_block", "cloudfront_logs", 0)
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert all(block[name] is True for name in flags)
    encryption = plan.resource("aws_s3_bucket_server_side_encryption_configuration", "cloudfront_logs", 0)["rule"]
    assert encryption[0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    lifecycle = plan.resource("aws_s3_bucket_lifecycle_configuration", "cloudfront_logs", 0)["rule"]
    assert lifecycle[0]["expiration"] == {"days": stage_settings("prod")["log_retention_days"]}
    assert plan.resource("aws_kms_key", "cloudfront_logs", 0)["enable_key_rotation"] is True
    bucket = plan.resource("aws_s3_bucket", "cloudfront_logs", 0)["bucket"]
    assert bucket.startswith("llm-scores-prod-cloudfront-logs-")


# ---- checkov on the other front door -------------------------------------------------------------------------


def test_checkov_passes_an_http_api_export_with_cloudfront_on(prod: Export, tmp_path: Path) -> None:
    directory = copy_export(prod, tmp_path / "http-cloudfront", api_type="HTTP", cloudfront_enabled=True).directory
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
