"""The benchmark's targets: PASS, FAIL or NOT CHECKED each, and the run fails if any fails.

Against the PoC baseline: import time, and one DynamoDB read burst per container.
Against fixed limits: cache-hit latency, scaling with table size, the full walk,
the log line's size and the MISS share of pinged containers. Cold start against the
floor (bench/floor.py) and against an earlier commit (`--against`), with warm latency
held to that commit's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import ratio
from bench.summary import (
    AGAINST,
    BASELINE,
    CURRENT,
    FLOOR,
    SCENARIO_LABELS,
    SCENARIOS,
    BenchResults,
    warm_p50_ratios,
)

# Measured first: 20 back-to-back pairs put the service's import 4-10 % above the baseline's (Powertools and
# Chalice against boto3.resource's extra model loading), with run-to-run noise of the same size on a shared
# 2-core machine. 10 % is the bar the PoC comparison allows; the result sits close to it, and the README says so.
IMPORT_TOLERANCE = 1.10
CACHE_HIT_P50_LIMIT_MS = 1.0
SCALE_RATIO_LIMIT = 2.0
# A warm hit's log line is most of what CloudWatch Logs bills per request.
LOG_LINE_LIMIT_BYTES = 300
# Cold-start work must not be bought with warm latency.
WARM_P50_AGAINST_LIMIT = 1.05
WARM_P50_SIZES = (50, 5000)
# Cold (import, init, first request) at the smallest size against the floor and against AGAINST,
# and what the largest catalogue adds to a cold start against what it added at AGAINST.
COLD_FLOOR_LIMIT = 0.85
COLD_AGAINST_LIMIT = 0.85
LARGE_EXTRA_AGAINST_LIMIT = 0.4


@dataclass(frozen=True)
class Check:
    name: str
    # None: the run had nothing to judge it by (no AGAINST given).
    passed: bool | None
    detail: str

    @property
    def status(self) -> str:
        return "NOT CHECKED" if self.passed is None else "PASS" if self.passed else "FAIL"


def cache_hit_p50(results: BenchResults) -> Check:
    summaries = results.summaries
    worst = max(
        (summary[CURRENT][scenario]["p50_ms"], size, scenario)
        for size, summary in summaries.items()
        for scenario in SCENARIOS
    )
    misses = sum(summary[CURRENT][scenario]["not_hit"] for summary in summaries.values() for scenario in SCENARIOS)
    return Check(
        "cache hit p50 < 1 ms in-process",
        worst[0] < CACHE_HIT_P50_LIMIT_MS and misses == 0,
        f"slowest p50 {worst[0]:.3f} ms ({SCENARIO_LABELS[worst[2]]} at {worst[1]:,} items); "
        f"{misses} warm request(s) not served as HIT",
    )


def scale(results: BenchResults) -> Check:
    smallest, largest = min(results.summaries), max(results.summaries)
    small, large = results.summaries[smallest][CURRENT]["list"], results.summaries[largest][CURRENT]["list"]
    return Check(
        f"{largest:,}-item warm p50 within {SCALE_RATIO_LIMIT:g}× of {smallest:,}-item (default page)",
        large["p50_ms"] <= SCALE_RATIO_LIMIT * small["p50_ms"],
        f"{large['p50_ms']:.3f} ms / {small['p50_ms']:.3f} ms = {large['p50_ms'] / small['p50_ms']:.2f}× "
        f"(pages of {large['items']} vs {small['items']} items)",
    )


def full_walk(results: BenchResults) -> Check:
    largest = max(results.sizes)
    expected = results.sizes[largest].expected_digest
    walk = next(run["walk"] for run in results.sizes[largest].runs[CURRENT] if "walk" in run)
    matches = walk["names_digest"] == expected
    return Check(
        f"full {largest:,}-item walk (limit=1000, following next_token) returns every item exactly once",
        walk["names"] == walk["unique_names"] == largest and matches,
        f"{walk['names']:,} names, {walk['unique_names']:,} unique, {walk['pages']} pages, "
        f"names {'match' if matches else 'DIFFER from'} the table",
    )


def one_read_burst(results: BenchResults) -> Check:
    passed, details = True, []
    for size, summary in results.summaries.items():
        pages_of_one_scan = summary[BASELINE]["first_request_dynamodb_calls"]
        per_container = summary[CURRENT]["dynamodb_calls_per_container"]
        passed &= all(calls == pages_of_one_scan for calls in per_container)
        passed &= not any(summary[CURRENT]["warm_dynamodb_calls_per_run"])
        details.append(
            f"{size:,} items: {per_container} Scan calls per container over "
            f"{summary[CURRENT]['warm_requests_per_run'][0] + 1:,} requests, one scan = {pages_of_one_scan:g} page(s)"
        )
    return Check("at most one DynamoDB read burst per container per TTL", passed, "; ".join(details))


def cold_init_against_baseline(results: BenchResults) -> Check:
    imports = results.imports
    paired = imports[f"paired_ratio_{BASELINE}"]
    return Check(
        f"cold init no worse than a plain boto3-resource Lambda (×{IMPORT_TOLERANCE:.2f})",
        paired <= IMPORT_TOLERANCE,
        f"median of back-to-back pair ratios {paired:.3f}× (medians: current {imports[CURRENT]:.1f} ms, "
        f"baseline {imports[BASELINE]:.1f} ms = {imports[CURRENT] / imports[BASELINE]:.3f}×)",
    )


def log_line_size(results: BenchResults) -> Check:
    """Every warm hit's own line, and the bytes a warm hit costs on average (what CloudWatch Logs bills,
    the batched metrics lines included), must each stay within the limit."""
    summaries = [summary[CURRENT] for summary in results.summaries.values()]
    mean = max(summary["hit_log_bytes_mean"] for summary in summaries)
    typical = max(summary["hit_log_bytes_median"] for summary in summaries)
    largest = max(summary["hit_log_bytes_max"] for summary in summaries)
    return Check(
        f"log line ≤ {LOG_LINE_LIMIT_BYTES} B for every warm cache hit, and per warm hit on average",
        largest <= LOG_LINE_LIMIT_BYTES and mean <= LOG_LINE_LIMIT_BYTES,
        f"largest hit line {largest:,} B, typical {typical:,.0f} B; {mean:,.0f} B per warm hit with the "
        "batched metrics lines (the worst size and route)",
    )


def warm_p50_against(results: BenchResults) -> Check:
    sizes = " and ".join(f"{size:,}" for size in WARM_P50_SIZES)
    name = f"warm p50 ≤ {WARM_P50_AGAINST_LIMIT:g}× AGAINST's, every route at {sizes} items"
    if not results.against_ref:
        return Check(name, None, "no AGAINST given (make bench AGAINST=<git ref>)")
    ratios = [entry for entry in warm_p50_ratios(results) if entry[1] in WARM_P50_SIZES]
    if not ratios:
        return Check(name, None, f"no table of {' or '.join(map(str, WARM_P50_SIZES))} items measured")
    worst, size, scenario = ratios[0]
    best = ratios[-1][0]
    return Check(
        name,
        worst <= WARM_P50_AGAINST_LIMIT,
        f"worst current/{results.against_ref} {worst:.3f}× ({SCENARIO_LABELS[scenario]} at {size:,} items), "
        f"best {best:.3f}×",
    )


def pinged_miss_share(results: BenchResults) -> Check:
    simulated = results.miss_share.get(CURRENT)
    name = "no user request served MISS in a pinged container"
    if simulated is None:
        return Check(name, None, "the MISS-share simulation did not run")
    pinged, unpinged = simulated["pinged"], simulated["unpinged"]
    detail = f"pinged {pinged['user_misses']} of {pinged['user_requests']:,}; unpinged {unpinged['user_misses']}"
    against = results.miss_share.get(AGAINST)
    if against is not None:
        detail += f"; {results.against_ref}: pinged {against['pinged']['user_misses']}"
    return Check(name, pinged["user_misses"] == 0, detail)


def cold_against_floor(results: BenchResults) -> Check:
    size = min(results.summaries)
    name = f"cold (import, init, first request) at {size:,} items ≤ {COLD_FLOOR_LIMIT:g}× the bare Chalice floor"
    ours, floor = results.cold_ms(CURRENT, size), results.cold_ms(FLOOR, size)
    if floor != floor:  # NaN: the floor did not run
        return Check(name, None, "the floor did not run")
    return Check(name, ours <= COLD_FLOOR_LIMIT * floor, f"{ours:.1f} ms / {floor:.1f} ms = {ratio(ours, floor):.3f}×")


def cold_against(results: BenchResults) -> Check:
    size = min(results.summaries)
    name = f"cold (import, init, first request) at {size:,} items ≤ {COLD_AGAINST_LIMIT:g}× AGAINST's"
    if not results.against_ref:
        return Check(name, None, "no AGAINST given (make bench AGAINST=<git ref>)")
    ours, theirs = results.cold_ms(CURRENT, size), results.cold_ms(AGAINST, size)
    return Check(
        name,
        ours <= COLD_AGAINST_LIMIT * theirs,
        f"{ours:.1f} ms / {theirs:.1f} ms ({results.against_ref}) = {ratio(ours, theirs):.3f}×",
    )


def large_catalogue_extra(results: BenchResults) -> Check:
    small, large = min(results.summaries), max(results.summaries)
    name = (
        f"what {large:,} items add to a cold start (cold at {large:,} − at {small:,}) "
        f"≤ {LARGE_EXTRA_AGAINST_LIMIT:g}× AGAINST's"
    )
    if not results.against_ref:
        return Check(name, None, "no AGAINST given (make bench AGAINST=<git ref>)")
    ours, theirs = results.large_catalogue_extra_ms(CURRENT), results.large_catalogue_extra_ms(AGAINST)
    return Check(
        name,
        ours <= LARGE_EXTRA_AGAINST_LIMIT * theirs,
        f"{ours:.1f} ms / {theirs:.1f} ms ({results.against_ref}) = {ratio(ours, theirs):.3f}×",
    )


CHECKS: tuple[Callable[[BenchResults], Check], ...] = (
    cold_against_floor,
    cold_against,
    large_catalogue_extra,
    cache_hit_p50,
    scale,
    full_walk,
    one_read_burst,
    cold_init_against_baseline,
    log_line_size,
    warm_p50_against,
    pinged_miss_share,
)


def evaluate(results: BenchResults) -> list[Check]:
    return [check(results) for check in CHECKS]


def all_passed(checks: list[Check]) -> bool:
    """True unless a target failed; a target not checked fails nothing."""
    return not any(check.passed is False for check in checks)
