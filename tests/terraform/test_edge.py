"""Edge protection in the Terraform export: WAF, API keys with usage plans, CORS and a custom domain.

Each option is a variable, gated where the resources are written. Every test here turns options on or off and
reads what the plan then holds (`support.Plan`): which resources exist, what they are configured with, and which
combinations the plan refuses. No Terraform binary, no AWS account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.operations import export_terraform
from tests.terraform.support import Export, Plan, stage_settings

ROOT = Path(__file__).resolve().parents[2]
MANAGED_GROUPS = {
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
}
# A user at 1 request/s sends 300 requests in WAF's 5-minute window (docs/capacity.md).
ONE_USER_PER_5_MINUTES = 300
CLIENT = {"quota_per_day": 50000, "rate_limit": 5, "burst_limit": 10}
EDGE_VARIABLES = {
    "waf_enabled",
    "waf_block_mode",
    "api_keys_required",
    "waf_rate_limit_per_5_minutes",
    "waf_blocked_requests_alarm_percent",
    "api_clients",
    "cors_allowed_origins",
    "custom_domain_name",
    "route53_zone_id",
}
# What each stage file sets; the alarm threshold keeps its variable default.
EDGE_STAGE_SETTINGS = EDGE_VARIABLES - {"waf_blocked_requests_alarm_percent"}
KEYS_ON = {"api_keys_required": True, "api_clients": {"acme": CLIENT}}
# What an earlier apply knows and a first plan does not: the API body carries the alias's invoke ARN.
APPLIED = {
    "aws_lambda_alias.live[0].invoke_arn": "arn:aws:apigateway:eu-west-1:lambda:path/live/invocations",
    "aws_lambda_function.api_handler.invoke_arn": "arn:aws:apigateway:eu-west-1:lambda:path/latest/invocations",
}

WAF_KINDS = (
    "aws_wafv2_web_acl.",
    "aws_wafv2_web_acl_association.regional",
    "aws_wafv2_web_acl_logging_configuration.",
    "aws_kms_key.waf_logs",
    "aws_kms_key.edge_us_east_1",
    "aws_cloudwatch_log_group.waf_",
    "aws_cloudwatch_metric_alarm.waf_",
    "aws_sns_topic.edge_alarms",
)
REGIONAL_WAF = {
    "aws_wafv2_web_acl.regional",
    "aws_wafv2_web_acl_association.regional",
    "aws_wafv2_web_acl_logging_configuration.regional",
    "aws_kms_key.waf_logs",
    "aws_cloudwatch_log_group.waf_regional",
    "aws_cloudwatch_metric_alarm.waf_blocked_requests",
}
CLOUDFRONT_WAF = {
    "aws_wafv2_web_acl.cloudfront",
    "aws_wafv2_web_acl_logging_configuration.cloudfront",
    "aws_kms_key.edge_us_east_1",
    "aws_cloudwatch_log_group.waf_cloudfront",
    "aws_cloudwatch_metric_alarm.waf_cloudfront_blocked_requests",
    "aws_sns_topic.edge_alarms",
}
BOTH_ACLS = {"cloudfront_enabled": True}


# ---- every option is a variable with a value in every stage file ----------------------------------------------


def test_every_edge_option_has_a_default_in_every_stage_file(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        settings = stage_settings(export.stage)
        assert set(settings) >= EDGE_STAGE_SETTINGS, export.stage
        for name in EDGE_VARIABLES & set(settings):
            assert export.default(name) == settings[name], name
    # Both switches are typed: Terraform refuses a value that is not a boolean before anything is planned.
    for name in ("waf_enabled", "waf_block_mode", "api_keys_required"):
        assert prod.variables[name]["type"] == "bool", name
    assert (prod.default("waf_enabled"), dev.default("waf_enabled")) == (True, False)
    assert prod.default("waf_block_mode") is True
    for export in (prod, dev):
        assert export.default("api_keys_required") is False and export.default("api_clients") == {}
        assert export.default("cors_allowed_origins") == []
        assert export.default("custom_domain_name") == export.default("route53_zone_id") == ""


# ---- WAF -------------------------------------------------------------------------------------------------------


def test_waf_is_on_in_prod_and_off_in_dev_by_default(prod: Export, dev: Export) -> None:
    assert Plan(prod).planned(*WAF_KINDS) == REGIONAL_WAF
    assert Plan(dev).planned(*WAF_KINDS) == set()
    assert Plan(prod, waf_enabled=False).planned(*WAF_KINDS) == set()
    assert Plan(dev, waf_enabled=True).planned(*WAF_KINDS) == REGIONAL_WAF


def test_waf_scopes_follow_the_front_door(prod: Export) -> None:
    # REST: the stage. CloudFront: the distribution too. HTTP API: only through CloudFront.
    assert Plan(prod, cloudfront_enabled=True).planned(*WAF_KINDS) == REGIONAL_WAF | CLOUDFRONT_WAF
    assert Plan(prod, api_type="HTTP", cloudfront_enabled=True).planned(*WAF_KINDS) == CLOUDFRONT_WAF
    assert Plan(prod, api_type="HTTP").planned(*WAF_KINDS) == set()


def test_the_distribution_carries_the_edge_acl_only_when_waf_is_on(prod: Export) -> None:
    distribution = Plan(prod, cloudfront_enabled=True).resource("aws_cloudfront_distribution", "api", 0)
    assert distribution["web_acl_id"] == "aws_wafv2_web_acl.cloudfront[0].arn"
    unprotected = Plan(prod, cloudfront_enabled=True, waf_enabled=False).resource(
        "aws_cloudfront_distribution", "api", 0
    )
    assert unprotected["web_acl_id"] is None


def test_edge_resources_live_in_us_east_1_through_one_provider_alias(prod: Export) -> None:
    providers = [
        settings for document in prod.files.values() for settings in document.get("provider", {}).get("aws", [])
    ]
    aliased = [provider for provider in providers if provider.get("alias") == "us_east_1"]
    assert len(aliased) == 1 and aliased[0]["region"] == "us-east-1"
    assert aliased[0]["default_tags"] == next(p for p in providers if "alias" not in p)["default_tags"]
    plan = Plan(prod, alarm_email="oncall@example.com", **BOTH_ACLS)
    for name in CLOUDFRONT_WAF | {"aws_sns_topic_subscription.edge_alarm_email"}:
        kind, key = name.split(".")
        assert plan.resource(kind, key, 0)["provider"] == "aws.us_east_1", name
    assert plan.resource("aws_wafv2_web_acl", "cloudfront", 0)["scope"] == "CLOUDFRONT"
    assert plan.resource("aws_wafv2_web_acl", "regional", 0)["scope"] == "REGIONAL"
    for name in REGIONAL_WAF:
        kind, key = name.split(".")
        assert "provider" not in plan.resource(kind, key, 0), name


def acls(plan: Plan) -> dict[str, dict[str, Any]]:
    return {scope: plan.resource("aws_wafv2_web_acl", scope, 0) for scope in ("regional", "cloudfront")}


def rules_of(acl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in acl["rule"]}


def test_both_acls_run_the_three_managed_groups_and_a_rate_rule_per_address(prod: Export) -> None:
    planned = acls(Plan(prod, **BOTH_ACLS))
    regional, edge = rules_of(planned["regional"]), rules_of(planned["cloudfront"])
    assert set(regional) == set(edge)
    for rules in (regional, edge):
        groups = {
            rule["statement"]["managed_rule_group_statement"]["name"]
            for rule in rules.values()
            if "managed_rule_group_statement" in rule["statement"]
        }
        assert groups == MANAGED_GROUPS
        (rate,) = [rule for rule in rules.values() if "rate_based_statement" in rule["statement"]]
        assert rate["statement"]["rate_based_statement"]["aggregate_key_type"] == "IP"
        priorities = [rule["priority"] for rule in rules.values()]
        assert len(set(priorities)) == len(priorities)
        for rule in rules.values():
            assert rule["visibility_config"]["cloudwatch_metrics_enabled"] is True
            assert rule["visibility_config"]["metric_name"] == rule["name"]
    for scope, acl in planned.items():
        assert acl["default_action"] == {"allow": {}}
        assert acl["visibility_config"]["metric_name"] == acl["name"], "the alarm's WebACL dimension"
        assert re.fullmatch(r"llm-scores-prod-[a-z]+", acl["name"]), scope


def rate_limits(plan: Plan) -> dict[str, Any]:
    return {
        scope: rules_of(acl)["rate-per-address"]["statement"]["rate_based_statement"]["limit"]
        for scope, acl in acls(plan).items()
    }


def test_rate_limit_leaves_headroom_over_a_user_and_is_lifted_at_the_stage_behind_cloudfront(prod: Export) -> None:
    limit = prod.default("waf_rate_limit_per_5_minutes")
    assert limit >= 5 * ONE_USER_PER_5_MINUTES
    for value, valid in ((99, False), (100, True), (limit, True), (1500.5, False)):
        assert Plan(prod, waf_rate_limit_per_5_minutes=value).valid("waf_rate_limit_per_5_minutes") is valid, value
    regional = Plan(prod).resource("aws_wafv2_web_acl", "regional", 0)
    assert rules_of(regional)["rate-per-address"]["statement"]["rate_based_statement"]["limit"] == limit
    # Behind CloudFront the stage sees edge addresses: a per-address limit there would throttle whole edges.
    assert rate_limits(Plan(prod, **BOTH_ACLS)) == {"regional": 2_000_000_000, "cloudfront": limit}


def actions(acl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each rule's action, or its override_action for a managed group."""
    return {rule["name"]: rule.get("action", rule.get("override_action")) for rule in acl["rule"]}


