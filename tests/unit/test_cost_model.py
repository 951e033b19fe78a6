"""The cost model's arithmetic, checked against bills worked out by hand from the published prices."""

from __future__ import annotations

import pytest

from scripts.cost_model import (
    SECONDS_PER_MONTH,
    Inputs,
    cdn_hit_ratio,
    main,
    monthly_bill,
    poc_inputs,
    read_units_per_scan,
    refreshes_per_month,
    tiered_cost,
)

GIB = 1024**3


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


def test_cdn_hit_ratio_floor_counts_one_miss_per_url_per_edge_per_max_age():
    # 1,000 RPS x 60 s = 60,000 requests per window; 200 URLs x 10 edges = at most 2,000 misses.
    assert cdn_hit_ratio(1000, 60, 200, 10) == pytest.approx(1 - 2000 / 60000)
    assert cdn_hit_ratio(1, 60, 200, 10) == 0


def test_provisioned_concurrency_bills_capacity_and_cheaper_duration():
    # 2 x 1 GB for 100 h = 720,000 GB-s x $0.0000041667; 1 M x 1 ms x 1 GB = 1,000 GB-s x $0.0000097222
    bill = monthly_bill(_plain(1e6, provisioned_concurrency=2, provisioned_hours=100))
    assert bill.cost_of("Lambda provisioned concurrency") == pytest.approx(720_000 * 0.0000041667)
    assert bill.cost_of("Lambda duration (on provisioned)") == pytest.approx(1000 * 0.0000097222)
    assert bill.cost_of("Lambda duration (init included)") == 0


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
