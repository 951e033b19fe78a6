"""Edge protection in the Terraform export: WAF, API keys with usage plans, CORS and a custom domain.

Each option is a variable, gated where the resources are written: their `count`, `for_each`, `dynamic`
blocks and preconditions are evaluated here with a small evaluator for the subset of Terraform
expressions they use, so "on" and "off" are checked without a Terraform binary or an AWS account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import export_terraform
from tests.terraform.support import Export, stage_settings

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


# ---- a small evaluator for the Terraform expressions that decide counts ---------------------------------------


class Unknown(Exception):
    """The expression reads something only Terraform knows at apply time (a resource attribute)."""


_TOKEN = re.compile(
    r'\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||==|!=|>=|<=|[!?:()<>\[\],{}.*])'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)*))"
)


class Expression:
    """Evaluates `${...}`: literals, var./local. references, ! && || == != < > >= <=, a ? b : c, and a few functions."""

    FUNCTIONS = {
        "length": len,
        "contains": lambda collection, value: value in collection,
        "toset": lambda values: frozenset(values),
    }

    def __init__(self, export: Export, variables: dict[str, Any]) -> None:
        self.export = export
        self.variables = variables

    def value(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        match = re.fullmatch(r"\$\{(.*)\}", text, flags=re.DOTALL)
        if not match:
            # A template such as "aws-waf-logs-${local.name_prefix}": each interpolation rendered as text.
            return re.sub(r"\$\{[^{}]*\}", lambda part: str(self.value(part[0])), text)
        return _Parser(self, match[1]).parse()

    def reference(self, name: str) -> Any:
        head, _, rest = name.partition(".")
        if head == "var":
            return self.variables[rest]
        if head == "local" and "." not in rest:
            return self.value(self.export.locals[rest])
        raise Unknown(name)


class _Parser:
    """One expression's tokens, parsed and evaluated together; only the branch of a conditional that is taken."""

    def __init__(self, expression: Expression, source: str) -> None:
        found = [match for match in _TOKEN.finditer(source) if match.group(0).strip()]
        if re.sub(r"\s", "", "".join(match.group(0) for match in found)) != re.sub(r"\s", "", source):
            raise Unknown(source)  # something this evaluator does not tokenize (=>, +, for expressions)
        self.expression = expression
        self.tokens = [(match.lastgroup or "", match.group(match.lastgroup or 0)) for match in found]
        self.position = 0

    def parse(self) -> Any:
        result = self._conditional()
        if self.position != len(self.tokens):
            raise Unknown(str(self.tokens))
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise Unknown(f"expected {expected}, got the end")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise Unknown(f"expected {expected}, got {token[1]}")
        self.position += 1
        return token

    def _conditional(self) -> Any:
        condition = self._or()
        if self._peek() != "?":
            return condition
        self._take("?")
        if condition:
            result = self._conditional()
            self._take(":")
            self._skip()
            return result
        self._skip()
        self._take(":")
        return self._conditional()

    def _skip(self) -> None:
        """Moves past one conditional operand without evaluating it: the branch Terraform does not take."""
        depth = 0
        while self.position < len(self.tokens):
            token = self._peek()
            if token in ("(", "[", "{"):
                depth += 1
            elif token in (")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1
            elif depth == 0 and token in (":", ","):
                return
            elif depth == 0 and token == "?":
                self._take("?")
                self._skip()
                self._take(":")
                continue
            self.position += 1

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left or right
        return left

    def _and(self) -> Any:
        left = self._comparison()
        while self._peek() == "&&":
            self._take()
            right = self._comparison()
            left = left and right
        return left

    COMPARISONS = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
    }

    def _comparison(self) -> Any:
        left = self._unary()
        operator = self._peek()
        if operator in self.COMPARISONS:
            self._take()
            return self.COMPARISONS[operator](left, self._unary())
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not self._unary()
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "string":
            return json.loads(text)
        if text == "(":
            result = self._conditional()
            self._take(")")
            return result
        if text == "[":
            return self._items("]")
        if text == "{":
            self._take("}")
            return {}
        if text in ("true", "false"):
            return text == "true"
        if self._peek() == "(" and text in Expression.FUNCTIONS:
            self._take("(")
            return Expression.FUNCTIONS[text](*self._items(")"))
        return self.expression.reference(text)

    def _items(self, closing: str) -> list[Any]:
        items = []
        while self._peek() != closing:
            items.append(self._conditional())
            if self._peek() == ",":
                self._take()
        self._take(closing)
        return items