def test_block_mode_blocks_and_count_mode_only_counts(prod: Export) -> None:
    blocking, counting = acls(Plan(prod, **BOTH_ACLS)), acls(Plan(prod, waf_block_mode=False, **BOTH_ACLS))
    for scope, acl in blocking.items():
        for rule in acl["rule"]:
            # Exactly one of the two: WAF refuses a rule with both, or with neither.
            assert len({"action", "override_action"} & set(rule)) == 1, rule["name"]
            if "override_action" in rule:
                assert rule["override_action"] == {"none": {}}, rule["name"]
        assert all(action == {"count": {}} for action in actions(counting[scope]).values()), scope
        block = actions(acl)["rate-per-address"]["block"]["custom_response"]
        assert block["response_code"] == 429
        (body,) = [b for b in acl["custom_response_body"] if b["key"] == block["custom_response_body_key"]]
        assert json.loads(body["content"]) == {"message": "Too Many Requests"}, "API Gateway's own 429 body"
        assert body["content_type"] == "APPLICATION_JSON"
        # checkov 3.3 renders a dynamic block correctly only in an ACL's first `rule`; its Log4j check reads it.
        assert acl["rule"][0]["statement"]["managed_rule_group_statement"]["name"] == (
            "AWSManagedRulesKnownBadInputsRuleSet"
        )


