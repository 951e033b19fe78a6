"""The benchmark's own logic, without a benchmark run: statistics, targets, the report and the MISS-share simulation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from bench import app_tree, report, targets
from bench.container import run_miss_share
from bench.items import generate_items
from bench.miss_share import FakeClock, simulate, timeline
from bench.run import rotation
from bench.stats import format_ratio, median, percentile
from bench.summary import (
    AGAINST,
    BASELINE,
    CURRENT,
    FLOOR,
    SCENARIOS,
    BenchResults,
    SizeRuns,
    import_figures,
    init_figures,
)
from chalicelib import service
from chalicelib.cache import SnapshotCache
from chalicelib.repository import ScanResult
from chalicelib.service import build_cache
from chalicelib.warmup import PING_FRESHNESS_SECONDS, WARMUP_INTERVAL_MINUTES

from .support import unit_settings

# --- statistics ---------------------------------------------------------------------------------------------


def test_percentile_is_an_observed_sample_by_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 0.50) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile(samples, 0.07) == 7


def test_percentile_and_median_of_nothing_are_nan() -> None:
    assert math.isnan(percentile([], 0.5))
    assert math.isnan(median([]))


def test_ratio_prints_tiny_values_as_a_fraction_and_missing_ones_as_na() -> None:
    assert format_ratio(1.0, 2.0) == "0.5×"
    assert format_ratio(1.0, 345.0) == "1/345"
    assert format_ratio(1.0, 0.0) == "n/a"
    assert format_ratio(math.nan, 1.0) == "n/a"


def test_rotation_puts_every_side_in_every_position_once_per_cycle() -> None:
    sides = [CURRENT, AGAINST, BASELINE]
    orders = [rotation(sides, index) for index in range(3)]
    for position in range(3):
        assert sorted(order[position] for order in orders) == sorted(sides)
    assert rotation(sides, 3) == orders[0]


# --- summaries and targets ----------------------------------------------------------------------------------


def _scenario(p50_us: float, log_bytes: int, requests: int = 10) -> dict[str, Any]:
    return {
        "samples_ns": [int(p50_us * 1000)] * requests,
        "statuses": [200],
        "not_hit": 0,
        "requests": requests,
        "dynamodb_calls": 0,
        "log_bytes": log_bytes * requests,
        "hit_log_bytes_median": log_bytes,
        "hit_log_bytes_max": log_bytes,
        "body_bytes": 100,
        "payload_bytes": 150,
        "gzip_bytes": 80,
        "items": 1,
    }


def _run(
    p50_us: float,
    log_bytes: int,
    *,
    scan_pages: int = 1,
    walk_items: int | None = None,
    first_request_ms: float = 50.0,
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "import_ms": 200.0,
        "init_ms": 20.0,
        "first_request_ms": first_request_ms,
        "first_request_dynamodb_calls": scan_pages,
        "first_request_log_bytes": 700,
        "peak_rss_mb": 60.0,
        "warm": {scenario: _scenario(p50_us, log_bytes) for scenario in SCENARIOS},
    }
    if walk_items is not None:
        run["walk"] = {"names": walk_items, "unique_names": walk_items, "names_digest": "d", "pages": 1}
    return run


SIZES = (50, 5000, 10000)
# First requests by side and size that meet the cold-start targets: with import 200 ms and init 20 ms
# everywhere, cold at 50 items is 230 ms for the current tree against 300 ms for AGAINST and the floor,
# and 10,000 items add 300 ms to the current tree's cold start against 1,000 ms to AGAINST's.
GOOD_FIRST_REQUESTS = {
    CURRENT: {50: 10.0, 5000: 160.0, 10000: 310.0},
    AGAINST: {50: 80.0, 5000: 580.0, 10000: 1080.0},
    FLOOR: {50: 80.0, 5000: 300.0, 10000: 600.0},
    BASELINE: {50: 80.0, 5000: 600.0, 10000: 1200.0},
}


def _results(
    current_p50_us: float = 50.0,
    current_log_bytes: int = 250,
    against_p50_us: float | None = None,
    miss_share: dict[str, dict[str, Any]] | None = None,
    first_requests: dict[str, dict[int, float]] | None = None,
) -> BenchResults:
    first = {**GOOD_FIRST_REQUESTS, **(first_requests or {})}
    sides = [CURRENT, BASELINE, FLOOR] + ([AGAINST] if against_p50_us is not None else [])
    sizes = {}
    for size in SIZES:
        runs = SizeRuns(size, sides, expected_digest="d")
        runs.runs[CURRENT].append(
            _run(current_p50_us, current_log_bytes, walk_items=size, first_request_ms=first[CURRENT][size])
        )
        runs.runs[BASELINE].append(_run(90_000.0, 110, first_request_ms=first[BASELINE][size]))
        runs.runs[FLOOR].append(_run(60.0, 0, first_request_ms=first[FLOOR][size]))
        if against_p50_us is not None:
            runs.runs[AGAINST].append(_run(against_p50_us, 600, first_request_ms=first[AGAINST][size]))
        sizes[size] = runs
    import_only = {side: [200.0, 200.0] for side in sides}
    imports, samples = import_figures(import_only, sizes)
    return BenchResults(
        machine={"cpu": "test", "cores": 2, "python": "3.11", "load_average_at_start": (0.1, 0.1, 0.1)},
        against_ref="abc1234" if against_p50_us is not None else None,
        sizes=sizes,
        imports=imports,
        import_samples=samples,
        miss_share=miss_share or {},
        inits=init_figures({side: [{"init_ms": 20.0}] for side in sides}, sizes),
    )


def _check(results: BenchResults, name_part: str) -> targets.Check:
    return next(check for check in targets.evaluate(results) if name_part in check.name)


def test_targets_against_another_commit_are_not_checked_without_against_and_fail_nothing() -> None:
    checks = [check for check in targets.evaluate(_results()) if "AGAINST" in check.name]
    assert len(checks) == 3
    assert {check.status for check in checks} == {"NOT CHECKED"}
    assert targets.all_passed(checks)


def test_warm_p50_target_passes_at_1_05_of_against_and_fails_above() -> None:
    assert _check(_results(current_p50_us=105.0, against_p50_us=100.0), "warm p50 ≤").status == "PASS"
    failed = _check(_results(current_p50_us=110.0, against_p50_us=100.0), "warm p50 ≤")
    assert failed.status == "FAIL"
    assert "1.100×" in failed.detail


def test_warm_p50_target_ignores_sizes_the_issue_does_not_judge() -> None:
    results = _results(current_p50_us=100.0, against_p50_us=100.0)
    results.summaries[10000][CURRENT]["list"]["p50_ms"] = 1.0
    assert _check(results, "warm p50 ≤").status == "PASS"


def test_cold_is_import_and_init_of_every_process_plus_the_first_request_at_the_size() -> None:
    results = _results(against_p50_us=100.0)
    assert results.cold_ms(CURRENT, 50) == pytest.approx(200.0 + 20.0 + 10.0)
    assert results.large_catalogue_extra_ms(AGAINST) == pytest.approx(1000.0)


def test_cold_targets_pass_at_0_85_of_the_floor_and_of_against_and_fail_above() -> None:
    # Floor and AGAINST: 300 ms cold at 50 items; 0.85 of that is 255 ms, so a first request of 35 ms.
    assert (
        _check(
            _results(against_p50_us=100.0, first_requests={CURRENT: {50: 35.0, 5000: 1.0, 10000: 335.0}}), "floor"
        ).status
        == "PASS"
    )
    slow = _results(against_p50_us=100.0, first_requests={CURRENT: {50: 36.0, 5000: 1.0, 10000: 336.0}})
    assert _check(slow, "floor").status == "FAIL"
    assert _check(slow, "at 50 items ≤ 0.85× AGAINST").status == "FAIL"


def test_large_catalogue_target_compares_what_the_largest_size_adds() -> None:
    # AGAINST: 10,000 items add 1,000 ms; 0.4 of that is 400 ms.
    assert (
        _check(
            _results(against_p50_us=100.0, first_requests={CURRENT: {50: 10.0, 5000: 1.0, 10000: 410.0}}),
            "add to a cold start",
        ).status
        == "PASS"
    )
    failed = _check(
        _results(against_p50_us=100.0, first_requests={CURRENT: {50: 10.0, 5000: 1.0, 10000: 411.0}}),
        "add to a cold start",
    )
    assert failed.status == "FAIL"
    assert "0.401×" in failed.detail


def test_log_target_judges_every_hit_line_and_the_mean_bytes_of_a_warm_hit() -> None:
    assert _check(_results(current_log_bytes=300), "log line").passed is True
    assert _check(_results(current_log_bytes=301), "log line").passed is False


def test_log_target_fails_on_one_long_hit_line_even_when_the_mean_is_small() -> None:
    results = _results(current_log_bytes=250)
    for summary in results.summaries.values():
        summary[CURRENT]["hit_log_bytes_max"] = 301
    assert _check(results, "log line").passed is False


def test_a_hits_own_line_is_measured_apart_from_a_metrics_line_written_after_it() -> None:
    from bench.container import request_line_bytes

    request = b'{"level":"INFO","message":"request","status":200}\n'
    batch = b'{"level":"INFO","message":"metrics","_aws":{},"Latency":[1,2,3]}\n'
    assert request_line_bytes(request + batch) == len(request)
    poc_line = b"[INFO]\t2026-11-25T00:00:00.000Z\tpoc line\n"
    assert request_line_bytes(poc_line) == len(poc_line)


def _simulated(pinged_misses: int) -> dict[str, dict[str, Any]]:
    pinged = {"user_requests": 3600, "user_misses": pinged_misses, "pings": 12, "share": pinged_misses / 3600}
    unpinged = {"user_requests": 3600, "user_misses": 13, "pings": 0, "share": 13 / 3600}
    return {CURRENT: {"pinged": pinged, "unpinged": unpinged}}


def test_pinged_miss_share_target_needs_zero_misses_and_is_not_checked_without_a_simulation() -> None:
    assert _check(_results(miss_share=_simulated(0)), "MISS").status == "PASS"
    assert _check(_results(miss_share=_simulated(1)), "MISS").status == "FAIL"
    assert _check(_results(), "MISS").status == "NOT CHECKED"


def test_every_target_passes_on_a_good_run() -> None:
    checks = targets.evaluate(_results(against_p50_us=50.0, miss_share=_simulated(0)))
    assert [check.status for check in checks] == ["PASS"] * len(checks), [check.detail for check in checks]


def test_import_figures_pair_each_round_back_to_back() -> None:
    imports, samples = import_figures({CURRENT: [100.0, 300.0], BASELINE: [200.0, 300.0]}, {})
    assert imports[f"paired_ratio_{BASELINE}"] == pytest.approx((0.5 + 1.0) / 2)
    assert math.isnan(imports[f"paired_ratio_{AGAINST}"])
    assert samples[CURRENT] == [100.0, 300.0]


# --- report rendering ---------------------------------------------------------------------------------------


def test_two_sided_table_has_a_ratio_column_and_prints_missing_values_as_na() -> None:
    rows = ["50 items", report.Figure("warm p50", {CURRENT: 50.0, AGAINST: 100.0}, " µs", 0)]
    rows.append(report.Figure("only current", {CURRENT: 1.0}, " ms", 1))
    lines = report.render_table(rows, (CURRENT, AGAINST), report.side_labels("abc1234"))
    assert lines[0] == "| figure | current | AGAINST `abc1234` | current/against |"
    assert lines[1] == "|---|---:|---:|---:|"
    assert lines[2] == "| **50 items** | | | |"
    assert lines[3] == "| warm p50 | 50 µs | 100 µs | 0.5× |"
    assert lines[4] == "| only current | 1.0 ms | n/a | n/a |"


def test_one_sided_table_has_no_ratio_column() -> None:
    lines = report.render_table([report.Figure("x", {CURRENT: 2.0}, " B", 0)], (CURRENT,), report.side_labels(None))
    assert lines == ["| figure | current |", "|---|---:|", "| x | 2 B |"]


def test_report_shows_against_side_by_side_and_every_target() -> None:
    results = _results(against_p50_us=200.0)
    checks = targets.evaluate(results)
    text = report.render(results, checks)
    assert "### Log bytes and warm latency: current against `abc1234`" in text
    assert "| warm p50 GET /llms (default page) | 50 µs | 200 µs | 0.25× |" in text
    assert "### Cold start and refresh" in text
    assert (
        "| cold: import + init + first request | 230.0 ms | 300.0 ms | 300.0 ms | 300.0 ms | 0.767× | 0.767× |" in text
    )
    assert "### Against the PoC baseline" in text
    for check in checks:
        assert f"{check.status:<11}  {check.name}" in text


# --- the MISS-share simulation ------------------------------------------------------------------------------


def test_timeline_starts_with_a_ping_and_never_ties_users_with_pings() -> None:
    events = timeline(600, users_per_minute=2, ping_interval_seconds=300)
    assert events[0] == (0.0, "ping")
    assert [kind for _, kind in events].count("ping") == 2
    assert [kind for _, kind in events].count("user") == 20
    ping_times = {moment for moment, kind in events if kind == "ping"}
    assert all(moment not in ping_times for moment, kind in events if kind == "user")


def _cache(clock: FakeClock, jitter_draw: float = 1.0) -> SnapshotCache:
    """The cache as the service builds it, on the fake clock, with a fixed jitter draw.

    A draw of 1 gives the shortest TTL the settings allow: 270 s of a 300 s TTL, shorter than the ping interval.
    """
    settings = unit_settings(CACHE_TTL_SECONDS="300", CACHE_TTL_JITTER_RATIO="0.1")
    return build_cache(settings, lambda: ScanResult([], 0, 1, 0.0), clock=clock, rand=lambda: jitter_draw)


def test_refresh_ahead_pings_leave_no_user_a_miss() -> None:
    clock = FakeClock()
    cache = _cache(clock)
    outcome = simulate(
        clock,
        lambda: cache.read().state,
        lambda: cache.read(fresh_for_at_least=PING_FRESHNESS_SECONDS),
        ping_interval_seconds=WARMUP_INTERVAL_MINUTES * 60,
    )
    assert (outcome.user_requests, outcome.user_misses, outcome.pings) == (3600, 0, 12)
    assert outcome.share == 0


def test_pings_that_only_read_do_not_stop_users_missing_when_the_ttl_is_shorter_than_the_interval() -> None:
    clock = FakeClock()
    cache = _cache(clock)
    outcome = simulate(clock, lambda: cache.read().state, cache.read)
    # The 270 s snapshot always expires between pings, so users reload it (at 270.5 s, 540.5 s, ...) and
    # every ping then finds it fresh: 13 misses in the hour, as if there were no pings at all.
    assert outcome.user_misses == 13
    assert outcome.share == pytest.approx(13 / 3600)


def test_an_unpinged_container_misses_first_and_once_per_ttl() -> None:
    clock = FakeClock()
    cache = _cache(clock, jitter_draw=0.0)
    outcome = simulate(clock, lambda: cache.read().state, None)
    # Users at 0.5 s, 300.5 s, ...: each finds the 300 s snapshot just expired.
    assert (outcome.user_misses, outcome.pings) == (12, 0)


@pytest.fixture
def restore_service() -> Iterator[None]:
    previous = service.replace_service(None)
    yield
    service.replace_service(previous)


def test_miss_share_through_the_handler_counts_what_users_were_told(restore_service: None) -> None:
    from app import app

    options = {
        "items": generate_items(2),
        "duration_seconds": 3600,
        "users_per_minute": 2,
        "ping_interval_seconds": WARMUP_INTERVAL_MINUTES * 60,
    }
    result = run_miss_share(app, options)
    assert result["refresh_ahead_seconds"] == PING_FRESHNESS_SECONDS
    assert result["pinged"]["user_misses"] == 0
    assert result["pinged"]["pings"] == 12
    assert result["unpinged"]["user_misses"] >= 1
    assert result["unpinged"]["user_requests"] == 120


def test_counting_dynamodb_calls_swaps_in_an_instrumented_client_without_private_names(
    dynamodb: Any, restore_service: None
) -> None:
    calls: list[str] = []
    app_tree.count_dynamodb_calls(lambda model, **_: calls.append(model.name))
    service.current_service().repository.scan_all()
    assert calls == ["Scan"]