def variables_of(export: Export, **overrides: Any) -> dict[str, Any]:
    values = {name: export.default(name) for name in export.variables}
    unknown = set(overrides) - set(values)
    assert not unknown, f"undeclared variables {unknown}"
    return {**values, **overrides}


def instances(export: Export, **overrides: Any) -> dict[str, int]:
    """`kind.key` -> how many instances Terraform would plan, for the stage defaults with `overrides`."""
    evaluator = Expression(export, variables_of(export, **overrides))
    planned = {}
    for kind, key, body in export.all_resources():
        try:
            if "count" in body:
                number = int(evaluator.value(body["count"]))
            elif "for_each" in body:
                number = len(evaluator.value(body["for_each"]))
            else:
                number = 1
        except (Unknown, KeyError):
            number = -1  # keyed on a resource attribute, or an expression beyond this evaluator
        planned[f"{kind}.{key}"] = number
    return planned


def refusals(export: Export, **overrides: Any) -> list[str]:
    """The error messages of every precondition of terraform_data.edge_options that fails."""
    evaluator = Expression(export, variables_of(export, **overrides))
    guard = export.resources("terraform_data")["edge_options"]
    return [
        precondition["error_message"]
        for precondition in guard["lifecycle"]["precondition"]
        if not evaluator.value(precondition["condition"])
    ]


def test_the_evaluator_reads_what_the_counts_use(prod: Export) -> None:
    evaluate = Expression(prod, variables_of(prod, api_type="HTTP")).value
    assert evaluate('${var.api_type == "REST" ? (local.waf_regional_enabled ? 1 : 0) : 0}') == 0
    assert evaluate("aws-waf-logs-${local.name_prefix}") == "aws-waf-logs-llm-scores-prod"
    assert evaluate('${!(var.waf_enabled && var.api_type == "HTTP")}') is False
    assert evaluate("${length(var.api_clients) > 0}") is False
    assert evaluate('${contains(["*"], "*") ? toset(["A", "AAAA"]) : toset([])}') == {"A", "AAAA"}
    assert evaluate('${var.api_type == "HTTP" ? 1 : one(aws_api_gateway_stage.api[*].arn)}') == 1
    with pytest.raises(Unknown):
        evaluate("${aws_wafv2_web_acl.regional[0].arn}")


# ---- exports ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out = tmp_path_factory.mktemp("edge-prod")
    export_terraform.export("prod", out)
    return Export("prod", out)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out = tmp_path_factory.mktemp("edge-dev")
    export_terraform.export("dev", out)
    return Export("dev", out)


def planned(export: Export, kinds: tuple[str, ...], **overrides: Any) -> set[str]:
    planned_instances = instances(export, **overrides)
    unknown = {name for name, number in planned_instances.items() if number < 0 and name.startswith(kinds)}
    assert unknown <= {"aws_route53_record.certificate_validation"}, f"not evaluated: {unknown}"
    return {name for name, number in planned_instances.items() if number > 0 and name.startswith(kinds)}


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
    assert planned(prod, WAF_KINDS) == REGIONAL_WAF
    assert planned(dev, WAF_KINDS) == set()
    assert planned(prod, WAF_KINDS, waf_enabled=False) == set()
    assert planned(dev, WAF_KINDS, waf_enabled=True) == REGIONAL_WAF


def test_waf_scopes_follow_the_front_door(prod: Export) -> None:
    # REST: the stage. CloudFront: the distribution too. HTTP API: only through CloudFront.
    assert planned(prod, WAF_KINDS, cloudfront_enabled=True) == REGIONAL_WAF | CLOUDFRONT_WAF
    assert planned(prod, WAF_KINDS, api_type="HTTP", cloudfront_enabled=True) == CLOUDFRONT_WAF
    assert planned(prod, WAF_KINDS, api_type="HTTP") == set()


def test_cloudfront_reads_the_edge_acl_from_a_local_that_is_null_when_off(prod: Export) -> None:
    assert prod.locals["cloudfront_web_acl_arn"] == "${one(aws_wafv2_web_acl.cloudfront[*].arn)}"
    distribution = prod.resources("aws_cloudfront_distribution")["api"]
    assert distribution["web_acl_id"] == "${local.cloudfront_web_acl_arn}"