def test_waf_logs_go_to_encrypted_aws_waf_logs_groups_with_credentials_redacted(prod: Export) -> None:
    plan = Plan(prod, **BOTH_ACLS)
    for scope, key_name in (("regional", "waf_logs"), ("cloudfront", "edge_us_east_1")):
        group = plan.resource("aws_cloudwatch_log_group", f"waf_{scope}", 0)
        assert group["name"].startswith("aws-waf-logs-llm-scores-prod"), "WAF logs only to groups named aws-waf-logs-*"
        assert group["retention_in_days"] == stage_settings("prod")["log_retention_days"]
        assert group["kms_key_id"] == f"aws_kms_key.{key_name}[0].arn"
        key = plan.resource("aws_kms_key", key_name, 0)
        assert key["enable_key_rotation"] is True
        (logs,) = [
            s for s in json.loads(key["policy"])["Statement"] if s["Sid"] == "CloudWatchLogsEncryptsTheWafLogGroup"
        ]
        # The key lets CloudWatch Logs encrypt exactly this group, in the group's own region.
        region = "us-east-1" if scope == "cloudfront" else "eu-west-1"
        arn = f"arn:aws:logs:{region}:123456789012:log-group:{group['name']}"
        assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == arn
        assert "kms:GenerateDataKey*" in logs["Action"]
        configuration = plan.resource("aws_wafv2_web_acl_logging_configuration", scope, 0)
        assert configuration["resource_arn"] == f"aws_wafv2_web_acl.{scope}[0].arn"
        assert configuration["log_destination_configs"] == [f"aws_cloudwatch_log_group.waf_{scope}[0].arn"]
        redacted = {field["single_header"]["name"] for field in configuration["redacted_fields"]}
        assert redacted == {"authorization", "cookie", "x-api-key"}
        kept = configuration["logging_filter"]["filter"]  # one filter block
        assert configuration["logging_filter"]["default_behavior"] == "DROP" and kept["behavior"] == "KEEP"
        kept_actions = {condition["action_condition"]["action"] for condition in kept["condition"]}
        assert {"BLOCK", "COUNT"} <= kept_actions and "ALLOW" not in kept_actions


