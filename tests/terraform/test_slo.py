"""SLOs and their burn-rate alerts, the ratio alarms, business-hours provisioned concurrency, saved queries.

Read as the plan holds them (`support.Plan`, infra/terraform/slo.tf, scaling.tf, queries.tf): no Terraform binary,
no AWS. Counts and preconditions are evaluated for each option on and off; an alarm's metric-math expression, as
planned, is evaluated on sample numbers, as CloudWatch would for one period.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.support import Export, Plan, emitted_metric_names, stage_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
NEW_FILES = ("slo.tf", "scaling.tf", "queries.tf")
SRE_WORKBOOK_BURN_RATES = {"page-fast": 14.4, "page-slow": 6, "ticket": 1}
WINDOWS = ("page-fast-1h", "page-fast-5m", "page-slow-6h", "page-slow-30m", "ticket-3d", "ticket-6h")
SCHEDULE_ON = {
    "provisioned_concurrency_schedule_enabled": True,
    "provisioned_concurrency": 0,
    "enable_live_alias": True,
}


def metric_math(expression: str, **series: float | None) -> float:
    """A CloudWatch metric-math expression for one period: IF, FILL, arithmetic and comparisons."""
    functions = {"IF": lambda condition, a, b: a if condition else b, "FILL": lambda v, d: d if v is None else v}
    return float(eval(expression, {"__builtins__": {}}, {**functions, **series}))  # our own expressions, no builtins


def reserved_concurrency(stage: str) -> int:
    return int(CONFIG["stages"][stage]["reserved_concurrency"])


def alarm(plan: Plan, key: str, instance: Any = None) -> dict[str, Any]:
    return plan.resource("aws_cloudwatch_metric_alarm", key, instance)


def queries(planned_alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["id"]: query for query in planned_alarm["metric_query"]}


def returned_expression(planned_alarm: dict[str, Any]) -> str:
    (returned,) = [query for query in planned_alarm["metric_query"] if query.get("return_data")]
    return str(returned["expression"])


# ---- SLOs: burn-rate windows and alarms ----------------------------------------------------------------------------


def test_burn_rate_thresholds_are_the_sre_workbooks_for_a_30_day_budget(prod: Export) -> None:
    plan = Plan(prod)
    assert plan.value("${local.slo_period_seconds}") == 30 * 24 * 3600
    assert plan.value("${local.slo_burn_rates}") == pytest.approx(SRE_WORKBOOK_BURN_RATES)
    # Multiply first and divide by 100 last: one rounding, so Terraform prints 14.4, not 14.4000...01.
    assert plan.value("${local.slo_burn_rates}")["page-fast"] == 14.4
    alerts = plan.value("${local.slo_burn_rate_alerts}")
    assert {name: alert["notify"] for name, alert in alerts.items()} == {
        "page-fast": "page",
        "page-slow": "page",
        "ticket": "ticket",
    }


def test_each_alert_has_a_long_and_a_short_window_alarm_for_each_slo(prod: Export) -> None:
    plan = Plan(prod)
    alerts = plan.value("${local.slo_burn_rate_alerts}")
    burn_rates = plan.value("${local.slo_burn_rates}")
    for name, alert in alerts.items():
        assert alert["short_window_seconds"] * 4 <= alert["long_window_seconds"], name
    for slo in ("availability", "latency"):
        assert plan.instances()[f"aws_cloudwatch_metric_alarm.slo_{slo}_burn_rate"] == len(WINDOWS)
        for window in WINDOWS:
            planned = alarm(plan, f"slo_{slo}_burn_rate", window)
            alert_name, size = (
                window.rsplit("-", 1)[0],
                "long" if window in ("page-fast-1h", "page-slow-6h", "ticket-3d") else "short",
            )
            assert planned["alarm_name"] == f"llm-scores-prod-slo-{slo}-{window}"
            assert planned["threshold"] == burn_rates[alert_name]
            seconds = alerts[alert_name][f"{size}_window_seconds"]
            assert {query["metric"]["period"] for query in planned["metric_query"] if "metric" in query} == {seconds}
            assert (planned["comparison_operator"], planned["evaluation_periods"], planned["datapoints_to_alarm"]) == (
                "GreaterThanThreshold",
                1,
                1,
            )
            assert planned["treat_missing_data"] == "notBreaching"
            # Building blocks: only the composite alarms notify.
            assert "alarm_actions" not in planned and "ok_actions" not in planned


def test_every_window_is_one_period_cloudwatch_accepts_for_an_alarm(prod: Export) -> None:
    # PutMetricAlarm: a multiple of 60 s; Period x EvaluationPeriods up to 7 days when the period is at least an
    # hour, and up to 1 day below that.
    for key, window in Plan(prod).value("${local.slo_burn_rate_windows}").items():
        seconds = window["seconds"]
        assert seconds % 60 == 0, key
        assert seconds <= (7 * 86400 if seconds >= 3600 else 86400), key
    assert Plan(prod).value("${local.slo_burn_rate_windows}")["ticket-3d"]["seconds"] == 3 * 86400


def test_availability_burn_rate_is_the_5xx_share_over_the_targets_error_budget(prod: Export) -> None:
    plan = Plan(prod, slo_availability_target_percent=99.9, slo_burn_rate_min_requests=100)
    planned = alarm(plan, "slo_availability_burn_rate", "page-fast-1h")
    # The stage's 429s come from the access log (test_paging.py holds them); the rest are API Gateway's.
    metrics = {
        key: query["metric"] for key, query in queries(planned).items() if "metric" in query and key != "throttled"
    }
    api_metrics = plan.value("${local.api_metrics}")
    assert (metrics["requests"]["metric_name"], metrics["errors"]["metric_name"]) == ("Count", "5XXError")
    for metric in metrics.values():
        assert metric["namespace"] == "AWS/ApiGateway" and metric["stat"] == "Sum"
        assert metric["dimensions"] == api_metrics["dimensions"]
    expression = returned_expression(planned)
    # 0.144 % of requests failing at 99.9 % burns 1.44x: a tenth of the fast page's 14.4.
    assert metric_math(expression, requests=100_000, errors=144, throttled=None) == pytest.approx(1.44)
    assert metric_math(expression, requests=1_000, errors=15, throttled=None) == pytest.approx(15)
    assert metric_math(expression, requests=1_000, errors=None, throttled=None) == 0
    # Below the minimum a single error would be a 100x burn; the window is not judged.
    assert metric_math(expression, requests=10, errors=1, throttled=None) == 0
    at_99 = alarm(Plan(prod, slo_availability_target_percent=99.0), "slo_availability_burn_rate", "page-fast-1h")
    assert metric_math(returned_expression(at_99), requests=1000, errors=15, throttled=None) == pytest.approx(1.5)


def test_latency_burn_rate_uses_the_percentile_rank_of_api_latency_within_the_threshold(prod: Export) -> None:
    plan = Plan(prod, slo_latency_target_percent=99, slo_latency_threshold_ms=300)
    planned = alarm(plan, "slo_latency_burn_rate", "page-slow-30m")
    within = queries(planned)["within"]["metric"]
    assert (within["namespace"], within["metric_name"]) == ("AWS/ApiGateway", "Latency")
    assert within["dimensions"] == plan.value("${local.api_metrics}")["dimensions"]
    # PR(:300): the percentage of data points <= 300 (lower bound exclusive, upper inclusive).
    assert within["stat"] == "PR(:300)"
    # The AWS provider's statistic pattern, which a metric_query stat must match.
    provider_stat = re.compile(
        r"^((p|(tm)|(wm)|(tc)|(ts))((\d{1,2}(\.\d{1,2})?)|(100))|(IQM)|(((TM)|(WM)|(PR)|(TC)|(TS)))"
        r"\((\d+(\.\d+)?%?)?:(\d+(\.\d+)?%?)?\))$"
    )
    assert provider_stat.match(within["stat"])
    assert queries(planned)["requests"]["metric"]["metric_name"] == "Count"
    expression = returned_expression(planned)
    assert metric_math(expression, requests=5000, within=98.5) == pytest.approx(1.5)
    assert metric_math(expression, requests=5000, within=100) == 0
    assert metric_math(expression, requests=50, within=0) == 0


def test_composites_page_on_fast_or_slow_burn_and_ticket_on_the_three_day_burn(prod: Export) -> None:
    plan = Plan(prod)
    composites = dict(plan.every("aws_cloudwatch_composite_alarm"))
    assert set(composites) == {
        "aws_cloudwatch_composite_alarm.slo_availability_page",
        "aws_cloudwatch_composite_alarm.slo_availability_ticket",
        "aws_cloudwatch_composite_alarm.slo_latency_page",
        "aws_cloudwatch_composite_alarm.slo_latency_ticket",
    }
    for slo in ("availability", "latency"):
        window = f"llm-scores-prod-slo-{slo}-%s"
        both = '(ALARM("{}") AND ALARM("{}"))'.format
        page = composites[f"aws_cloudwatch_composite_alarm.slo_{slo}_page"]
        assert page["alarm_rule"] == " OR ".join(
            [
                both(window % "page-fast-1h", window % "page-fast-5m"),
                both(window % "page-slow-6h", window % "page-slow-30m"),
            ]
        )
        ticket = composites[f"aws_cloudwatch_composite_alarm.slo_{slo}_ticket"]
        assert ticket["alarm_rule"] == both(window % "ticket-3d", window % "ticket-6h")
        assert page["alarm_actions"] == page["ok_actions"] == ["aws_sns_topic.page.arn"]
        assert ticket["alarm_actions"] == ticket["ok_actions"] == ["aws_sns_topic.alarms.arn"]
        assert page["alarm_description"].startswith("PAGE:") and ticket["alarm_description"].startswith("TICKET:")
        assert page["alarm_name"] == f"llm-scores-prod-slo-{slo}-page"


def test_tickets_go_to_their_own_topic_when_one_is_given_and_to_the_alarm_topic_otherwise(prod: Export) -> None:
    given = "arn:aws:sns:eu-west-1:1:tickets"
    for topic, expected in (("", "aws_sns_topic.alarms.arn"), (given, given)):
        plan = Plan(prod, slo_ticket_topic_arn=topic)
        ticket = plan.resource("aws_cloudwatch_composite_alarm", "slo_latency_ticket")
        assert ticket["alarm_actions"] == [expected]
        assert plan.resource("aws_cloudwatch_composite_alarm", "slo_latency_page")["alarm_actions"] == [
            "aws_sns_topic.page.arn"
        ]


def test_slo_targets_are_per_stage_defaults_that_validation_keeps_between_0_and_100(exports: dict[str, Export]) -> None:
    expected = {"dev": (99.0, 95.0), "prod": (99.9, 99.0)}
    for stage, exported in exports.items():
        targets = (exported.default("slo_availability_target_percent"), exported.default("slo_latency_target_percent"))
        assert targets == expected[stage]
        assert exported.default("slo_latency_threshold_ms") == 300
        for variable in ("slo_availability_target_percent", "slo_latency_target_percent"):
            assert stage_settings(stage)[variable] == exported.default(variable)
            assert Plan(exported, **{variable: 99.95}).valid(variable)
            assert not Plan(exported, **{variable: 100}).valid(variable)
            assert not Plan(exported, **{variable: 0}).valid(variable)
        assert not Plan(exported, slo_latency_threshold_ms=0).valid("slo_latency_threshold_ms")
        assert not Plan(exported, slo_latency_threshold_ms=2.5).valid("slo_latency_threshold_ms")
        assert not Plan(exported, slo_burn_rate_min_requests=0).valid("slo_burn_rate_min_requests")


@pytest.mark.parametrize("api_type", ["REST", "HTTP"])
def test_api_slos_read_the_active_api_types_metrics(prod: Export, api_type: str) -> None:
    # One metric source for both front doors (local.api_metrics); test_front_door.py holds each to what it publishes.
    text = (ROOT / "infra" / "terraform" / "slo.tf").read_text()
    for hard_coded in ("5XXError", '5xx"', "ApiName", "ApiId", "AWS/ApiGateway", '"Count"', '"Latency"'):
        assert hard_coded not in text, hard_coded
    plan = Plan(prod, api_type=api_type, waf_enabled=api_type == "REST")
    api_metrics = plan.value("${local.api_metrics}")
    for key in ("slo_availability_burn_rate", "slo_latency_burn_rate"):
        for query in alarm(plan, key, "ticket-3d")["metric_query"]:
            if "metric" in query and query["id"] != "throttled":
                assert query["metric"]["namespace"] == api_metrics["namespace"]
                assert query["metric"]["metric_name"] in {
                    api_metrics[name] for name in ("requests", "errors_5xx", "latency")
                }


def test_alarms_on_the_apps_counters_read_metrics_the_app_emits_summed(prod: Export) -> None:
    # Counters are summed per EMF batch, so SampleCount counts batches, not events.
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    service = CONFIG["stages"]["prod"]["environment_variables"]["POWERTOOLS_SERVICE_NAME"]
    keys = {
        key for name in NEW_FILES for key in prod.files[name].get("resource", {}).get("aws_cloudwatch_metric_alarm", {})
    }
    read = []
    for address, planned in Plan(prod).every("aws_cloudwatch_metric_alarm"):
        if address.split(".")[1].split("[")[0] not in keys:
            continue
        for query in planned.get("metric_query", []):
            metric = query.get("metric")
            if metric and metric["namespace"] == namespace:
                assert metric["stat"] == "Sum" and metric["dimensions"] == {"service": service}, address
                read.append(metric["metric_name"])
    assert sorted(read) == ["CacheHit", "CacheMiss", "CacheStale"]
    assert set(read) <= emitted_metric_names()


def test_cache_hit_ratio_alarm_judges_hits_among_all_lookups_once_there_are_enough(prod: Export) -> None:
    planned = alarm(Plan(prod, ratio_alarm_min_requests=100), "cache_hit_ratio")
    names = {key: query["metric"]["metric_name"] for key, query in queries(planned).items() if "metric" in query}
    assert names == {"hit": "CacheHit", "miss": "CacheMiss", "stale": "CacheStale"}
    assert (planned["comparison_operator"], planned["threshold"]) == ("LessThanThreshold", 90)
    assert planned["alarm_actions"] == planned["ok_actions"] == ["aws_sns_topic.alarms.arn"]
    lookups = queries(planned)["lookups"]["expression"]
    share = returned_expression(planned)

    def hit_share(hit: float | None, miss: float | None, stale: float | None) -> float:
        total = metric_math(lookups, hit=hit, miss=miss, stale=stale)
        return metric_math(share, hit=hit, lookups=total)

    assert hit_share(800, 150, 50) == pytest.approx(80)
    assert hit_share(1000, None, None) == 100
    assert hit_share(None, 500, None) == 0
    assert hit_share(5, 50, None) == 100  # too few lookups to judge


def test_dashboard_shows_both_slos_and_the_error_budget_left(prod: Export) -> None:
    body = prod.resources("aws_cloudwatch_dashboard")["service"]["dashboard_body"]
    assert body.endswith(").widgets, local.slo_dashboard_widgets)})}"), "appended after the template's widgets"
    plan = Plan(prod, slo_availability_target_percent=99.9, slo_latency_target_percent=99)
    widgets = plan.value("${local.slo_dashboard_widgets}")
    single = {
        w["properties"]["title"]: w["properties"] for w in widgets if w["properties"].get("view") == "singleValue"
    }
    assert set(single) == {"Availability SLO, last 30 days", "Latency SLO, last 30 days"}
    for properties in single.values():
        assert properties["start"] == "-P30D" and properties["setPeriodToTimeRange"] is True
    expressions = {
        title: {row[-1]["id"]: row[-1]["expression"] for row in p["metrics"] if "expression" in row[-1]}
        for title, p in single.items()
    }
    availability = expressions["Availability SLO, last 30 days"]
    latency = expressions["Latency SLO, last 30 days"]
    # 0.05 % failed at 99.9 %: half of the budget is left.
    assert metric_math(availability["budget_left"], errors=50, throttled=None, requests=100_000) == pytest.approx(50)
    assert metric_math(availability["availability"], errors=30, throttled=20, requests=100_000) == pytest.approx(99.95)
    assert metric_math(latency["budget_left"], within=99.75) == pytest.approx(75)
    latency_metrics = [row for row in single["Latency SLO, last 30 days"]["metrics"] if row[-1].get("id") == "within"]
    assert [row[-1]["stat"] for row in latency_metrics] == ["PR(:300)"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"aws_cloudwatch_composite_alarm.{key}.arn" for key in prod.resources("aws_cloudwatch_composite_alarm")
    )
    # Appended to the service dashboard after the template's widgets.
    applied = {
        f"aws_cloudwatch_composite_alarm.{key}.arn": key for key in prod.resources("aws_cloudwatch_composite_alarm")
    }
    rendered = json.loads(plan.knowing(applied).resource("aws_cloudwatch_dashboard", "service")["dashboard_body"])
    assert [w["properties"].get("title") for w in rendered["widgets"][-len(widgets) :]] == [
        w["properties"].get("title") for w in widgets
    ]
    (burn,) = [w for w in widgets if "burn rate" in w["properties"]["title"]]
    lines = {line["label"]: line["value"] for line in burn["properties"]["annotations"]["horizontal"]}
    assert lines == {"page-fast (page)": 14.4, "page-slow (page)": 6, "ticket (ticket)": 1}
    for widget in widgets:
        assert {"width", "height"} <= set(widget) and not {"x", "y"} & set(widget)


def test_slo_and_ratio_alarm_names_and_descriptions_fit_cloudwatch(exports: dict[str, Export]) -> None:
    for exported in exports.values():
        plan = Plan(
            exported, provisioned_concurrency_schedule_enabled=True, enable_live_alias=True, provisioned_concurrency=0
        )
        for kind in ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm"):
            for address, planned in plan.every(kind):
                assert re.fullmatch(rf"llm-scores-{exported.stage}-[a-z0-9-]+", planned["alarm_name"]), address
                assert len(planned["alarm_name"]) <= 255 and len(planned["alarm_description"]) <= 1024, address


# ---- capacity: concurrency and spillover ratios --------------------------------------------------------------------


def test_concurrency_alarm_fires_at_the_configured_share_of_reserved_concurrency(exports: dict[str, Export]) -> None:
    for exported in exports.values():
        plan = Plan(exported)
        planned = alarm(plan, "api_function_concurrency")
        (metric,) = [query["metric"] for query in planned["metric_query"] if "metric" in query]
        assert (metric["namespace"], metric["metric_name"], metric["stat"]) == (
            "AWS/Lambda",
            "ConcurrentExecutions",
            "Maximum",
        )
        assert metric["dimensions"] == {"FunctionName": f"llm-scores-{exported.stage}"}
        reserved = reserved_concurrency(exported.stage)
        assert metric_math(returned_expression(planned), concurrency=reserved * 0.8) == pytest.approx(80)
        assert planned["threshold"] == exported.default("concurrency_alarm_threshold_percent") == 80
        assert planned["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert plan.refusals() == []
    # A stage that reserves no concurrency (Lambda reports -1) is refused: the alarm would divide by it.
    unreserved = Export("prod", exports["prod"].directory)
    unreserved.files["chalice.tf.json"]["resource"]["aws_lambda_function"]["api_handler"] = {
        **exports["prod"].resources("aws_lambda_function")["api_handler"],
        "reserved_concurrent_executions": -1,
    }
    (refused,) = Plan(unreserved).refusals("aws_cloudwatch_metric_alarm.")
    assert "reserved_concurrency" in refused


@pytest.mark.parametrize(
    ("alias", "static", "scheduled", "expected"),
    [(True, 2, False, 1), (True, 0, True, 1), (True, 0, False, 0), (False, 0, False, 0)],
)
def test_spillover_ratio_alarm_exists_whenever_the_alias_has_provisioned_concurrency(
    prod: Export, alias: bool, static: int, scheduled: bool, expected: int
) -> None:
    plan = Plan(
        prod,
        enable_live_alias=alias,
        provisioned_concurrency=static,
        provisioned_concurrency_schedule_enabled=scheduled,
        ratio_alarm_min_requests=100,
    )
    assert plan.instances()["aws_cloudwatch_metric_alarm.provisioned_concurrency_spillover_ratio"] == expected
    if not expected:
        return
    planned = alarm(plan, "provisioned_concurrency_spillover_ratio", 0)
    for query in planned["metric_query"]:
        if "metric" in query:
            assert query["metric"]["dimensions"]["Resource"] == "llm-scores-prod:live"
    expression = returned_expression(planned)
    assert metric_math(expression, invocations=1000, spillover=150) == pytest.approx(15)
    assert metric_math(expression, invocations=1000, spillover=None) == 0
    assert metric_math(expression, invocations=20, spillover=20) == 0


# ---- business-hours provisioned concurrency ------------------------------------------------------------------------

SCHEDULING = ("aws_appautoscaling_target.", "aws_appautoscaling_scheduled_action.")


def test_business_hours_schedule_is_off_by_default_and_in_both_stages(exports: dict[str, Export]) -> None:
    for stage, exported in exports.items():
        assert exported.default("provisioned_concurrency_schedule_enabled") is False
        assert stage_settings(stage)["provisioned_concurrency_schedule_enabled"] is False
        assert Plan(exported).planned(*SCHEDULING) == set()
        assert Plan(exported, provisioned_concurrency_schedule_enabled=True).planned(*SCHEDULING) == {
            "aws_appautoscaling_target.provisioned_concurrency",
            "aws_appautoscaling_scheduled_action.business_hours_start",
            "aws_appautoscaling_scheduled_action.business_hours_end",
        }


def test_business_hours_schedule_moves_the_aliases_provisioned_concurrency_between_two_levels(prod: Export) -> None:
    plan = Plan(
        prod,
        provisioned_concurrency_business_hours=7,
        provisioned_concurrency_off_hours=1,
        provisioned_concurrency_schedule_timezone="Europe/Berlin",
        **SCHEDULE_ON,
    )
    target = plan.resource("aws_appautoscaling_target", "provisioned_concurrency", 0)
    assert (target["service_namespace"], target["scalable_dimension"]) == (
        "lambda",
        "lambda:function:ProvisionedConcurrency",
    )
    assert target["resource_id"] == "function:llm-scores-prod:live"
    assert target["depends_on"] == ["aws_lambda_alias.live"]
    # Scheduled actions move min and max; an apply must not move them back.
    assert sorted(target["lifecycle"]["ignore_changes"]) == ["max_capacity", "min_capacity"]
    for key, schedule, level in (
        ("business_hours_start", prod.default("provisioned_concurrency_business_hours_start"), 7),
        ("business_hours_end", prod.default("provisioned_concurrency_business_hours_end"), 1),
    ):
        action = plan.resource("aws_appautoscaling_scheduled_action", key, 0)
        for attribute in ("service_namespace", "resource_id", "scalable_dimension"):
            assert action[attribute] == target[attribute]
        assert (action["schedule"], action["timezone"]) == (schedule, "Europe/Berlin")
        assert action["scalable_target_action"] == {"min_capacity": level, "max_capacity": level}
        assert action["name"].startswith("llm-scores-prod-provisioned-concurrency-business-hours-")
    # Application Auto Scaling refuses concurrent changes to one scalable target.
    end = plan.resource("aws_appautoscaling_scheduled_action", "business_hours_end", 0)
    assert end["depends_on"] == ["aws_appautoscaling_scheduled_action.business_hours_start"]
    assert (
        prod.default("provisioned_concurrency_business_hours"),
        prod.default("provisioned_concurrency_off_hours"),
    ) == (5, 0)
    assert prod.default("provisioned_concurrency_schedule_timezone") == "UTC"


def test_business_hours_schedule_is_refused_together_with_snap_start(prod: Export) -> None:
    assert Plan(prod, **SCHEDULE_ON).refusals() == []
    (refused,) = Plan(prod, **{**SCHEDULE_ON, "snap_start_enabled": True}).refusals("aws_appautoscaling_target.")
    assert "SnapStart" in refused


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"enable_live_alias": False}, "enable_live_alias"),
        ({"provisioned_concurrency": 2}, "provisioned_concurrency to 0"),
        ({"provisioned_concurrency_business_hours": 0}, "above 0"),
        ({"provisioned_concurrency_business_hours": 3, "provisioned_concurrency_off_hours": 4}, "at least"),
        ({"provisioned_concurrency_business_hours": reserved_concurrency("prod") + 1}, "reserved concurrency"),
    ],
)
def test_business_hours_schedule_refuses_settings_it_cannot_honour(
    prod: Export, change: dict[str, Any], message: str
) -> None:
    (refused,) = Plan(prod, **{**SCHEDULE_ON, **change}).refusals("aws_appautoscaling_target.")
    assert message in refused


def test_static_provisioned_concurrency_and_the_schedule_never_both_own_the_alias(prod: Export) -> None:
    owners = ("aws_lambda_provisioned_concurrency_config.live", "aws_appautoscaling_target.provisioned_concurrency")
    assert Plan(prod, **SCHEDULE_ON).planned(*owners) == {owners[1]}
    assert Plan(prod).planned(*owners) == {owners[0]}
    both = Plan(prod, **{**SCHEDULE_ON, "provisioned_concurrency": 2})
    assert both.planned(*owners) == set(owners) and both.refusals()


def test_schedule_variables_accept_levels_and_schedules_application_auto_scaling_takes(prod: Export) -> None:
    for variable in ("provisioned_concurrency_business_hours_start", "provisioned_concurrency_business_hours_end"):
        assert Plan(prod).valid(variable)
        assert Plan(prod, **{variable: "cron(0 6 ? * MON-SAT *)"}).valid(variable)
        assert not Plan(prod, **{variable: "0 8 * * 1-5"}).valid(variable)
    for variable in ("provisioned_concurrency_business_hours", "provisioned_concurrency_off_hours"):
        assert Plan(prod, **{variable: 0}).valid(variable) and Plan(prod, **{variable: 10}).valid(variable)
        assert not Plan(prod, **{variable: -1}).valid(variable) and not Plan(prod, **{variable: 1.5}).valid(variable)


# ---- saved Logs Insights queries -----------------------------------------------------------------------------------


def test_saved_queries_cover_slow_requests_errors_cold_starts_and_refreshes_per_container(prod: Export) -> None:
    definitions = {
        address.rpartition(".")[2]: body for address, body in Plan(prod).every("aws_cloudwatch_query_definition")
    }
    assert set(definitions) == {
        "slow_requests",
        "errors_by_code",
        "cache_misses_and_cold_starts",
        "refreshes_per_container",
    }
    for definition in definitions.values():
        assert definition["log_group_names"] == ["/aws/lambda/llm-scores-prod"]
        assert definition["name"].startswith("llm-scores-prod/")
    slow = definitions["slow_requests"]["query_string"]
    assert "duration_ms >= 300" in slow and "sort duration_ms desc" in slow
    assert "by status, error_code, route" in definitions["errors_by_code"]["query_string"]
    cold = definitions["cache_misses_and_cold_starts"]["query_string"]
    assert 'cache = "MISS"' in cold and "sum(cold_start)" in cold and "@initDuration" in cold
    refreshes = definitions["refreshes_per_container"]["query_string"]
    assert "ispresent(dynamodb_ms)" in refreshes and "by @logStream" in refreshes
    # Every field the queries read is one the app writes.
    source = (ROOT / "chalicelib" / "observability.py").read_text()
    fields = {"request_id", "route", "status", "duration_ms", "cache", "cold_start", "error_code", "dynamodb_ms"}
    for field in fields | {"dynamodb_error", "path", "method"}:
        assert f'"{field}"' in source, field
        assert any(field in d["query_string"] for d in definitions.values()), field


def test_outputs_link_the_logs_insights_console_and_name_the_saved_queries(prod: Export) -> None:
    output = prod.files["queries.tf"]["output"]
    url = Plan(prod).value(output["logs_insights_url"]["value"])
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1")
    assert url.endswith("#logsV2:logs-insights")
    for key in prod.resources("aws_cloudwatch_query_definition"):
        assert f"aws_cloudwatch_query_definition.{key}" in output["saved_query_ids"]["value"]