def test_edge_resources_live_in_us_east_1_through_one_provider_alias(prod: Export) -> None:
    providers = [
        settings for document in prod.files.values() for settings in document.get("provider", {}).get("aws", [])
    ]
    aliased = [provider for provider in providers if provider.get("alias") == "us_east_1"]
    assert len(aliased) == 1 and aliased[0]["region"] == "us-east-1"
    assert aliased[0]["default_tags"] == next(p for p in providers if "alias" not in p)["default_tags"]
    for name in CLOUDFRONT_WAF | {"aws_sns_topic_subscription.edge_alarm_email"}:
        kind, key = name.split(".")
        assert prod.resources(kind)[key]["provider"] == "aws.us_east_1", name
    assert prod.resources("aws_wafv2_web_acl")["cloudfront"]["scope"] == "CLOUDFRONT"
    assert prod.resources("aws_wafv2_web_acl")["regional"]["scope"] == "REGIONAL"
    for name in REGIONAL_WAF:
        kind, key = name.split(".")
        assert "provider" not in prod.resources(kind)[key], name


def rules_of(acl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in acl["rule"]}


def test_both_acls_run_the_three_managed_groups_and_a_rate_rule_per_address(prod: Export) -> None:
    acls = prod.resources("aws_wafv2_web_acl")
    regional, edge = rules_of(acls["regional"]), rules_of(acls["cloudfront"])
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
    for key, acl in acls.items():
        assert acl["default_action"] == {"allow": {}}
        assert acl["visibility_config"]["metric_name"] == acl["name"], "the alarm's WebACL dimension"
        assert re.fullmatch(r"\$\{local\.name_prefix\}-[a-z]+", acl["name"]), key


def test_rate_limit_leaves_headroom_over_a_user_and_is_lifted_at_the_stage_behind_cloudfront(prod: Export) -> None:
    limit = prod.default("waf_rate_limit_per_5_minutes")
    assert limit >= 5 * ONE_USER_PER_5_MINUTES
    (validation,) = prod.variables["waf_rate_limit_per_5_minutes"]["validation"]
    assert ">= 100" in validation["condition"] and "floor(" in validation["condition"]
    acls = prod.resources("aws_wafv2_web_acl")
    edge_rate = rules_of(acls["cloudfront"])["rate-per-address"]["statement"]["rate_based_statement"]
    assert edge_rate["limit"] == "${var.waf_rate_limit_per_5_minutes}"
    regional_rate = rules_of(acls["regional"])["rate-per-address"]["statement"]["rate_based_statement"]
    assert regional_rate["limit"] == "${local.waf_regional_rate_limit}"
    evaluate = Expression(prod, variables_of(prod)).value
    assert evaluate("${local.waf_regional_rate_limit}") == limit
    # Behind CloudFront the stage sees edge addresses: a per-address limit there would throttle whole edges.
    behind_cloudfront = Expression(prod, variables_of(prod, cloudfront_enabled=True)).value
    assert behind_cloudfront("${local.waf_regional_rate_limit}") == 2_000_000_000