def test_blocked_requests_alarms_read_what_waf_publishes_for_their_acl_and_notify_their_regions_topic(
    prod: Export,
) -> None:
    plan = Plan(prod, **BOTH_ACLS)
    planned_acls = acls(plan)
    for key, scope, topic in (
        ("waf_blocked_requests", "regional", "aws_sns_topic.alarms.arn"),
        ("waf_cloudfront_blocked_requests", "cloudfront", "aws_sns_topic.edge_alarms[0].arn"),
    ):
        alarm = plan.resource("aws_cloudwatch_metric_alarm", key, 0)
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic]
        queries = {query["id"]: query for query in alarm["metric_query"]}
        assert queries["blocked"]["metric"]["metric_name"] == "BlockedRequests"
        assert queries["allowed"]["metric"]["metric_name"] == "AllowedRequests"
        for metric in (queries["blocked"]["metric"], queries["allowed"]["metric"]):
            assert metric["namespace"] == "AWS/WAFV2" and metric["stat"] == "Sum" and metric["period"] == 300
            # The dimensions WAF publishes under: the ACL's metric name, every rule, and (regional only) the region.
            expected = {"WebACL": planned_acls[scope]["visibility_config"]["metric_name"], "Rule": "ALL"}
            assert metric["dimensions"] == expected | ({"Region": "eu-west-1"} if scope == "regional" else {})
        (returned,) = [query for query in alarm["metric_query"] if query["return_data"]]
        assert "blocked >= 50" in returned["expression"] and "100 * blocked" in returned["expression"]
        assert alarm["threshold"] == prod.default("waf_blocked_requests_alarm_percent")
        assert alarm["treat_missing_data"] == "notBreaching"
    assert plan.resource("aws_sns_topic", "edge_alarms", 0)["kms_master_key_id"] == "aws_kms_key.edge_us_east_1[0].arn"
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for name in ("-waf-blocked-requests", "-waf-cloudfront-blocked-requests"):
        assert f"`<prefix>{name}`" in runbook, f"the runbook covers {name}"


def test_a_stage_takes_one_web_acl_and_an_http_api_none(prod: Export) -> None:
    acl = "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"
    assert Plan(prod).refusals() == []
    assert Plan(prod, waf_enabled=False, web_acl_arn=acl).refusals() == []
    (both,) = Plan(prod, web_acl_arn=acl).refusals()
    assert "web_acl_arn" in both
    (http,) = Plan(prod, api_type="HTTP").refusals()
    assert "HTTP API" in http and "cloudfront_enabled" in http
    assert Plan(prod, api_type="HTTP", cloudfront_enabled=True).refusals() == []


# ---- API keys and usage plans ----------------------------------------------------------------------------------


def security_by_operation(plan: Plan) -> dict[tuple[str, str], Any]:
    """What the REST API's body, as planned, requires of each operation."""
    body = json.loads(plan.value("${local.api_body}"))
    return {
        (path, method): operation.get("security")
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }


