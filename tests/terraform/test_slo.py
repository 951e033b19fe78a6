"""SLOs and their burn-rate alerts, the ratio alarms, business-hours provisioned concurrency, saved queries.

Asserted on the parsed stage export (infra/terraform/slo.tf, scaling.tf, queries.tf), as
tests/terraform/test_export.py does: no Terraform binary and no AWS. Conditions that decide whether a resource
exists or an apply is refused (`count`, preconditions, validations) are evaluated by the small evaluator
below for each option on and off; metric-math expressions are evaluated on sample numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scripts import export_terraform
from tests.terraform.support import Export, evaluate

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra" / "terraform"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
NEW_FILES = ("slo.tf", "scaling.tf", "queries.tf")
SRE_WORKBOOK_BURN_RATES = {"page-fast": 14.4, "page-slow": 6, "ticket": 1}
RESERVED = "aws_lambda_function.api_handler.reserved_concurrent_executions"


def environment(
    exported: Export,
    attributes: dict[str, Any] | None = None,
    local_values: dict[str, Any] | None = None,
    **variables: Any,
) -> dict[str, Any]:
    """Variable defaults of the export (the stage's), overridden by `variables`; its locals, overridden too."""
    values = {name: exported.default(name) for name in exported.variables}
    unknown = set(variables) - set(values)
    assert not unknown, f"not declared: {unknown}"
    values.update(variables)
    return {
        "var": values,
        "local": {**exported.locals, **(local_values or {})},
        "attributes": {RESERVED: reserved_concurrency(exported.stage), **(attributes or {})},
    }


def count(resource: dict[str, Any], env: dict[str, Any]) -> int:
    return int(evaluate(resource["count"], env)) if "count" in resource else 1


def failed_preconditions(resource: dict[str, Any], env: dict[str, Any]) -> list[str]:
    return [p["error_message"] for p in resource["lifecycle"]["precondition"] if not evaluate(p["condition"], env)]


def valid(exported: Export, variable: str, value: Any) -> bool:
    env = environment(exported, **{variable: value})
    return all(evaluate(rule["condition"], env) for rule in exported.variables[variable].get("validation", []))


def metric_math(expression: str, variables: dict[str, Any], **series: float | None) -> float:
    """Evaluates a CloudWatch metric-math expression for one period: IF, FILL, arithmetic, comparisons."""
    text = re.sub(r"\$\{var\.(\w+)\}", lambda match: repr(variables[match[1]]), expression)
    assert "${" not in text, text
    functions = {"IF": lambda condition, a, b: a if condition else b, "FILL": lambda v, d: d if v is None else v}
    return float(eval(text, {"__builtins__": {}}, {**functions, **series}))  # our own expressions, builtins removed


# ---- fixtures and helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Export]:
    exported = {}
    for stage in ("dev", "prod"):
        out = tmp_path_factory.mktemp(f"terraform-slo-{stage}")
        export_terraform.export(stage, out)
        exported[stage] = Export(stage, out)
    return exported


@pytest.fixture(scope="module")
def prod(exports: dict[str, Export]) -> Export:
    return exports["prod"]


def reserved_concurrency(stage: str) -> int:
    return int(CONFIG["stages"][stage]["reserved_concurrency"])


def stage_settings(stage: str) -> dict[str, Any]:
    return json.loads((INFRA / "stages" / f"{stage}.json").read_text())


def alarms(exported: Export) -> dict[str, Any]:
    return exported.resources("aws_cloudwatch_metric_alarm")


def queries(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["id"]: query for query in alarm["metric_query"]}


def returned_expression(alarm: dict[str, Any]) -> str:
    (returned,) = [query for query in alarm["metric_query"] if query.get("return_data")]
    return str(returned["expression"])


def burn_rates(exported: Export) -> dict[str, float]:
    """local.slo_burn_rates as Terraform computes it, from the alert table it is derived from."""
    period = exported.locals["slo_period_seconds"]
    return {
        name: alert["budget_consumed_percent"] * period / alert["long_window_seconds"] / 100
        for name, alert in exported.locals["slo_burn_rate_alerts"].items()
    }


# ---- the evaluator itself ------------------------------------------------------------------------------------------


def test_the_expression_evaluator_follows_terraform_precedence_and_lazy_conditionals() -> None:
    env = {"var": {"a": True, "b": False, "n": 3, "s": ""}, "local": {"x": "${var.n * 2}"}, "attributes": {}}
    assert evaluate("${var.a || var.b && false}", env) is True
    assert evaluate("${!var.a || var.n >= 3}", env) is True
    assert evaluate("${local.x + 1 == 7 ? 1 : 0}", env) == 1
    assert evaluate('${var.s != "" ? var.missing : 5}', env) == 5
    assert evaluate('${can(regex("^cron\\\\(.+\\\\)$", "cron(0 8 * * ? *)"))}', env) is True
    assert evaluate('${can(regex("^cron\\\\(.+\\\\)$", "0 8 * * *"))}', env) is False
    assert evaluate("${floor(var.n / 2) == 1}", env) is True


# ---- SLOs: burn-rate windows and alarms ----------------------------------------------------------------------------


def test_burn_rate_thresholds_are_the_sre_workbooks_for_a_30_day_budget(prod: Export) -> None:
    assert prod.locals["slo_period_seconds"] == 30 * 24 * 3600
    assert burn_rates(prod) == pytest.approx(SRE_WORKBOOK_BURN_RATES)
    assert {name: alert["notify"] for name, alert in prod.locals["slo_burn_rate_alerts"].items()} == {
        "page-fast": "page",
        "page-slow": "page",
        "ticket": "ticket",
    }
    # Multiply first and divide by 100 last: one rounding, so Terraform prints 14.4, not 14.4000...01.
    # Compared without whitespace: python-hcl2 re-renders a `for` expression's spacing.
    assert re.sub(r"\s", "", prod.locals["slo_burn_rates"]) == re.sub(
        r"\s",
        "",
        "${{ for name, alert in local.slo_burn_rate_alerts : name => alert.budget_consumed_percent"
        " * local.slo_period_seconds / alert.long_window_seconds / 100 }}",
    )


def test_each_alert_has_a_long_and_a_short_window_alarm_for_each_slo(prod: Export) -> None:
    windows = prod.locals["slo_burn_rate_windows"]
    expected = {}
    for name, alert in prod.locals["slo_burn_rate_alerts"].items():
        expected[(name, "long")] = alert["long_window_seconds"]
        expected[(name, "short")] = alert["short_window_seconds"]
        assert alert["short_window_seconds"] * 4 <= alert["long_window_seconds"], name
    assert {(w["alert"], w["size"]): w["seconds"] for w in windows.values()} == expected
    assert sorted(windows) == sorted(
        ["page-fast-1h", "page-fast-5m", "page-slow-6h", "page-slow-30m", "ticket-3d", "ticket-6h"]
    )
    for slo in ("availability", "latency"):
        alarm = alarms(prod)[f"slo_{slo}_burn_rate"]
        assert alarm["for_each"] == "${local.slo_burn_rate_windows}"
        assert alarm["alarm_name"] == "${local.name_prefix}-slo-" + slo + "-${each.key}"
        assert alarm["threshold"] == "${local.slo_burn_rates[each.value.alert]}"
        assert (alarm["comparison_operator"], alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (
            "GreaterThanThreshold",
            1,
            1,
        )
        assert alarm["treat_missing_data"] == "notBreaching"
        # Building blocks: only the composite alarms notify.
        assert "alarm_actions" not in alarm and "ok_actions" not in alarm
        for query in alarm["metric_query"]:
            if "metric" in query:
                assert query["metric"]["period"] == "${each.value.seconds}"


def test_every_window_is_one_period_cloudwatch_accepts_for_an_alarm(prod: Export) -> None:
    # PutMetricAlarm: a multiple of 60 s; Period x EvaluationPeriods up to 7 days when the period is at least an
    # hour, and up to 1 day below that.
    for key, window in prod.locals["slo_burn_rate_windows"].items():
        seconds = window["seconds"]
        assert seconds % 60 == 0, key
        assert seconds <= (7 * 86400 if seconds >= 3600 else 86400), key
    assert prod.locals["slo_burn_rate_windows"]["ticket-3d"]["seconds"] == 3 * 86400


def test_availability_burn_rate_is_the_5xx_share_over_the_targets_error_budget(prod: Export) -> None:
    alarm = alarms(prod)["slo_availability_burn_rate"]
    metrics = {key: query["metric"] for key, query in queries(alarm).items() if "metric" in query}
    assert metrics["requests"]["metric_name"] == "${local.api_metrics.requests}"
    assert metrics["errors"]["metric_name"] == "${local.api_metrics.errors_5xx}"
    for metric in metrics.values():
        assert metric["namespace"] == "${local.api_metrics.namespace}"
        assert metric["dimensions"] == "${local.api_metrics.dimensions}"
        assert metric["stat"] == "Sum"
    expression = returned_expression(alarm)
    assert "${var.slo_availability_target_percent}" in expression
    variables = {"slo_availability_target_percent": 99.9, "slo_burn_rate_min_requests": 100}
    # 0.144 % of requests failing at 99.9 % burns 1.44x: a tenth of the fast page's 14.4.
    assert metric_math(expression, variables, requests=100_000, errors=144) == pytest.approx(1.44)
    assert metric_math(expression, variables, requests=1_000, errors=15) == pytest.approx(15)
    assert metric_math(expression, variables, requests=1_000, errors=None) == 0
    # Below the minimum a single error would be a 100x burn; the window is not judged.
    assert metric_math(expression, variables, requests=10, errors=1) == 0
    assert metric_math(
        expression, {**variables, "slo_availability_target_percent": 99.0}, requests=1000, errors=15
    ) == pytest.approx(1.5)


def test_latency_burn_rate_uses_the_percentile_rank_of_api_latency_within_the_threshold(prod: Export) -> None:
    alarm = alarms(prod)["slo_latency_burn_rate"]
    within = queries(alarm)["within"]["metric"]
    assert within["metric_name"] == "${local.api_metrics.latency}"
    assert within["namespace"] == "${local.api_metrics.namespace}"
    assert within["dimensions"] == "${local.api_metrics.dimensions}"
    # PR(:300): the percentage of data points <= 300 (lower bound exclusive, upper inclusive).
    assert within["stat"] == "PR(:${var.slo_latency_threshold_ms})"
    # The AWS provider's statistic pattern, which a metric_query stat must match.
    provider_stat = re.compile(
        r"^((p|(tm)|(wm)|(tc)|(ts))((\d{1,2}(\.\d{1,2})?)|(100))|(IQM)|(((TM)|(WM)|(PR)|(TC)|(TS)))"
        r"\((\d+(\.\d+)?%?)?:(\d+(\.\d+)?%?)?\))$"
    )
    assert provider_stat.match(within["stat"].replace("${var.slo_latency_threshold_ms}", "300"))
    assert queries(alarm)["requests"]["metric"]["metric_name"] == "${local.api_metrics.requests}"
    expression = returned_expression(alarm)
    variables = {"slo_latency_target_percent": 99, "slo_burn_rate_min_requests": 100}
    assert metric_math(expression, variables, requests=5000, within=98.5) == pytest.approx(1.5)
    assert metric_math(expression, variables, requests=5000, within=100) == 0
    assert metric_math(expression, variables, requests=50, within=0) == 0


def test_composites_page_on_fast_or_slow_burn_and_ticket_on_the_three_day_burn(prod: Export) -> None:
    composites = prod.resources("aws_cloudwatch_composite_alarm")
    assert set(composites) == {
        "slo_availability_page",
        "slo_availability_ticket",
        "slo_latency_page",
        "slo_latency_ticket",
    }
    for slo in ("availability", "latency"):
        window = f'${{aws_cloudwatch_metric_alarm.slo_{slo}_burn_rate["%s"].alarm_name}}'
        both = '(ALARM("{}") AND ALARM("{}"))'.format
        page = composites[f"slo_{slo}_page"]
        assert page["alarm_rule"] == " OR ".join(
            [
                both(window % "page-fast-1h", window % "page-fast-5m"),
                both(window % "page-slow-6h", window % "page-slow-30m"),
            ]
        )
        ticket = composites[f"slo_{slo}_ticket"]
        assert ticket["alarm_rule"] == both(window % "ticket-3d", window % "ticket-6h")
        assert page["alarm_actions"] == page["ok_actions"] == ["${local.slo_page_topic_arn}"]
        assert ticket["alarm_actions"] == ticket["ok_actions"] == ["${local.slo_ticket_topic_arn}"]
        assert page["alarm_description"].startswith("PAGE:") and ticket["alarm_description"].startswith("TICKET:")
        assert prod.resolve(page["alarm_name"]) == f"llm-scores-prod-slo-{slo}-page"
    assert prod.locals["slo_page_topic_arn"] == "${aws_sns_topic.alarms.arn}"


def test_tickets_go_to_their_own_topic_when_one_is_given_and_to_the_alarm_topic_otherwise(prod: Export) -> None:
    alarm_topic = {"aws_sns_topic.alarms.arn": "arn:aws:sns:eu-west-1:1:llm-scores-prod-alarms"}
    ticket = evaluate(prod.locals["slo_ticket_topic_arn"], environment(prod, alarm_topic))
    assert ticket == alarm_topic["aws_sns_topic.alarms.arn"]
    given = "arn:aws:sns:eu-west-1:1:tickets"
    assert (
        evaluate(prod.locals["slo_ticket_topic_arn"], environment(prod, alarm_topic, slo_ticket_topic_arn=given))
        == given
    )


def test_slo_targets_are_per_stage_defaults_that_validation_keeps_between_0_and_100(exports: dict[str, Export]) -> None:
    expected = {"dev": (99.0, 95.0), "prod": (99.9, 99.0)}
    for stage, exported in exports.items():
        targets = (exported.default("slo_availability_target_percent"), exported.default("slo_latency_target_percent"))
        assert targets == expected[stage]
        assert exported.default("slo_latency_threshold_ms") == 300
        for variable in ("slo_availability_target_percent", "slo_latency_target_percent"):
            assert stage_settings(stage)[variable] == exported.default(variable)
            assert valid(exported, variable, 99.95)
            assert not valid(exported, variable, 100) and not valid(exported, variable, 0)
        assert not valid(exported, "slo_latency_threshold_ms", 0) and not valid(
            exported, "slo_latency_threshold_ms", 2.5
        )
        assert not valid(exported, "slo_burn_rate_min_requests", 0)


def test_api_slos_name_api_metrics_only_through_the_api_metrics_contract(prod: Export) -> None:
    contract = prod.locals["api_metrics"]
    assert {"namespace", "requests", "errors_5xx", "latency", "dimensions"} <= set(contract)
    text = (INFRA / "slo.tf").read_text()
    for hard_coded in ("5XXError", '5xx"', "ApiName", "ApiId", "AWS/ApiGateway", '"Count"', '"Latency"'):
        assert hard_coded not in text, hard_coded
    for alarm in (alarms(prod)["slo_availability_burn_rate"], alarms(prod)["slo_latency_burn_rate"]):
        for query in alarm["metric_query"]:
            if "metric" in query:
                assert query["metric"]["metric_name"].startswith("${local.api_metrics.")


def test_alarms_on_the_apps_counters_use_sum(prod: Export) -> None:
    # Counters are summed per EMF batch, so SampleCount counts batches, not events.
    namespace = CONFIG["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    checked = 0
    for name in NEW_FILES:
        for alarm in prod.files[name].get("resource", {}).get("aws_cloudwatch_metric_alarm", {}).values():
            for query in alarm.get("metric_query", []):
                metric = query.get("metric")
                if metric and prod.resolve(metric["namespace"]) == namespace:
                    assert metric["stat"] == "Sum", metric
                    assert metric["dimensions"] == {"service": "${local.service_name}"}
                    checked += 1
    assert checked == 3


def test_cache_hit_ratio_alarm_judges_hits_among_all_lookups_once_there_are_enough(prod: Export) -> None:
    alarm = alarms(prod)["cache_hit_ratio"]
    names = {key: query["metric"]["metric_name"] for key, query in queries(alarm).items() if "metric" in query}
    assert names == {"hit": "CacheHit", "miss": "CacheMiss", "stale": "CacheStale"}
    assert (alarm["comparison_operator"], alarm["threshold"]) == (
        "LessThanThreshold",
        "${var.cache_hit_ratio_alarm_threshold_percent}",
    )
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
    lookups = queries(alarm)["lookups"]["expression"]
    share = returned_expression(alarm)
    variables = {"ratio_alarm_min_requests": 100}

    def hit_share(hit: float | None, miss: float | None, stale: float | None) -> float:
        total = metric_math(lookups, variables, hit=hit, miss=miss, stale=stale)
        return metric_math(share, variables, hit=hit, lookups=total)

    assert hit_share(800, 150, 50) == pytest.approx(80)
    assert hit_share(1000, None, None) == 100
    assert hit_share(None, 500, None) == 0
    assert hit_share(5, 50, None) == 100  # too few lookups to judge
    assert prod.default("cache_hit_ratio_alarm_threshold_percent") == 90


def test_dashboard_shows_both_slos_and_the_error_budget_left(prod: Export) -> None:
    body = prod.resources("aws_cloudwatch_dashboard")["service"]["dashboard_body"]
    assert 'templatefile("${path.module}/dashboard.json.tftpl"' in body
    assert body.startswith('${jsonencode({"widgets" = concat(jsondecode(templatefile(')
    assert body.endswith(").widgets, local.slo_dashboard_widgets)})}")
    widgets = prod.locals["slo_dashboard_widgets"]
    single = {
        w["properties"]["title"]: w["properties"] for w in widgets if w["properties"].get("view") == "singleValue"
    }
    assert set(single) == {"Availability SLO, last 30 days", "Latency SLO, last 30 days"}
    for properties in single.values():
        assert properties["start"] == "-P30D" and properties["setPeriodToTimeRange"] is True
    expressions = {
        title: {row[0]["id"]: row[0]["expression"] for row in p["metrics"] if isinstance(row, list)}
        for title, p in single.items()
    }
    availability = expressions["Availability SLO, last 30 days"]
    latency = expressions["Latency SLO, last 30 days"]
    # 0.05 % failed at 99.9 %: half of the budget is left.
    target = {"slo_availability_target_percent": 99.9}
    assert metric_math(availability["budget_left"], target, errors=50, requests=100_000) == pytest.approx(50)
    assert metric_math(availability["availability"], target, errors=50, requests=100_000) == pytest.approx(99.95)
    assert metric_math(latency["budget_left"], {"slo_latency_target_percent": 99}, within=99.75) == pytest.approx(75)
    assert prod.locals["slo_dashboard_metrics"]["within"].count("PR(:${var.slo_latency_threshold_ms})") == 1
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"${{aws_cloudwatch_composite_alarm.{key}.arn}}" for key in prod.resources("aws_cloudwatch_composite_alarm")
    )
    (burn,) = [w for w in widgets if "burn rate" in w["properties"]["title"]]
    assert "local.slo_burn_rates[name]" in burn["properties"]["annotations"]["horizontal"]
    for widget in widgets:
        assert {"width", "height"} <= set(widget) and not {"x", "y"} & set(widget)


def test_slo_and_ratio_alarm_names_and_descriptions_fit_cloudwatch(exports: dict[str, Export]) -> None:
    for exported in exports.values():
        for name in NEW_FILES:
            for kind in ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm"):
                for alarm in exported.files[name].get("resource", {}).get(kind, {}).values():
                    resolved = exported.resolve(alarm["alarm_name"]).replace("${each.key}", "page-slow-30m")
                    assert re.fullmatch(rf"llm-scores-{exported.stage}-[a-z0-9-]+", resolved), resolved
                    # Interpolations render shorter than or about as long as their source text.
                    assert len(alarm["alarm_description"]) <= 1024


# ---- capacity: concurrency and spillover ratios --------------------------------------------------------------------


def test_concurrency_alarm_fires_at_the_configured_share_of_reserved_concurrency(exports: dict[str, Export]) -> None:
    for exported in exports.values():
        alarm = alarms(exported)["api_function_concurrency"]
        (metric,) = [query["metric"] for query in alarm["metric_query"] if "metric" in query]
        assert (metric["namespace"], metric["metric_name"], metric["stat"]) == (
            "AWS/Lambda",
            "ConcurrentExecutions",
            "Maximum",
        )
        assert metric["dimensions"] == {"FunctionName": "${aws_lambda_function.api_handler.function_name}"}
        expression = returned_expression(alarm).replace(
            "${" + RESERVED + "}", str(reserved_concurrency(exported.stage))
        )
        reserved = reserved_concurrency(exported.stage)
        assert metric_math(expression, {}, concurrency=reserved * 0.8) == pytest.approx(80)
        assert alarm["threshold"] == "${var.concurrency_alarm_threshold_percent}"
        assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert exported.default("concurrency_alarm_threshold_percent") == 80
        assert failed_preconditions(alarm, environment(exported)) == []
        assert failed_preconditions(alarm, environment(exported, {RESERVED: -1}))


@pytest.mark.parametrize(
    ("alias", "static", "scheduled", "expected"),
    [(True, 2, False, 1), (True, 0, True, 1), (True, 0, False, 0), (False, 0, False, 0)],
)
def test_spillover_ratio_alarm_exists_whenever_the_alias_has_provisioned_concurrency(
    prod: Export, alias: bool, static: int, scheduled: bool, expected: int
) -> None:
    alarm = alarms(prod)["provisioned_concurrency_spillover_ratio"]
    env = environment(
        prod,
        enable_live_alias=alias,
        provisioned_concurrency=static,
        provisioned_concurrency_schedule_enabled=scheduled,
    )
    assert count(alarm, env) == expected
    for query in alarm["metric_query"]:
        if "metric" in query:
            assert query["metric"]["dimensions"]["Resource"] == (
                "${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}"
            )
    expression = returned_expression(alarm)
    variables = {"ratio_alarm_min_requests": 100}
    assert metric_math(expression, variables, invocations=1000, spillover=150) == pytest.approx(15)
    assert metric_math(expression, variables, invocations=1000, spillover=None) == 0
    assert metric_math(expression, variables, invocations=20, spillover=20) == 0


# ---- business-hours provisioned concurrency ------------------------------------------------------------------------


def scaling(exported: Export) -> tuple[dict[str, Any], dict[str, Any]]:
    (target,) = exported.resources("aws_appautoscaling_target").values()
    return target, exported.resources("aws_appautoscaling_scheduled_action")


def test_business_hours_schedule_is_off_by_default_and_in_both_stages(exports: dict[str, Export]) -> None:
    for stage, exported in exports.items():
        target, actions = scaling(exported)
        assert exported.default("provisioned_concurrency_schedule_enabled") is False
        assert stage_settings(stage)["provisioned_concurrency_schedule_enabled"] is False
        for resource in (target, *actions.values()):
            assert count(resource, environment(exported)) == 0
            assert count(resource, environment(exported, provisioned_concurrency_schedule_enabled=True)) == 1


def test_business_hours_schedule_moves_the_aliases_provisioned_concurrency_between_two_levels(prod: Export) -> None:
    target, actions = scaling(prod)
    assert (target["service_namespace"], target["scalable_dimension"]) == (
        "lambda",
        "lambda:function:ProvisionedConcurrency",
    )
    assert target["resource_id"] == "function:${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}"
    assert target["depends_on"] == ["aws_lambda_alias.live"]
    # Scheduled actions move min and max; an apply must not move them back.
    assert sorted(target["lifecycle"]["ignore_changes"]) == ["max_capacity", "min_capacity"]
    assert set(actions) == {"business_hours_start", "business_hours_end"}
    levels = {
        "business_hours_start": (
            "provisioned_concurrency_business_hours_start",
            "provisioned_concurrency_business_hours",
        ),
        "business_hours_end": ("provisioned_concurrency_business_hours_end", "provisioned_concurrency_off_hours"),
    }
    for key, action in actions.items():
        schedule, level = levels[key]
        for attribute in ("service_namespace", "resource_id", "scalable_dimension"):
            assert action[attribute] == "${one(aws_appautoscaling_target.provisioned_concurrency[*]." + attribute + ")}"
        assert action["schedule"] == "${var." + schedule + "}"
        assert action["timezone"] == "${var.provisioned_concurrency_schedule_timezone}"
        assert action["scalable_target_action"] == {
            "min_capacity": "${var." + level + "}",
            "max_capacity": "${var." + level + "}",
        }
        assert prod.resolve(action["name"]).startswith("llm-scores-prod-provisioned-concurrency-business-hours-")
    # Application Auto Scaling refuses concurrent changes to one scalable target.
    assert actions["business_hours_end"]["depends_on"] == ["aws_appautoscaling_scheduled_action.business_hours_start"]
    assert (
        prod.default("provisioned_concurrency_business_hours"),
        prod.default("provisioned_concurrency_off_hours"),
    ) == (5, 0)
    assert prod.default("provisioned_concurrency_schedule_timezone") == "UTC"


SCHEDULE_ON = {
    "provisioned_concurrency_schedule_enabled": True,
    "provisioned_concurrency": 0,
    "enable_live_alias": True,
}


def test_business_hours_schedule_is_refused_together_with_snap_start(prod: Export) -> None:
    target, _ = scaling(prod)
    assert failed_preconditions(target, environment(prod, **SCHEDULE_ON)) == []
    refused = failed_preconditions(target, environment(prod, **{**SCHEDULE_ON, "snap_start_enabled": True}))
    assert len(refused) == 1 and "SnapStart" in refused[0]


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
    target, _ = scaling(prod)
    (refused,) = failed_preconditions(target, environment(prod, **{**SCHEDULE_ON, **change}))
    assert message in refused


def test_static_provisioned_concurrency_and_the_schedule_never_both_own_the_alias(prod: Export) -> None:
    static = prod.resources("aws_lambda_provisioned_concurrency_config")["live"]
    target, _ = scaling(prod)
    env = environment(prod, **SCHEDULE_ON)
    assert (count(static, env), count(target, env)) == (0, 1)
    assert (count(static, environment(prod)), count(target, environment(prod))) == (1, 0)
    both = environment(prod, **{**SCHEDULE_ON, "provisioned_concurrency": 2})
    assert count(static, both) == 1 and failed_preconditions(target, both)


def test_schedule_variables_accept_levels_and_schedules_application_auto_scaling_takes(prod: Export) -> None:
    for variable in ("provisioned_concurrency_business_hours_start", "provisioned_concurrency_business_hours_end"):
        assert valid(prod, variable, prod.default(variable))
        assert valid(prod, variable, "cron(0 6 ? * MON-SAT *)")
        assert not valid(prod, variable, "0 8 * * 1-5")
    for variable in ("provisioned_concurrency_business_hours", "provisioned_concurrency_off_hours"):
        assert valid(prod, variable, 0) and valid(prod, variable, 10)
        assert not valid(prod, variable, -1) and not valid(prod, variable, 1.5)


# ---- saved Logs Insights queries -----------------------------------------------------------------------------------


def test_saved_queries_cover_slow_requests_errors_cold_starts_and_refreshes_per_container(prod: Export) -> None:
    definitions = prod.resources("aws_cloudwatch_query_definition")
    assert set(definitions) == {
        "slow_requests",
        "errors_by_code",
        "cache_misses_and_cold_starts",
        "refreshes_per_container",
    }
    for definition in definitions.values():
        assert definition["log_group_names"] == ["${aws_cloudwatch_log_group.api_handler.name}"]
        assert prod.resolve(definition["name"]).startswith("llm-scores-prod/")
    slow = definitions["slow_requests"]["query_string"]
    assert "duration_ms >= ${var.slo_latency_threshold_ms}" in slow and "sort duration_ms desc" in slow
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
    url = output["logs_insights_url"]["value"]
    assert url.startswith("https://${data.aws_region.chalice.id}.console.aws.amazon.com/cloudwatch/home?region=")
    assert url.endswith("#logsV2:logs-insights")
    for key in prod.resources("aws_cloudwatch_query_definition"):
        assert f"aws_cloudwatch_query_definition.{key}" in output["saved_query_ids"]["value"]