def rendered_actions(export: Export, rule: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The rule's action (or override_action) as Terraform renders its `dynamic` blocks for these variables."""
    evaluator = Expression(export, variables_of(export, **overrides))
    (kind,) = {"action", "override_action"} & set(rule)
    rendered = {}
    for dynamic in rule[kind]["dynamic"]:
        ((label, block),) = dynamic.items()
        if evaluator.value(block["for_each"]):
            rendered[label] = block["content"]
    return rendered


def test_block_mode_blocks_and_count_mode_only_counts(prod: Export) -> None:
    for acl in prod.resources("aws_wafv2_web_acl").values():
        rules = rules_of(acl)
        for rule in rules.values():
            # Exactly one of the two: WAF refuses a rule with both, or with neither.
            assert len({"action", "override_action"} & set(rule)) == 1, rule["name"]
            blocking, counting = rendered_actions(prod, rule), rendered_actions(prod, rule, waf_block_mode=False)
            assert counting == {"count": {}}, rule["name"]
            if "override_action" in rule:
                assert blocking == {"none": {}}, rule["name"]
        block = rendered_actions(prod, rules["rate-per-address"])["block"]["custom_response"]
        assert block["response_code"] == 429
        (body,) = [b for b in acl["custom_response_body"] if b["key"] == block["custom_response_body_key"]]
        assert json.loads(body["content"]) == {"message": "Too Many Requests"}, "API Gateway's own 429 body"
        assert body["content_type"] == "APPLICATION_JSON"
        # checkov 3.3 renders a dynamic block correctly only in an ACL's first `rule`; its Log4j check reads it.
        assert acl["rule"][0]["statement"]["managed_rule_group_statement"]["name"] == (
            "AWSManagedRulesKnownBadInputsRuleSet"
        )


def test_waf_logs_go_to_encrypted_aws_waf_logs_groups_with_credentials_redacted(prod: Export) -> None:
    groups = prod.resources("aws_cloudwatch_log_group")
    configurations = prod.resources("aws_wafv2_web_acl_logging_configuration")
    for scope, key_name in (("regional", "waf_logs"), ("cloudfront", "edge_us_east_1")):
        group = groups[f"waf_{scope}"]
        name = Expression(prod, variables_of(prod)).value(group["name"])
        assert name.startswith("aws-waf-logs-llm-scores-prod"), "WAF logs only to groups named aws-waf-logs-*"
        assert group["retention_in_days"] == "${var.log_retention_days}"
        assert group["kms_key_id"] == "${aws_kms_key." + key_name + "[0].arn}"
        key = prod.resources("aws_kms_key")[key_name]
        assert key["enable_key_rotation"] is True
        policy = prod.locals[key["policy"].removeprefix("${jsonencode(local.").removesuffix(")}")]
        (logs,) = [s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogsEncryptsTheWafLogGroup"]
        arn = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
        assert arn.endswith(":log-group:" + group["name"])
        assert "kms:GenerateDataKey*" in logs["Action"]
        configuration = configurations[scope]
        assert configuration["resource_arn"] == "${aws_wafv2_web_acl." + scope + "[0].arn}"
        assert configuration["log_destination_configs"] == ["${aws_cloudwatch_log_group.waf_" + scope + "[0].arn}"]
        redacted = {field["single_header"]["name"] for field in configuration["redacted_fields"]}
        assert redacted == {"authorization", "cookie", "x-api-key"}
        kept = configuration["logging_filter"]["filter"]  # one filter block
        assert configuration["logging_filter"]["default_behavior"] == "DROP" and kept["behavior"] == "KEEP"
        actions = {condition["action_condition"]["action"] for condition in kept["condition"]}
        assert {"BLOCK", "COUNT"} <= actions and "ALLOW" not in actions


def test_blocked_requests_alarms_notify_a_topic_in_their_own_region(prod: Export) -> None:
    alarms = prod.resources("aws_cloudwatch_metric_alarm")
    regional, edge = alarms["waf_blocked_requests"], alarms["waf_cloudfront_blocked_requests"]
    assert regional["alarm_actions"] == regional["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
    assert edge["alarm_actions"] == edge["ok_actions"] == ["${aws_sns_topic.edge_alarms[0].arn}"]
    assert prod.resources("aws_sns_topic")["edge_alarms"]["kms_master_key_id"] == "${aws_kms_key.edge_us_east_1[0].arn}"
    for alarm, acl, extra in ((regional, "regional", {"Region"}), (edge, "cloudfront", set())):
        queries = {query["id"]: query for query in alarm["metric_query"]}
        assert queries["blocked"]["metric"]["metric_name"] == "BlockedRequests"
        assert queries["allowed"]["metric"]["metric_name"] == "AllowedRequests"
        for metric in (queries["blocked"]["metric"], queries["allowed"]["metric"]):
            assert metric["namespace"] == "AWS/WAFV2" and metric["stat"] == "Sum" and metric["period"] == 300
            # CloudFront-scoped ACLs publish without a Region dimension; regional ones with it.
            assert set(metric["dimensions"]) == {"WebACL", "Rule"} | extra
            assert metric["dimensions"]["Rule"] == "ALL"
            assert metric["dimensions"]["WebACL"] == "${aws_wafv2_web_acl." + acl + "[0].name}"
        (returned,) = [query for query in alarm["metric_query"] if query["return_data"]]
        assert "blocked >= 50" in returned["expression"] and "100 * blocked" in returned["expression"]
        assert alarm["threshold"] == "${var.waf_blocked_requests_alarm_percent}"
        assert alarm["treat_missing_data"] == "notBreaching"
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for name in ("-waf-blocked-requests", "-waf-cloudfront-blocked-requests"):
        assert f"`<prefix>{name}`" in runbook, f"the runbook covers {name}"


def test_a_stage_takes_one_web_acl_and_an_http_api_none(prod: Export) -> None:
    assert refusals(prod) == []
    assert refusals(prod, waf_enabled=False, web_acl_arn="arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y") == []
    (both,) = refusals(prod, web_acl_arn="arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y")
    assert "web_acl_arn" in both
    (http,) = refusals(prod, api_type="HTTP")
    assert "HTTP API" in http and "cloudfront_enabled" in http
    assert refusals(prod, api_type="HTTP", cloudfront_enabled=True) == []


# ---- API keys and usage plans ----------------------------------------------------------------------------------


def security_by_operation(export: Export, with_api_keys: bool = False) -> dict[tuple[str, str], Any]:
    return {
        (path, method): operation.get("security")
        for path, operations in export.swagger(with_api_keys)["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
    }


def test_api_keys_are_off_by_default_and_no_method_requires_one(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        swagger = export.swagger()
        assert set(security_by_operation(export).values()) == {None}
        assert "x-amazon-apigateway-api-key-source" not in swagger and "securityDefinitions" not in swagger
        assert planned(export, ("aws_api_gateway_api_key", "aws_api_gateway_usage_plan")) == set()


def test_required_keys_guard_every_get_and_head_but_no_preflight(prod: Export) -> None:
    # The REST API serves the keyed body exactly when var.api_keys_required is true.
    assert prod.chalice["resource"]["aws_api_gateway_rest_api"]["rest_api"]["body"] == "${local.api_body}"
    assert prod.locals["api_body"] == (
        "${var.api_keys_required ? local.chalice_api_swagger_with_api_keys : local.chalice_api_swagger}"
    )
    swagger = prod.swagger(with_api_keys=True)
    assert swagger["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert swagger["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    security = security_by_operation(prod, with_api_keys=True)
    assert {method for _, method in security} == {"get", "head", "options"}
    for (path, method), required in security.items():
        expected = None if method == "options" else [{"api_key": []}]
        assert required == expected, (path, method)
    # A changed body is a new deployment: the stage picks the requirement up on the next apply.
    deployment = prod.resources("aws_api_gateway_deployment")["rest_api"]
    assert deployment["triggers"] == {"redeployment": "${sha1(local.api_body)}"}


def test_each_client_gets_a_key_and_a_usage_plan_with_its_quota_and_throttle(prod: Export) -> None:
    kinds = ("aws_api_gateway_api_key", "aws_api_gateway_usage_plan")
    assert planned(prod, kinds, **KEYS_ON) == {
        "aws_api_gateway_api_key.client",
        "aws_api_gateway_usage_plan.client",
        "aws_api_gateway_usage_plan_key.client",
    }
    two_clients = {"api_keys_required": True, "api_clients": {"a": CLIENT, "b": {}}}
    assert instances(prod, **two_clients)["aws_api_gateway_usage_plan.client"] == 2
    # An HTTP API has no usage plans: nothing is planned (and the guard refuses it).
    assert planned(prod, kinds, **KEYS_ON, api_type="HTTP") == set()
    plan = prod.resources("aws_api_gateway_usage_plan")["client"]
    assert plan["quota_settings"] == {"limit": "${each.value.quota_per_day}", "period": "DAY"}
    assert plan["throttle_settings"] == {
        "rate_limit": "${each.value.rate_limit}",
        "burst_limit": "${each.value.burst_limit}",
    }
    assert plan["api_stages"] == {
        "api_id": "${local.usage_plan_stage.api_id}",
        "stage": "${local.usage_plan_stage.stage}",
    }
    assert prod.locals["usage_plan_stage"]["api_id"] == "${one(aws_api_gateway_rest_api.rest_api[*].id)}"
    link = prod.resources("aws_api_gateway_usage_plan_key")["client"]
    assert link["key_id"] == "${aws_api_gateway_api_key.client[each.key].id}" and link["key_type"] == "API_KEY"
    client_type = prod.variables["api_clients"]["type"]
    for attribute, default in (("quota_per_day", 100000), ("rate_limit", 10), ("burst_limit", 20)):
        assert f"{attribute} = optional(number, {default})" in client_type


def test_api_clients_and_the_key_requirement_must_agree(prod: Export) -> None:
    assert refusals(prod, **KEYS_ON) == []
    (no_client,) = refusals(prod, api_keys_required=True)
    assert "403" in no_client
    (keys_ignored,) = refusals(prod, api_clients={"acme": CLIENT})
    assert "do nothing" in keys_ignored
    http = refusals(prod, **KEYS_ON, api_type="HTTP", waf_enabled=False)
    assert len(http) == 1 and "usage plans" in http[0]
    (cloudfront,) = refusals(prod, **KEYS_ON, cloudfront_enabled=True)
    assert "x-api-key" in cloudfront, "a cached answer would reach clients without a key"


# ---- CORS ------------------------------------------------------------------------------------------------------


def test_cors_origins_reach_the_function_from_one_stage_variable(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        functions = export.resources("aws_lambda_function")
        assert functions["api_handler"]["environment"]["variables"]["CORS_ALLOWED_ORIGINS"] == (
            '${join(",", var.cors_allowed_origins)}'
        )
        assert "CORS_ALLOWED_ORIGINS" not in functions["warm_up"]["environment"]["variables"]
        assert export.variables["cors_allowed_origins"]["type"] == "list(string)"


def test_cors_set_in_the_chalice_config_of_an_exported_stage_is_refused(tmp_path: Path, monkeypatch) -> None:
    config = json.loads(export_terraform.CHALICE_CONFIG.read_text())
    assert "CORS_ALLOWED_ORIGINS" in config["stages"]["local"]["environment_variables"], "make run has CORS"
    config["stages"]["prod"]["environment_variables"]["CORS_ALLOWED_ORIGINS"] = "https://a.example"
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(export_terraform, "CHALICE_CONFIG", tmp_path / "config.json")
    template = {"resource": {"aws_lambda_function": {"api_handler": {"environment": {"variables": {}}}}}}
    with pytest.raises(export_terraform.ExportError, match="cors_allowed_origins"):
        export_terraform.pass_cors_origins(template, "prod")


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
    (validation,) = prod.variables["cors_allowed_origins"]["validation"]
    condition = validation["condition"]
    (pattern,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    regex = re.compile(json.loads(f'"{pattern}"'))
    accepted = all(origin == "*" or regex.fullmatch(origin) for origin in origins) and (
        "*" not in origins or len(origins) == 1
    )
    assert accepted is valid
    assert 'contains(var.cors_allowed_origins, \\"*\\")' in json.dumps(condition)


def test_every_route_has_an_options_operation_to_the_function(prod: Export) -> None:
    for path, operations in prod.swagger()["paths"].items():
        assert {"get", "head", "options"} <= set(operations), path
        integration = operations["options"]["x-amazon-apigateway-integration"]
        assert integration["uri"] == "${local.api_invoke_arn}" and integration["type"] == "aws_proxy"


def test_the_stage_cache_is_refused_with_listed_origins_but_not_with_any_origin(prod: Export) -> None:
    (refused,) = refusals(prod, api_cache_enabled=True, cors_allowed_origins=["https://a.example"])
    assert "Access-Control-Allow-Origin" in refused
    assert refusals(prod, api_cache_enabled=True, cors_allowed_origins=["*"]) == []
    assert refusals(prod, api_cache_enabled=True) == []


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
        assert planned(export, DOMAIN_KINDS) == set()
        assert refusals(export) == []


def test_custom_domain_on_rest_maps_a_tls_1_2_regional_domain_to_the_stage(prod: Export) -> None:
    assert planned(prod, DOMAIN_KINDS, **DOMAIN) == {
        "aws_acm_certificate.api",
        "aws_acm_certificate_validation.api",
        "aws_route53_record.api_alias",
        "aws_api_gateway_domain_name.api",
        "aws_api_gateway_base_path_mapping.api",
    }
    assert instances(prod, **DOMAIN)["aws_route53_record.api_alias"] == 2, "A and AAAA"
    assert refusals(prod, **DOMAIN) == []
    certificate = prod.resources("aws_acm_certificate")["api"]
    assert certificate["validation_method"] == "DNS" and certificate["lifecycle"]["create_before_destroy"] is True
    validation_records = prod.resources("aws_route53_record")["certificate_validation"]
    assert "aws_acm_certificate.api[*].domain_validation_options" in validation_records["for_each"]
    assert validation_records["zone_id"] == "${var.route53_zone_id}"
    validation = prod.resources("aws_acm_certificate_validation")["api"]
    assert "aws_route53_record.certificate_validation" in validation["validation_record_fqdns"]
    domain = prod.resources("aws_api_gateway_domain_name")["api"]
    assert domain["security_policy"] == "TLS_1_2" and domain["endpoint_configuration"] == {"types": ["REGIONAL"]}
    assert domain["regional_certificate_arn"] == "${aws_acm_certificate_validation.api[0].certificate_arn}"
    mapping = prod.resources("aws_api_gateway_base_path_mapping")["api"]
    assert mapping["api_id"] == "${aws_api_gateway_rest_api.rest_api[0].id}"
    assert mapping["stage_name"] == "${aws_api_gateway_stage.api[0].stage_name}"
    assert "base_path" not in mapping, "the API answers at https://<domain>/llms"


def test_custom_domain_on_http_maps_the_http_api(prod: Export) -> None:
    assert planned(prod, DOMAIN_KINDS, api_type="HTTP", waf_enabled=False, **DOMAIN) == {
        "aws_acm_certificate.api",
        "aws_acm_certificate_validation.api",
        "aws_route53_record.api_alias",
        "aws_apigatewayv2_domain_name.api",
        "aws_apigatewayv2_api_mapping.api",
    }
    domain = prod.resources("aws_apigatewayv2_domain_name")["api"]["domain_name_configuration"]
    assert domain == {
        "certificate_arn": "${aws_acm_certificate_validation.api[0].certificate_arn}",
        "endpoint_type": "REGIONAL",
        "security_policy": "TLS_1_2",
    }
    mapping = prod.resources("aws_apigatewayv2_api_mapping")["api"]
    assert mapping["api_id"] == "${aws_apigatewayv2_api.http[0].id}"


def test_alias_records_point_at_the_active_front_doors_domain(prod: Export) -> None:
    alias = prod.resources("aws_route53_record")["api_alias"]
    assert alias["type"] == "${each.key}" and alias["name"] == "${var.custom_domain_name}"
    assert alias["alias"]["evaluate_target_health"] is False
    target = prod.locals["custom_domain_target"]
    assert "aws_api_gateway_domain_name.api[*].regional_domain_name" in target
    assert "aws_api_gateway_domain_name.api[*].regional_zone_id" in target
    assert "aws_apigatewayv2_domain_name.api[*].domain_name_configuration[0].target_domain_name" in target
    assert "aws_apigatewayv2_domain_name.api[*].domain_name_configuration[0].hosted_zone_id" in target


def test_custom_domain_needs_its_zone_and_is_refused_behind_cloudfront(prod: Export) -> None:
    (no_zone,) = refusals(prod, custom_domain_name=DOMAIN["custom_domain_name"])
    (no_name,) = refusals(prod, route53_zone_id=DOMAIN["route53_zone_id"])
    assert no_zone == no_name and "route53_zone_id" in no_zone
    (cloudfront,) = refusals(prod, cloudfront_enabled=True, **DOMAIN)
    assert "distribution" in cloudfront


@pytest.mark.parametrize(
    ("name", "valid"),
    [("", True), ("api.scores.example.com", True), ("*.example.com", False), ("API.example.com", False)],
)
def test_custom_domain_name_must_be_a_plain_host_name(prod: Export, name: str, valid: bool) -> None:
    (validation,) = prod.variables["custom_domain_name"]["validation"]
    (pattern,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', validation["condition"])
    regex = re.compile(json.loads(f'"{pattern}"'))
    assert (name == "" or bool(regex.fullmatch(name))) is valid


# ---- references ------------------------------------------------------------------------------------------------


def edge_documents(export: Export) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("waf.tf", "api_keys.tf", "domain.tf"):
        yield name, export.files[name]


def test_dynamic_blocks_only_pick_waf_actions_and_for_each_resources_never_read_the_rest_api_directly(
    prod: Export,
) -> None:
    # The REST API and its stage are gated with a count; a for_each resource must read them via a local.
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
