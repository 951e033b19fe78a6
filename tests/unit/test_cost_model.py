"""The cost model's arithmetic, checked against bills worked out by hand from the published prices.

The tables in docs/cost.md and docs/disaster-recovery.md are the model's output; the last tests keep them so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scripts.planning import cost_model
from scripts.planning.cost_model import (
    BUSINESS_HOURS_PER_MONTH,
    HOURS_PER_MONTH,
    MAKE_COST_INPUTS,
    SECONDS_PER_MONTH,
    Inputs,
    budgets_cost,
    cdn_hit_ratio,
    cors_cost,
    doc_blocks,
    generated_block,
    logs_insights_cost,
    main,
    monthly_bill,
    option_catalogue,
    poc_inputs,
    read_units_per_scan,
    refreshes_per_month,
    second_region_lines,
    tiered_cost,
    waf_cost,
    waf_logging_cost,
    with_generated_block,
)
from tests.terraform.support import parse_hcl

GIB = 1024**3

ROOT = Path(__file__).resolve().parents[2]


def _plain(requests: float, **overrides) -> Inputs:
    """A deliberately simple configuration: 1 GB x86, no cold starts, no logs, no egress, every request a hit."""
    settings = {
        "requests_per_month": requests,
        "memory_mb": 1024,
        "architecture": "x86_64",
        "warm_duration_ms": 0.3,
        "refresh_duration_ms": 500,
        "init_duration_ms": 400,
        "cold_start_ratio": 0.0,
        "cache_hit_ratio": 1.0,
        "log_bytes_per_request": 0,
        "platform_log_bytes_per_request": 0,
        "access_log_bytes_per_request": 0,
        "response_bytes": 0,
    }
    settings.update(overrides)
    return Inputs(**settings)


def test_tiered_cost_fills_each_tier_before_the_next():
    tiers = ((10, 1.0), (20, 0.5), (float("inf"), 0.1))
    assert tiered_cost(5, tiers) == 5
    assert tiered_cost(25, tiers) == 10 + 15 * 0.5
    assert tiered_cost(100, tiers) == pytest.approx(10 + 20 * 0.5 + 70 * 0.1)


def test_rest_api_one_million_requests_cost_three_fifty():
    assert monthly_bill(_plain(1e6)).cost_of("API Gateway REST requests") == pytest.approx(3.50)


def test_rest_api_price_drops_after_333_million_requests():
    # 333 M at $3.50 + 67 M at $2.80 = $1,165.50 + $187.60
    cost = monthly_bill(_plain(400e6)).cost_of("API Gateway REST requests")
    assert cost == pytest.approx(1353.10)


def test_http_api_costs_one_dollar_per_million_and_meters_large_responses_per_512_kb():
    assert monthly_bill(_plain(1e6, api_type="http")).cost_of("API Gateway HTTP API requests") == pytest.approx(1.00)
    # A 600 KB response is two 512 KB increments, so it is metered as two requests.
    big = monthly_bill(_plain(1e6, api_type="http", response_bytes=600 * 1024))
    assert big.cost_of("API Gateway HTTP API requests") == pytest.approx(2.00)


def test_lambda_requests_cost_twenty_cents_per_million():
    assert monthly_bill(_plain(10e6)).cost_of("Lambda requests") == pytest.approx(2.00)


def test_warm_duration_is_billed_rounded_up_to_a_whole_millisecond():
    # 1 M hits x 1 ms (0.3 ms rounds up) x 1 GB = 1,000 GB-s x $0.0000166667
    assert monthly_bill(_plain(1e6)).cost_of("Lambda duration (init included)") == pytest.approx(0.0166667)


def test_init_duration_of_cold_starts_is_billed():
    # 1 % of 1 M requests are cold: 10,000 x 0.4 s x 1 GB = 4,000 GB-s on top of 1,000 GB-s of hits.
    bill = monthly_bill(_plain(1e6, cold_start_ratio=0.01))
    assert bill.cost_of("Lambda duration (init included)") == pytest.approx(5000 * 0.0000166667)


def test_arm64_duration_is_cheaper_per_gb_second():
    bill = monthly_bill(_plain(1e6, architecture="arm64", memory_mb=2048))
    assert bill.cost_of("Lambda duration (init included)") == pytest.approx(2000 * 0.0000133334)


def test_scan_reads_half_a_unit_per_4_kb_of_table():
    # 5,000 items x 330 B = 1,650,000 B = 402.8 blocks of 4 KB → 403 blocks x 0.5 RRU
    inputs = _plain(1e6, table_items=5000, item_bytes=330)
    assert read_units_per_scan(inputs) == 201.5


def test_refreshes_come_from_containers_and_ttl_not_from_traffic():
    # 5 containers, 300 s TTL with 10 % jitter (mean 285 s), for a 730-hour month.
    inputs = _plain(100e6, cache_hit_ratio=None, containers=5, ttl_seconds=300, ttl_jitter_ratio=0.1)
    expected = 5 * SECONDS_PER_MONTH / 285
    assert refreshes_per_month(inputs) == pytest.approx(expected)
    bill = monthly_bill(inputs)
    assert bill.cost_of("DynamoDB read request units") == pytest.approx(expected * 201.5 / 1e6 * 0.125)


def test_refreshes_never_exceed_requests():
    assert refreshes_per_month(_plain(10, cache_hit_ratio=None, containers=5)) == 10


def test_poc_scans_on_every_request():
    # 1 M requests x 201.5 RRU x $0.125 per million RRU = $25.1875
    bill = monthly_bill(poc_inputs(_plain(1e6), poc_duration_ms=500))
    assert bill.cost_of("DynamoDB read request units") == pytest.approx(25.1875)
    assert bill.cost_of("Lambda duration (init included)") == pytest.approx(500_000 * 0.0000166667)


def test_log_ingestion_is_fifty_cents_per_gb_of_app_and_platform_lines():
    bill = monthly_bill(_plain(GIB / 1000, log_bytes_per_request=700, platform_log_bytes_per_request=300))
    assert bill.cost_of("CloudWatch Logs ingestion") == pytest.approx(0.50)


def test_access_logs_are_fifty_cents_per_gb_of_api_gateway_lines():
    bill = monthly_bill(_plain(GIB / 1000, access_log_bytes_per_request=1000))
    assert bill.cost_of("API Gateway access logs") == pytest.approx(0.50)


def test_egress_without_cdn_is_billed_at_internet_rates():
    # 2,048 requests of 1 MB = 2 GB at $0.09
    bill = monthly_bill(_plain(2048, response_bytes=1024 * 1024))
    assert bill.cost_of("API Gateway data transfer out") == pytest.approx(0.18)


def test_cdn_hits_never_reach_api_gateway_or_lambda():
    bill = monthly_bill(_plain(10e6, cdn_hit_ratio=0.9, response_bytes=1024))
    assert bill.cost_of("API Gateway REST requests") == pytest.approx(3.50)
    assert bill.cost_of("Lambda requests") == pytest.approx(0.20)
    assert bill.cost_of("CloudFront HTTPS requests") == pytest.approx(10.00)
    assert bill.cost_of("CloudFront data transfer out") == pytest.approx(10e6 * 1024 / GIB * 0.085)
    assert bill.cost_of("API Gateway data transfer out") == 0


def test_cloudfront_in_front_bills_every_request_even_when_nothing_is_cached():
    bill = monthly_bill(_plain(10e6, cloudfront=True, response_bytes=1024))
    assert bill.cost_of("CloudFront HTTPS requests") == pytest.approx(10.00)
    assert bill.cost_of("API Gateway REST requests") == pytest.approx(35.00)
    assert bill.cost_of("API Gateway data transfer out") == 0


def test_cdn_hit_ratio_floor_counts_one_miss_per_url_per_edge_per_max_age():
    # 1,000 RPS x 60 s = 60,000 requests per window; 200 URLs x 10 edges = at most 2,000 misses.
    assert cdn_hit_ratio(1000, 60, 200, 10) == pytest.approx(1 - 2000 / 60000)
    assert cdn_hit_ratio(1, 60, 200, 10) == 0


def test_provisioned_concurrency_bills_capacity_and_cheaper_duration():
    # 2 x 1 GB all month = 2 x 730 h x 3600 s GB-s x $0.0000041667; 1 M x 1 ms x 1 GB = 1,000 GB-s x $0.0000097222
    bill = monthly_bill(_plain(1e6, provisioned_concurrency=2))
    assert bill.cost_of("Lambda provisioned concurrency") == pytest.approx(2 * SECONDS_PER_MONTH * 0.0000041667)
    assert bill.cost_of("Lambda duration (on provisioned)") == pytest.approx(1000 * 0.0000097222)
    assert bill.cost_of("Lambda duration (init included)") == 0


def test_provisioned_concurrency_for_part_of_the_month_leaves_the_rest_on_demand():
    # 100 of 730 hours provisioned: that share of the 1,000 GB-s at the provisioned price, the rest on demand,
    # and the on-demand share's cold starts (1 % x 1 M x 0.4 s x 1 GB = 4,000 GB-s) billed as init.
    bill = monthly_bill(_plain(1e6, provisioned_concurrency=2, provisioned_hours=100, cold_start_ratio=0.01))
    share = 100 / HOURS_PER_MONTH
    assert bill.cost_of("Lambda provisioned concurrency") == pytest.approx(720_000 * 0.0000041667)
    assert bill.cost_of("Lambda duration (on provisioned)") == pytest.approx(1000 * share * 0.0000097222)
    assert bill.cost_of("Lambda duration (init included)") == pytest.approx(5000 * (1 - share) * 0.0000166667)


def test_snapstart_replaces_init_with_cache_and_restore_charges():
    bill = monthly_bill(_plain(1e6, snapstart=True, cold_start_ratio=0.001))
    assert bill.cost_of("Lambda SnapStart cache") == pytest.approx(SECONDS_PER_MONTH * 0.0000015046)
    assert bill.cost_of("Lambda SnapStart restores") == pytest.approx(1000 * 0.0001397998)
    # Only the hits' duration remains: init is not billed when restoring from a snapshot.
    assert bill.cost_of("Lambda duration (init included)") == pytest.approx(1000 * 0.0000166667)


def test_xray_records_one_request_per_second_and_five_percent_of_the_rest():
    requests = SECONDS_PER_MONTH * 11
    bill = monthly_bill(_plain(requests, xray=True))
    traces = SECONDS_PER_MONTH + SECONDS_PER_MONTH * 10 * 0.05
    assert bill.cost_of("X-Ray traces") == pytest.approx(traces / 1e6 * 5.00)


def test_total_is_the_sum_of_the_lines():
    bill = monthly_bill(Inputs(requests_per_month=100e6, xray=True))
    assert bill.total == pytest.approx(sum(line.cost for line in bill.lines))


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError):
        Inputs(requests_per_month=1, architecture="sparc")
    with pytest.raises(ValueError):
        Inputs(requests_per_month=1, provisioned_concurrency=1, snapstart=True)
    assert main(["--cdn-hit-ratio", "2"]) == 2


def test_scenario_report_names_a_lever_at_each_scale(capsys):
    assert main(["--scenarios"]) == 0
    text = capsys.readouterr().out
    for label in ("1M requests/month", "100M requests/month", "2.6B requests/month"):
        assert f"**{label}" in text
    assert text.count("Biggest levers:") == 3


# --- options --------------------------------------------------------------------------------------------------


def test_waf_bills_the_web_acl_four_rules_its_alarm_and_each_million_requests():
    # $5 + 4 x $1 + a 2-metric alarm at $0.10 a metric + 10 M x $0.60 per million
    assert waf_cost(_plain(10e6)) == pytest.approx(5 + 4 + 0.20 + 6.00)


def test_waf_logging_bills_the_kept_records_as_vended_logs_and_the_log_key():
    # Every record kept: 1 GiB of 1,500-byte records at $0.50 per GB, and the $1 KMS key.
    assert waf_logging_cost(_plain(GIB / 1500), logged_share=1.0) == pytest.approx(1.00 + 0.50)
    # The export's filter keeps blocked and counted requests only, assumed 1 % of them.
    assert waf_logging_cost(_plain(GIB / 1500)) == pytest.approx(1.00 + 0.005)


def test_cors_preflights_are_requests_through_api_gateway_and_the_function():
    # 5 % of 400 M requests: 20 M preflights, all above the 333 M first REST tier ($2.80 per million), 20 M Lambda
    # requests and 20 M billed milliseconds at 1 GB, and their 500-byte answers at $0.09 per GB.
    expected = 20 * 2.80 + 20 * 0.20 + 20_000 * 0.0000166667 + 20e6 * 500 / GIB * 0.09
    assert cors_cost(_plain(400e6)) == pytest.approx(expected)


def test_budgets_past_the_two_free_ones_cost_two_cents_a_day():
    assert budgets_cost(2) == 0
    assert budgets_cost(3) == pytest.approx(0.02 * 730 / 24)


def test_logs_insights_queries_cost_half_a_cent_per_gb_of_a_month_of_function_logs():
    inputs = _plain(GIB / 500, log_bytes_per_request=300, platform_log_bytes_per_request=200)
    assert logs_insights_cost(inputs) == pytest.approx(0.005)


def test_business_hours_provisioned_concurrency_bills_264_hours_of_capacity():
    inputs = _plain(0.0)
    changed = replace(inputs, provisioned_concurrency=2, provisioned_hours=BUSINESS_HOURS_PER_MONTH)
    # 2 x 1 GB x 264 h x 3,600 s x $0.0000041667 (x86_64), and no traffic to discount.
    expected = 2 * BUSINESS_HOURS_PER_MONTH * 3600 * 0.0000041667
    assert monthly_bill(changed).total - monthly_bill(inputs).total == pytest.approx(expected)


def test_second_region_prices_replicated_writes_health_checks_and_a_standby_with_provisioned_concurrency():
    lines = {line.name: line for line in second_region_lines(Inputs(requests_per_month=1e6, xray=False))}
    # 5,000 items rewritten 30 times: 150,000 replicated writes at $0.625 per million.
    assert lines["DynamoDB replicated writes"].cost == pytest.approx(0.09375)
    # Two HTTPS health checks on non-AWS endpoints: 2 x ($0.75 + $2.00).
    assert lines["Route 53 health checks (HTTPS, /health?deep=true)"].cost == pytest.approx(5.50)
    # 51 alarm metrics (tests/terraform/test_paging.py counts them in the export), 4 composites, a dashboard, a key.
    assert lines["standby: alarms, dashboard, KMS key"].cost == pytest.approx(51 * 0.10 + 4 * 0.50 + 3.00 + 1.00)
    assert lines["standby: WAF web ACL, its log key and alarm"].cost > 5 + 4 + 1
    # The standby keeps 2 x 1 GB arm64 provisioned all month ($17.52) and serves one check every 2 s.
    standby = lines["standby: health-check traffic, snapshot refreshes, provisioned concurrency"]
    assert standby.quantity == pytest.approx(0.5 * SECONDS_PER_MONTH)
    assert standby.cost > 2 * SECONDS_PER_MONTH * 0.0000033334 + 0.5 * SECONDS_PER_MONTH / 1e6 * 3.50


def test_every_option_is_priced_at_each_volume(capsys):
    assert main(["--options", "--xray"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    header, *options = rows
    assert header.split(" | ")[1:4] == ["1M requests/month", "100M requests/month", "2.6B requests/month"]
    assert [row.split(" | ")[0].lstrip("| ") for row in options] == [
        option.name for option in option_catalogue(MAKE_COST_INPUTS)
    ]
    for row in options:
        assert all(cell.startswith(("+$", "−$", "$0", "+<$")) for cell in row.split(" | ")[1:4]), row


def test_free_options_cost_nothing_at_any_volume():
    # One budget is under the two free ones.
    free = {"API keys and usage plans", "Cost Anomaly Detection", "CodeDeploy for Lambda", "AWS Budgets"}
    for option in option_catalogue(MAKE_COST_INPUTS):
        if option.name in free:
            assert option.price(replace(MAKE_COST_INPUTS, requests_per_month=2.6e9)) == 0, option.name


def test_http_api_and_cloudfront_are_priced_as_changes_to_the_bill():
    options = {option.name: option for option in option_catalogue(MAKE_COST_INPUTS)}
    at_1m = replace(MAKE_COST_INPUTS, requests_per_month=1e6)
    # $3.50 of REST requests replaced by $1.00 of HTTP API requests.
    assert options["HTTP API instead of REST"].price(at_1m) == pytest.approx(-2.50)
    # At 0.4 request/s nothing is cached: CloudFront only adds its requests and swaps one egress price for another.
    assert options["CloudFront in front"].price(at_1m) > 0
    assert options["CloudFront in front"].price(replace(MAKE_COST_INPUTS, requests_per_month=2.6e9)) < 0


# --- the documents' tables are the model's output --------------------------------------------------------------


def test_generated_blocks_are_found_and_replaced():
    text = "intro\n<!-- generated:table (tool) -->\nold\n<!-- /generated:table -->\nafter\n"
    assert generated_block(text, "table") == "old"
    assert generated_block(with_generated_block(text, "table", "new\nrows"), "table") == "new\nrows"
    with pytest.raises(ValueError):
        generated_block(text, "missing")


@pytest.mark.parametrize("document, name", sorted(doc_blocks()), ids=lambda value: str(value))
def test_documented_tables_equal_the_models_output(document, name):
    text = (ROOT / document).read_text(encoding="utf-8")
    expected = doc_blocks()[(document, name)]
    assert generated_block(text, name) == expected, (
        f"{document} ({name}) is out of date: run .venv/bin/python scripts/planning/cost_model.py --write-docs"
    )


# --- cost controls from the model (issue 19) ---------------------------------------------------------------------


def test_the_bootstraps_budget_and_anomaly_defaults_are_what_make_cost_suggests() -> None:
    variables = parse_hcl((ROOT / "infra" / "bootstrap" / "variables.tf").read_text())["variable"]
    controls = cost_model.suggested_cost_controls()
    assert variables["budget_monthly_limit_usd"]["default"] == controls.budget_usd
    assert variables["cost_anomaly_alert_threshold_usd"]["default"] == controls.anomaly_threshold_usd


def test_suggested_cost_controls_follow_prods_settings_with_headroom(tmp_path) -> None:
    stage = tmp_path / "prod.json"
    stage.write_text('{"provisioned_concurrency": 0, "waf_enabled": false}')
    bare = cost_model.suggested_cost_controls(stage_file=stage)
    assert bare.month_usd == pytest.approx(cost_model.monthly_bill(cost_model.MAKE_COST_INPUTS).total)
    assert bare.month_usd * 1.5 <= bare.budget_usd < bare.month_usd * 1.5 + 50
    assert bare.month_usd * 0.1 <= bare.anomaly_threshold_usd < bare.month_usd * 0.1 + 10
    stage.write_text('{"provisioned_concurrency": 13, "waf_enabled": true}')
    assert cost_model.suggested_cost_controls(stage_file=stage).month_usd > bare.month_usd + 100


def test_make_cost_prints_the_suggested_cost_controls(capsys) -> None:
    assert cost_model.main(["--scenarios", "--xray"]) == 0
    controls = cost_model.suggested_cost_controls()
    assert f"budget_monthly_limit_usd = {controls.budget_usd}" in capsys.readouterr().out


def test_every_stage_pays_its_fixed_monitoring_whatever_the_traffic_and_the_poc_paid_none() -> None:
    """51 alarm metrics, 4 SLO composites, a dashboard and the observability key: $11.10 a month even when idle."""
    for requests in (0, 1e6, 2.6e9):
        lines = {line.name: line.cost for line in cost_model.monthly_bill(cost_model.Inputs(requests)).lines}
        assert lines["CloudWatch alarms, dashboard, observability key"] == pytest.approx(51 * 0.10 + 4 * 0.50 + 3 + 1)
    poc = cost_model.poc_inputs(cost_model.Inputs(1e6), 500.0)
    assert "CloudWatch alarms, dashboard, observability key" not in {
        line.name for line in cost_model.monthly_bill(poc).lines
    }