def test_api_keys_are_off_by_default_and_no_method_requires_one(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        plan = Plan(export).knowing(APPLIED)
        body = json.loads(plan.value("${local.api_body}"))
        assert set(security_by_operation(plan).values()) == {None}
        assert "x-amazon-apigateway-api-key-source" not in body and "securityDefinitions" not in body
        assert plan.planned("aws_api_gateway_api_key", "aws_api_gateway_usage_plan") == set()


def test_required_keys_guard_every_get_and_head_but_no_preflight(prod: Export) -> None:
    plan = Plan(prod, **KEYS_ON).knowing(APPLIED)
    body = json.loads(plan.resource("aws_api_gateway_rest_api", "rest_api", 0)["body"])
    assert body["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert body["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    security = security_by_operation(plan)
    assert {method for _, method in security} == {"get", "head", "options"}
    for (path, method), required in security.items():
        expected: list[dict[str, list[str]]] | None = None if method == "options" else [{"api_key": []}]
        assert required == expected, (path, method)
    # Everything else in the body is Chalice's, unchanged.
    unkeyed = json.loads(Plan(prod).knowing(APPLIED).value("${local.api_body}"))
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            assert {k: v for k, v in operation.items() if k != "security"} == unkeyed["paths"][path][method]
    # A changed body is a new deployment: the stage picks the requirement up on the next apply.
    redeploy = plan.resource("aws_api_gateway_deployment", "rest_api", 0)["triggers"]["redeployment"]
    assert (
        redeploy
        != Plan(prod).knowing(APPLIED).resource("aws_api_gateway_deployment", "rest_api", 0)["triggers"]["redeployment"]
    )


def test_each_client_gets_a_key_and_a_usage_plan_with_its_quota_and_throttle(prod: Export) -> None:
    kinds = ("aws_api_gateway_api_key", "aws_api_gateway_usage_plan")
    plan = Plan(prod, **KEYS_ON)
    assert plan.planned(*kinds) == {
        "aws_api_gateway_api_key.client",
        "aws_api_gateway_usage_plan.client",
        "aws_api_gateway_usage_plan_key.client",
    }
    two_clients = {"api_keys_required": True, "api_clients": {"a": CLIENT, "b": CLIENT}}
    assert Plan(prod, **two_clients).instances()["aws_api_gateway_usage_plan.client"] == 2
    # An HTTP API has no usage plans: nothing is planned (and the plan refuses it).
    assert Plan(prod, api_type="HTTP", **KEYS_ON).planned(*kinds) == set()
    usage_plan = plan.resource("aws_api_gateway_usage_plan", "client", "acme")
    assert usage_plan["quota_settings"] == {"limit": 50000, "period": "DAY"}
    assert usage_plan["throttle_settings"] == {"rate_limit": 5, "burst_limit": 10}
    assert usage_plan["api_stages"] == {"api_id": "aws_api_gateway_rest_api.rest_api[0].id", "stage": "api"}
    link = plan.resource("aws_api_gateway_usage_plan_key", "client", "acme")
    assert (link["key_id"], link["key_type"]) == ("aws_api_gateway_api_key.client['acme'].id", "API_KEY")
    # A client given without limits gets these (Terraform's optional() defaults).
    client_type = prod.variables["api_clients"]["type"]
    for attribute, default in (("quota_per_day", 100000), ("rate_limit", 10), ("burst_limit", 20)):
        assert f"{attribute} = optional(number, {default})" in client_type


def test_api_clients_and_the_key_requirement_must_agree(prod: Export) -> None:
    assert Plan(prod, **KEYS_ON).refusals() == []
    (no_client,) = Plan(prod, api_keys_required=True).refusals()
    assert "403" in no_client
    (keys_ignored,) = Plan(prod, api_clients={"acme": CLIENT}).refusals()
    assert "do nothing" in keys_ignored
    http = Plan(prod, api_type="HTTP", waf_enabled=False, **KEYS_ON).refusals()
    assert len(http) == 1 and "usage plans" in http[0]
    cloudfront = Plan(prod, cloudfront_enabled=True, **KEYS_ON).refusals()
    assert any("x-api-key" in message for message in cloudfront), "a cached answer would reach clients without a key"


# ---- CORS ------------------------------------------------------------------------------------------------------


def test_cors_origins_reach_the_api_function_from_one_stage_variable(prod: Export, dev: Export) -> None:
    origins = ["https://scores.example.com", "http://localhost:3000"]
    for export in (prod, dev):
        plan = Plan(export, cors_allowed_origins=origins)
        api = plan.resource("aws_lambda_function", "api_handler")["environment"]["variables"]
        assert api["CORS_ALLOWED_ORIGINS"] == "https://scores.example.com,http://localhost:3000"
        warm_up = plan.resource("aws_lambda_function", "warm_up")["environment"]["variables"]
        assert "CORS_ALLOWED_ORIGINS" not in warm_up
        off = Plan(export).resource("aws_lambda_function", "api_handler")["environment"]["variables"]
        assert off["CORS_ALLOWED_ORIGINS"] == "", "no origin: the app answers preflights 405"


def test_cors_set_in_the_chalice_config_of_an_exported_stage_is_refused(raw_prod: dict[str, Any]) -> None:
    config = json.loads(export_terraform.CHALICE_CONFIG.read_text())
    assert "CORS_ALLOWED_ORIGINS" in config["stages"]["local"]["environment_variables"], "make run has CORS"
    # What Chalice packages when .chalice/config.json gives the stage CORS_ALLOWED_ORIGINS.
    template = json.loads(json.dumps(raw_prod))
    template["resource"]["aws_lambda_function"]["api_handler"]["environment"]["variables"]["CORS_ALLOWED_ORIGINS"] = (
        "https://a.example"
    )
    with pytest.raises(export_terraform.ExportError, match="cors_allowed_origins"):
        export_terraform.postprocess(template, "prod")


@pytest.mark.parametrize(
    ("origins", "valid"),
    [
        ([], True),
        (["*"], True),
        (["https://scores.example.com", "http://localhost:3000", "http://[::1]:8080"], True),
        (["https://scores.example.com/"], False),
        (["https://scores.example.com/app"], False),
        (["scores.example.com"], False),
        (["HTTPS://Scores.example.com"], False),
        (["*", "https://scores.example.com"], False),
    ],
)
def test_cors_origins_variable_accepts_origins_only(prod: Export, origins: list[str], valid: bool) -> None:
    assert Plan(prod, cors_allowed_origins=origins).valid("cors_allowed_origins") is valid


def test_every_route_has_an_options_operation_to_the_function(prod: Export) -> None:
    for path, operations in prod.swagger()["paths"].items():
        assert {"get", "head", "options"} <= set(operations), path
        integration = operations["options"]["x-amazon-apigateway-integration"]
        assert integration["uri"] == "${local.api_invoke_arn}" and integration["type"] == "aws_proxy"


def test_the_stage_cache_is_refused_with_listed_origins_but_not_with_any_origin(prod: Export) -> None:
    (refused,) = Plan(prod, api_cache_enabled=True, cors_allowed_origins=["https://a.example"]).refusals()
    assert "Access-Control-Allow-Origin" in refused
    assert Plan(prod, api_cache_enabled=True, cors_allowed_origins=["*"]).refusals() == []
    assert Plan(prod, api_cache_enabled=True).refusals() == []


# ---- custom domain ---------------------------------------------------------------------------------------------

DOMAIN_KINDS = (
    "aws_acm_certificate",
    "aws_route53_record.api_alias",
    "aws_api_gateway_domain_name",
    "aws_api_gateway_base_path_mapping",
    "aws_apigatewayv2_domain_name",
    "aws_apigatewayv2_api_mapping",
)
DOMAIN = {"custom_domain_name": "api.scores.example.com", "route53_zone_id": "Z0123456789ABCDEFGHIJ"}


def test_custom_domain_is_off_by_default_and_plans_nothing(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        assert Plan(export).planned(*DOMAIN_KINDS, "aws_route53_record.certificate_validation") == set()
        assert Plan(export).refusals() == []


def test_custom_domain_on_rest_maps_a_tls_1_2_regional_domain_to_the_stage(prod: Export) -> None:
    plan = Plan(prod, **DOMAIN)
    assert plan.planned(*DOMAIN_KINDS) == {
        "aws_acm_certificate.api",
        "aws_acm_certificate_validation.api",
        "aws_route53_record.api_alias",
        "aws_api_gateway_domain_name.api",
        "aws_api_gateway_base_path_mapping.api",
    }
    assert plan.instances()["aws_route53_record.api_alias"] == 2, "A and AAAA"
    # One validation record per name ACM asks for, which only the certificate's creation tells.
    assert plan.instances()["aws_route53_record.certificate_validation"] == -1
    assert plan.refusals() == []
    certificate = plan.resource("aws_acm_certificate", "api", 0)
    assert certificate["domain_name"] == DOMAIN["custom_domain_name"] and certificate["validation_method"] == "DNS"
    assert certificate["lifecycle"]["create_before_destroy"] is True
    domain = plan.resource("aws_api_gateway_domain_name", "api", 0)
    assert domain["security_policy"] == "TLS_1_2" and domain["endpoint_configuration"] == {"types": ["REGIONAL"]}
    assert domain["regional_certificate_arn"] == "aws_acm_certificate_validation.api[0].certificate_arn"
    mapping = plan.resource("aws_api_gateway_base_path_mapping", "api", 0)
    assert mapping["api_id"] == "aws_api_gateway_rest_api.rest_api[0].id"
    assert mapping["stage_name"] == "api"
    assert "base_path" not in mapping, "the API answers at https://<domain>/llms"


def test_custom_domain_on_http_maps_the_http_api(prod: Export) -> None:
    plan = Plan(prod, api_type="HTTP", waf_enabled=False, **DOMAIN)
    assert plan.planned(*DOMAIN_KINDS) == {
        "aws_acm_certificate.api",
        "aws_acm_certificate_validation.api",
        "aws_route53_record.api_alias",
        "aws_apigatewayv2_domain_name.api",
        "aws_apigatewayv2_api_mapping.api",
    }
    assert plan.resource("aws_apigatewayv2_domain_name", "api", 0)["domain_name_configuration"] == {
        "certificate_arn": "aws_acm_certificate_validation.api[0].certificate_arn",
        "endpoint_type": "REGIONAL",
        "security_policy": "TLS_1_2",
    }
    assert plan.resource("aws_apigatewayv2_api_mapping", "api", 0)["api_id"] == "aws_apigatewayv2_api.http[0].id"


@pytest.mark.parametrize(
    ("api_type", "domain"), [("REST", "aws_api_gateway_domain_name"), ("HTTP", "aws_apigatewayv2")]
)
def test_alias_records_point_at_the_active_front_doors_domain(prod: Export, api_type: str, domain: str) -> None:
    plan = Plan(prod, api_type=api_type, waf_enabled=False, **DOMAIN)
    for record_type in ("A", "AAAA"):
        record = plan.resource("aws_route53_record", "api_alias", record_type)
        assert (record["name"], record["type"]) == (DOMAIN["custom_domain_name"], record_type)
        assert record["zone_id"] == DOMAIN["route53_zone_id"]
        assert record["alias"]["evaluate_target_health"] is False
        assert domain in record["alias"]["name"] and domain in record["alias"]["zone_id"]


def test_custom_domain_needs_its_zone_and_is_refused_behind_cloudfront(prod: Export) -> None:
    (no_zone,) = Plan(prod, custom_domain_name=DOMAIN["custom_domain_name"]).refusals()
    (no_name,) = Plan(prod, route53_zone_id=DOMAIN["route53_zone_id"]).refusals()
    assert no_zone == no_name and "route53_zone_id" in no_zone
    (cloudfront,) = Plan(prod, cloudfront_enabled=True, **DOMAIN).refusals()
    assert "distribution" in cloudfront


@pytest.mark.parametrize(
    ("name", "valid"),
    [("", True), ("api.scores.example.com", True), ("*.example.com", False), ("API.example.com", False)],
)
def test_custom_domain_name_must_be_a_plain_host_name(prod: Export, name: str, valid: bool) -> None:
    assert Plan(prod, custom_domain_name=name).valid("custom_domain_name") is valid


# ---- how the files are written ---------------------------------------------------------------------------------


def edge_documents(export: Export) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("waf.tf", "api_keys.tf", "domain.tf"):
        yield name, export.files[name]


def test_dynamic_blocks_only_pick_waf_actions_and_for_each_resources_never_read_the_rest_api_directly(
    prod: Export,
) -> None:
    # checkov skips what sits in a dynamic block, so only WAF's action choice is one. The REST API and its stage
    # are gated with a count; a for_each resource must read them via a local.
    for _name, document in edge_documents(prod):
        for kind, resources in document.get("resource", {}).items():
            for key, body in resources.items():
                outside_rules = {field: value for field, value in body.items() if field != "rule"}
                assert '"dynamic"' not in json.dumps(outside_rules), f"{kind}.{key}"
                for rule in body.get("rule", []):
                    for field, value in rule.items():
                        if field not in ("action", "override_action"):
                            assert '"dynamic"' not in json.dumps(value), f"{kind}.{key}.{rule['name']}"
                if "for_each" in body:
                    assert "aws_api_gateway_rest_api." not in json.dumps(body), f"{kind}.{key}"
                    assert "aws_api_gateway_stage." not in json.dumps(body), f"{kind}.{key}"
