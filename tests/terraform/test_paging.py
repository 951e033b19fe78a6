"""Paging that reaches a person: two severities, their topics and subscriptions, every alarm's severity and runbook
link, the availability SLO counting throttled requests, and the alarms that became shares instead of counts.

Read as the plan holds them (`support.Plan`; infra/terraform/paging.tf, observability.tf, slo.tf, scaling.tf,
waf.tf). An alarm's metric math is evaluated as CloudWatch would for one period, on sample counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.planning import cost_model
from tests.terraform.support import Export, Plan

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
ALARM_KINDS = ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm")
PAGE_TOPIC = "aws_sns_topic.page.arn"
# Route 53 publishes health-check metrics in us-east-1 only, so the outside probe pages through a us-east-1 topic.
PAGE_TOPICS = {PAGE_TOPIC, "aws_sns_topic.page_us_east_1.arn"}
TICKET_TOPICS = {"aws_sns_topic.alarms.arn", "aws_sns_topic.edge_alarms[0].arn"}
DESCRIPTION = re.compile(r"^(PAGE|TICKET|SILENT): .+ Runbook: docs/operations\.md#(?P<anchor>[a-z0-9-]+)$", re.DOTALL)
# The paging set of issue 19: the SLO burn-rate page composites and "the API is down". Nothing else wakes a person.
PAGING_SET = {
    "aws_cloudwatch_composite_alarm.slo_availability_page",
    "aws_cloudwatch_composite_alarm.slo_latency_page",
    "aws_cloudwatch_metric_alarm.api_down",
    "aws_cloudwatch_metric_alarm.probe",
}
# Every option that plans an alarm of its own, so that together these plans hold every alarm the configuration has.
EVERY_OPTION = {
    "cloudfront_enabled": True,
    "waf_enabled": True,
    "enable_live_alias": True,
    "provisioned_concurrency": 2,
}


def metric_math(expression: str, **series: float | None) -> float:
    """A CloudWatch metric-math expression for one period: IF, FILL, arithmetic and comparisons."""
    functions = {"IF": lambda condition, a, b: a if condition else b, "FILL": lambda v, d: d if v is None else v}
    return float(eval(expression, {"__builtins__": {}}, {**functions, **series}))  # our own expressions, no builtins


def alarms(plan: Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ALARM_KINDS:
        yield from plan.every(kind)


def plans(prod: Export, dev: Export) -> list[Plan]:
    return [Plan(prod), Plan(dev), Plan(prod, **EVERY_OPTION)]


def runbook_anchors() -> set[str]:
    # An entry is a heading with an explicit anchor: the Alarms section's, and the edge-protection alarm's.
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>\n#{3,4} ', RUNBOOK.read_text()))


def returned_expression(planned_alarm: dict[str, Any]) -> str:
    (returned,) = [query for query in planned_alarm["metric_query"] if query.get("return_data")]
    return str(returned["expression"])


def queries(planned_alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["id"]: query for query in planned_alarm["metric_query"]}


# ---- severities, topics, runbook links ---------------------------------------------------------------------------


def test_every_alarm_names_its_severity_and_links_an_existing_runbook_entry(prod: Export, dev: Export) -> None:
    anchors = runbook_anchors()
    checked = 0
    for plan in plans(prod, dev):
        for address, planned in alarms(plan):
            match = DESCRIPTION.match(planned["alarm_description"])
            assert match, f"{address}: {planned['alarm_description']!r}"
            assert match["anchor"] in anchors, f"{address} links #{match['anchor']}, which docs/operations.md lacks"
            assert len(planned["alarm_description"]) <= 1024, f"{address}: PutMetricAlarm caps descriptions at 1024"
            checked += 1
    assert checked > 40  # every alarm of three plans, the SLO windows included


def test_each_severity_notifies_its_own_topic_and_silent_alarms_notify_nobody(prod: Export, dev: Export) -> None:
    for plan in plans(prod, dev):
        for address, planned in alarms(plan):
            severity = planned["alarm_description"].split(":", 1)[0]
            actions = set(planned.get("alarm_actions", [])) | set(planned.get("ok_actions", []))
            if severity == "PAGE":
                assert len(actions) == 1 and actions <= PAGE_TOPICS, address
            elif severity == "TICKET":
                assert actions and actions <= TICKET_TOPICS, address
            else:
                assert actions == set(), address


def test_only_the_slo_pages_and_api_down_reach_the_page_topic(prod: Export, dev: Export) -> None:
    for plan in plans(prod, dev):
        paging = {
            address.split("[")[0]
            for address, planned in alarms(plan)
            if PAGE_TOPICS & set(planned.get("alarm_actions", []) + planned.get("ok_actions", []))
        }
        assert paging == PAGING_SET


def test_every_runbook_entry_has_an_alarm(prod: Export, dev: Export) -> None:
    linked = {
        DESCRIPTION.match(planned["alarm_description"])["anchor"]  # type: ignore[index]
        for plan in plans(prod, dev)
        for _, planned in alarms(plan)
    }
    assert runbook_anchors() == linked


def test_the_ticket_composites_follow_slo_ticket_topic_arn_and_the_pages_never_do(prod: Export) -> None:
    elsewhere = "arn:aws:sns:eu-west-1:123456789012:tickets"
    plan = Plan(prod, slo_ticket_topic_arn=elsewhere)
    for slo in ("availability", "latency"):
        ticket = plan.resource("aws_cloudwatch_composite_alarm", f"slo_{slo}_ticket")
        page = plan.resource("aws_cloudwatch_composite_alarm", f"slo_{slo}_page")
        assert ticket["alarm_actions"] == [elsewhere]
        assert page["alarm_actions"] == [PAGE_TOPIC]


def test_both_topics_are_encrypted_with_the_observability_key(prod: Export) -> None:
    plan = Plan(prod)
    for key in ("page", "alarms"):
        assert plan.resource("aws_sns_topic", key)["kms_master_key_id"] == "aws_kms_key.observability.arn"
    us_east_1 = plan.resource("aws_sns_topic", "page_us_east_1")
    assert us_east_1["kms_master_key_id"] == "aws_kms_key.probe_us_east_1.arn"
    assert plan.resource("aws_kms_key", "probe_us_east_1")["enable_key_rotation"] is True


# ---- the probe from outside -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "host", "path"),
    [
        ({}, "local.api_endpoint_url", "/api/health?deep=true"),
        ({"api_type": "HTTP", "waf_enabled": False}, "local.api_endpoint_url", "/health?deep=true"),
        ({"cloudfront_enabled": True}, "aws_cloudfront_distribution.api[0].domain_name", "/health?deep=true"),
        ({"custom_domain_name": "api.example.com", "route53_zone_id": "Z1"}, "api.example.com", "/health?deep=true"),
    ],
)
def test_the_probe_checks_the_public_urls_deep_health_from_outside(
    prod: Export, variables: dict[str, Any], host: str, path: str
) -> None:
    plan = Plan(prod, **variables)
    check = plan.resource("aws_route53_health_check", "probe")
    # What only an apply knows stays a reference; the custom domain is known at plan.
    assert host in str(check["fqdn"])
    assert (check["type"], check["port"], check["resource_path"]) == ("HTTPS_STR_MATCH", 443, path)
    assert check["search_string"] == '"status"' and check["enable_sni"] is True
    assert check["request_interval"] <= 300  # at least every 5 minutes
    assert len(check["regions"]) >= 3


def test_the_probe_pages_after_3_failing_minutes_and_when_it_goes_silent(prod: Export) -> None:
    plan = Plan(prod, page_email_addresses=["oncall@example.com"])
    alarm = plan.resource("aws_cloudwatch_metric_alarm", "probe")
    assert alarm["provider"] == "aws.us_east_1"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == (
        "AWS/Route53",
        "HealthCheckStatus",
        "Minimum",
    )
    assert alarm["dimensions"] == {"HealthCheckId": "aws_route53_health_check.probe.id"}
    assert (alarm["period"] * alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (180, 3)
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["treat_missing_data"] == "breaching"
    subscription = plan.resource("aws_sns_topic_subscription", "page_us_east_1", "page email oncall@example.com")
    assert subscription["topic_arn"] == "aws_sns_topic.page_us_east_1.arn"


def test_subscriptions_come_from_the_stage_variables_per_severity(prod: Export) -> None:
    plan = Plan(
        prod,
        page_email_addresses=["oncall@example.com"],
        page_https_endpoints=["https://events.pagerduty.com/integration/abc/enqueue"],
        ticket_email_addresses=["team@example.com"],
        ticket_https_endpoints=["https://tickets.example.com/hook"],
        cloudfront_enabled=True,
    )
    subscriptions = {
        (planned["protocol"], planned["endpoint"]): planned
        for _, planned in plan.every("aws_sns_topic_subscription")
        if planned["topic_arn"] in {PAGE_TOPIC, "aws_sns_topic.alarms.arn"}
    }
    assert {key: planned["topic_arn"] for key, planned in subscriptions.items()} == {
        ("email", "oncall@example.com"): PAGE_TOPIC,
        ("https", "https://events.pagerduty.com/integration/abc/enqueue"): PAGE_TOPIC,
        ("email", "team@example.com"): "aws_sns_topic.alarms.arn",
        ("https", "https://tickets.example.com/hook"): "aws_sns_topic.alarms.arn",
    }
    # A pager's events URL confirms its own subscription; an email address must click the link.
    assert subscriptions[("https", "https://tickets.example.com/hook")]["endpoint_auto_confirms"] is True
    assert subscriptions[("email", "team@example.com")]["endpoint_auto_confirms"] is False
    # CloudFront's WAF alarm notifies the us-east-1 topic: the ticket subscribers hear it there, the pager does not.
    edge = [planned for address, planned in plan.every("aws_sns_topic_subscription") if "edge_ticket" in address]
    assert {planned["endpoint"] for planned in edge} == {"team@example.com", "https://tickets.example.com/hook"}


def test_no_subscription_without_stage_values(prod: Export, dev: Export) -> None:
    for export in (prod, dev):
        assert Plan(export).instances()["aws_sns_topic_subscription.alarm"] == 0


@pytest.mark.parametrize("variable", ["page_https_endpoints", "ticket_https_endpoints"])
def test_https_endpoints_must_be_https(prod: Export, variable: str) -> None:
    assert not Plan(prod, **{variable: ["http://events.example.com"]}).valid(variable)
    assert Plan(prod, **{variable: ["https://events.example.com"]}).valid(variable)


# ---- what the availability SLO counts -----------------------------------------------------------------------------


def test_the_access_log_metric_counts_only_the_stages_429s(prod: Export) -> None:
    plan = Plan(prod)
    metric_filter = plan.resource("aws_cloudwatch_log_metric_filter", "stage_throttled_requests")
    assert metric_filter["log_group_name"] == "/aws/apigateway/llm-scores-prod/access"
    assert metric_filter["pattern"] == '{ $.status = "429" }'
    transformation = metric_filter["metric_transformation"]
    assert (transformation["namespace"], transformation["name"]) == (
        "LLMScores/llm-scores-prod",
        "StageThrottledRequests",
    )
    # The pattern compares a string: both access-log formats write status as a JSON string.
    for local in ("api_access_log_format", "http_api_access_log_format"):
        log_format = plan.value("${local." + local + "}")
        assert json.loads(json.dumps(log_format))["status"] == "$context.status"


@pytest.mark.parametrize("window", ["page-fast-1h", "ticket-3d"])
def test_availability_burn_rate_counts_throttled_requests_and_not_waf_blocks(prod: Export, window: str) -> None:
    plan = Plan(prod, slo_availability_target_percent=99.9, slo_burn_rate_min_requests=100)
    planned = plan.resource("aws_cloudwatch_metric_alarm", "slo_availability_burn_rate", window)
    throttled = queries(planned)["throttled"]["metric"]
    assert (throttled["namespace"], throttled["metric_name"], throttled["stat"]) == (
        "LLMScores/llm-scores-prod",
        "StageThrottledRequests",
        "Sum",
    )
    assert throttled["period"] == queries(planned)["requests"]["metric"]["period"]
    expression = returned_expression(planned)
    # 144 failures in 100,000 requests at 99.9 % burn 1.44x, whether they were 5xx or 429.
    assert metric_math(expression, requests=100_000, errors=144, throttled=0) == pytest.approx(1.44)
    assert metric_math(expression, requests=100_000, errors=0, throttled=144) == pytest.approx(1.44)
    assert metric_math(expression, requests=100_000, errors=100, throttled=44) == pytest.approx(1.44)
    # Throttling alone can page: 2 % of requests refused burns 20x, over the fast page's 14.4.
    assert metric_math(expression, requests=100_000, errors=None, throttled=2_000) > 14.4
    # WAF blocks are neither metric: a window of blocked requests and no failures burns nothing.
    assert not {"blocked", "waf"} & set(queries(planned))
    assert metric_math(expression, requests=100_000, errors=None, throttled=None) == 0


def test_api_down_pages_on_the_failed_share_of_each_minute(prod: Export) -> None:
    planned = Plan(prod, api_down_alarm_percent=50, api_down_min_requests=20).resource(
        "aws_cloudwatch_metric_alarm", "api_down"
    )
    assert {query["metric"]["period"] for query in planned["metric_query"] if "metric" in query} == {60}
    assert (planned["evaluation_periods"], planned["datapoints_to_alarm"], planned["threshold"]) == (3, 3, 50)
    assert planned["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    expression = returned_expression(planned)
    assert metric_math(expression, requests=1_000, errors=300, throttled=200) == pytest.approx(50)
    assert metric_math(expression, requests=1_000, errors=10, throttled=None) == pytest.approx(1)
    # Below the minimum, 1 failure in 2 requests is not an outage.
    assert metric_math(expression, requests=2, errors=1, throttled=None) == 0


# ---- shares, not counts ---------------------------------------------------------------------------------------


def test_count_alarms_open_tickets_and_never_page(prod: Export) -> None:
    # 5 5xx in 5 minutes or one function error is noise at 3,000 users: a ticket, never the pager.
    plan = Plan(prod)
    for key in ("api_5xx", "api_function_errors", "api_function_throttles", "dynamodb_throttles"):
        planned = plan.resource("aws_cloudwatch_metric_alarm", key)
        assert planned["alarm_description"].startswith("TICKET: "), key
        assert planned["alarm_actions"] == ["aws_sns_topic.alarms.arn"], key


def test_spillover_is_only_a_share_of_the_alias_invocations(prod: Export) -> None:
    plan = Plan(prod, enable_live_alias=True, provisioned_concurrency=2)
    instances = plan.instances()
    assert "aws_cloudwatch_metric_alarm.provisioned_concurrency_spillover" not in instances
    planned = plan.resource("aws_cloudwatch_metric_alarm", "provisioned_concurrency_spillover_ratio", 0)
    expression = returned_expression(planned)
    assert metric_math(expression, invocations=10_000, spillover=1_000) == pytest.approx(10)
    assert metric_math(expression, invocations=10_000, spillover=None) == 0


def test_the_cost_models_standby_prices_every_alarm_metric_and_composite_of_prods_export(prod: Export) -> None:
    """A standby region runs prod's export, so `make cost` prices its alarms: one per metric each reads."""
    plan = Plan(prod)
    priced_elsewhere = {"aws_cloudwatch_metric_alarm.probe", "aws_cloudwatch_metric_alarm.waf_blocked_requests[0]"}
    metrics = sum(
        1 if "metric_name" in alarm else sum(1 for query in alarm["metric_query"] if "metric" in query)
        for address, alarm in plan.every("aws_cloudwatch_metric_alarm")
        if address not in priced_elsewhere
    )
    composites = len(list(plan.every("aws_cloudwatch_composite_alarm")))
    assert (metrics, composites) == (cost_model.STACK_ALARM_METRICS, cost_model.STACK_COMPOSITE_ALARMS)
