"""Monthly AWS bill for the LLM Scores API, line by line, from measured per-request figures.

    python scripts/cost_model.py --requests 100e6 [--api-type http] [--cdn-hit-ratio 0.9] ...
    python scripts/cost_model.py --scenarios          # the README table: 1M, 100M and 2.6B requests a month

Every price is a dated constant with its public source (us-east-1, on-demand, free
tiers not subtracted). The defaults for duration, init and log bytes are the
figures `make bench` measured (see README "Performance"); pass your own.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

# ---------------------------------------------------------------------------------------------------------------
# Prices: us-east-1, as the public AWS pricing pages listed them when last checked (2025-08). This repository
# was written without network access, so they were not re-checked on the day: verify before quoting a bill.
PRICES_AS_OF = "2025-08 (us-east-1, public pricing pages; free tiers not subtracted)"

# https://aws.amazon.com/api-gateway/pricing/ — REST API requests, per million, tiered by monthly volume.
REST_API_TIERS = ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51))
# Same page — HTTP API requests, per million; each 512 KB of request or response counts as one more request.
HTTP_API_TIERS = ((300e6, 1.00), (math.inf, 0.90))
HTTP_API_METERING_BYTES = 512 * 1024

# https://aws.amazon.com/lambda/pricing/ — requests, and on-demand duration per GB-second tiered by monthly GB-s.
LAMBDA_REQUEST_PRICE_PER_MILLION = 0.20
LAMBDA_DURATION_TIERS = {
    "x86_64": ((6e9, 0.0000166667), (9e9, 0.0000150000), (math.inf, 0.0000133334)),
    "arm64": ((7.5e9, 0.0000133334), (11.25e9, 0.0000120001), (math.inf, 0.0000106667)),
}
# Same page — provisioned concurrency: the capacity per GB-second kept warm, and a lower duration price on it.
PROVISIONED_CAPACITY_PRICE = {"x86_64": 0.0000041667, "arm64": 0.0000033334}
PROVISIONED_DURATION_PRICE = {"x86_64": 0.0000097222, "arm64": 0.0000077778}
# Same page — SnapStart for Python: snapshot cache per GB-second while the version is active (3 h minimum),
# and each restore per GB of memory restored.
SNAPSTART_CACHE_PRICE = 0.0000015046
SNAPSTART_RESTORE_PRICE_PER_GB = 0.0001397998
# Since 2025-08-01 Lambda bills the INIT phase of on-demand functions (zip packages on managed runtimes
# included) as ordinary duration: https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/
# so every cold start's init is billed below at the duration price.

# https://aws.amazon.com/dynamodb/pricing/on-demand/ — read request units, per million (price since 2024-11-01).
# A Scan is charged by the data it reads: 1 RRU per 4 KB strongly consistent, half that eventually consistent
# (the Scan default, and what the repository uses).
DYNAMODB_RRU_PRICE_PER_MILLION = 0.125
DYNAMODB_READ_BLOCK_BYTES = 4096
EVENTUALLY_CONSISTENT_FACTOR = 0.5

# https://aws.amazon.com/cloudwatch/pricing/ — Logs ingestion, Standard class, per GB. (Lambda logs have had
# volume tiers above 10 TB a month since 2025-05; no scenario here comes near them.)
LOGS_INGESTION_PRICE_PER_GB = 0.50
# Lambda's own START, END and REPORT lines per invocation (text format, ~270 bytes): an estimate, not measured.
PLATFORM_LOG_BYTES = 270

# https://aws.amazon.com/ec2/pricing/on-demand/ "Data Transfer" — internet egress, which API Gateway bills at.
EGRESS_TIERS = ((10 * 1024, 0.09), (40 * 1024, 0.085), (100 * 1024, 0.07), (math.inf, 0.05))
# https://aws.amazon.com/cloudfront/pricing/ — United States edge egress per GB, and HTTPS requests per million.
# Origin fetches from API Gateway to CloudFront are not charged as egress.
CLOUDFRONT_EGRESS_TIERS = ((10 * 1024, 0.085), (40 * 1024, 0.080), (100 * 1024, 0.060), (math.inf, 0.040))
CLOUDFRONT_HTTPS_PRICE_PER_MILLION = 1.00

# https://aws.amazon.com/xray/pricing/ — traces recorded, per million. The default sampling rule records the
# first request each second and 5 % of the rest.
XRAY_PRICE_PER_MILLION_TRACES = 5.00
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
# ---------------------------------------------------------------------------------------------------------------

SECONDS_PER_MONTH = 730 * 3600
HOURS_PER_MONTH = 730
GIGABYTE = 1024**3
ARCHITECTURES = ("x86_64", "arm64")
API_TYPES = ("rest", "http")

# Defaults measured by `make bench` on 2026-11-25 (README "Performance": 2-core AMD EPYC, Python 3.11):
# the 5,000-item default page's warm p50, the service's import median, its log line, and the default page
# gzip-compressed as API Gateway sends it in prod. The item size is the generated items' mean JSON size.
MEASURED_WARM_DURATION_MS = 0.25
MEASURED_INIT_DURATION_MS = 385.0
MEASURED_LOG_BYTES = 612
MEASURED_RESPONSE_BYTES = 4_798
DEFAULT_ITEM_BYTES = 330
# An assumption, not a measurement: moto is far slower than DynamoDB. The bench measured 349 ms of CPU to parse
# and build a 5,000-item snapshot on one core here; Lambda at 1024 MB gets ~0.58 of a vCPU (1,769 MB = 1 vCPU),
# so ~600 ms, plus two 1 MB Scan pages at a few hundred ms each from DynamoDB.
ASSUMED_REFRESH_DURATION_MS = 1000.0


def tiered_cost(quantity: float, tiers: Sequence[tuple[float, float]], unit: float = 1.0) -> float:
    """Cost of `quantity` under volume tiers of (size of tier, price per `unit`), cheapest tier last."""
    cost = 0.0
    remaining = quantity
    for size, price in tiers:
        used = min(remaining, size)
        cost += used / unit * price
        remaining -= used
        if remaining <= 0:
            break
    return cost


@dataclass(frozen=True)
class Inputs:
    """Everything the bill depends on. Durations are per request, in milliseconds, as Lambda measures them."""

    requests_per_month: float
    memory_mb: int = 1024
    architecture: str = "arm64"
    warm_duration_ms: float = MEASURED_WARM_DURATION_MS
    refresh_duration_ms: float = ASSUMED_REFRESH_DURATION_MS
    init_duration_ms: float = MEASURED_INIT_DURATION_MS
    cold_start_ratio: float = 0.0001
    # None derives it from containers and TTL: each container reads the table once per (jittered) TTL.
    cache_hit_ratio: float | None = None
    containers: int = 5
    ttl_seconds: float = 300
    ttl_jitter_ratio: float = 0.1
    table_items: int = 5000
    item_bytes: int = DEFAULT_ITEM_BYTES
    log_bytes_per_request: float = MEASURED_LOG_BYTES
    platform_log_bytes_per_request: float = PLATFORM_LOG_BYTES
    response_bytes: float = MEASURED_RESPONSE_BYTES
    api_type: str = "rest"
    cdn_hit_ratio: float = 0.0
    provisioned_concurrency: int = 0
    provisioned_hours: float = HOURS_PER_MONTH
    snapstart: bool = False
    xray: bool = False

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}")
        if self.api_type not in API_TYPES:
            raise ValueError(f"api_type must be one of {API_TYPES}")
        for name in ("cold_start_ratio", "cdn_hit_ratio", "ttl_jitter_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.cache_hit_ratio is not None and not 0 <= self.cache_hit_ratio <= 1:
            raise ValueError("cache_hit_ratio must be between 0 and 1")
        if self.provisioned_concurrency and self.snapstart:
            raise ValueError("choose provisioned concurrency or SnapStart, not both")


@dataclass(frozen=True)
class Line:
    name: str
    quantity: float
    unit: str
    cost: float


@dataclass
class Bill:
    lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    def cost_of(self, name: str) -> float:
        return sum(line.cost for line in self.lines if line.name == name)


def origin_requests(inputs: Inputs) -> float:
    """Requests that get past the CDN (all of them without one) and so reach API Gateway and Lambda."""
    return inputs.requests_per_month * (1 - inputs.cdn_hit_ratio)


def refreshes_per_month(inputs: Inputs) -> float:
    """Table reads: one per request missing the snapshot cache."""
    requests = origin_requests(inputs)
    if inputs.cache_hit_ratio is not None:
        return requests * (1 - inputs.cache_hit_ratio)
    # Jitter shortens each TTL by 0..ratio at random, so the mean TTL is (1 - ratio / 2) of the setting.
    mean_ttl = inputs.ttl_seconds * (1 - inputs.ttl_jitter_ratio / 2)
    per_ttl = inputs.containers * SECONDS_PER_MONTH / mean_ttl if mean_ttl > 0 else requests
    return min(requests, per_ttl + requests * inputs.cold_start_ratio)


def read_units_per_scan(inputs: Inputs) -> float:
    blocks = math.ceil(inputs.table_items * inputs.item_bytes / DYNAMODB_READ_BLOCK_BYTES)
    return blocks * EVENTUALLY_CONSISTENT_FACTOR


def cdn_hit_ratio(requests_per_second: float, max_age_seconds: float, cacheable_urls: int, edge_caches: int) -> float:
    """A floor on the CDN hit ratio: at most one miss per URL per edge cache per max-age window."""
    window_requests = requests_per_second * max_age_seconds
    if window_requests <= 0:
        return 0.0
    return max(0.0, 1 - min(1.0, cacheable_urls * edge_caches / window_requests))


def monthly_bill(inputs: Inputs) -> Bill:
    """The monthly bill, one line per priced dimension."""
    bill = Bill()
    requests = origin_requests(inputs)
    memory_gb = inputs.memory_mb / 1024
    arch = inputs.architecture

    if inputs.cdn_hit_ratio > 0:
        cdn_gb = inputs.requests_per_month * inputs.response_bytes / GIGABYTE
        bill.lines.append(
            Line(
                "CloudFront HTTPS requests",
                inputs.requests_per_month,
                "requests",
                inputs.requests_per_month / 1e6 * CLOUDFRONT_HTTPS_PRICE_PER_MILLION,
            )
        )
        bill.lines.append(
            Line("CloudFront data transfer out", cdn_gb, "GB", tiered_cost(cdn_gb, CLOUDFRONT_EGRESS_TIERS))
        )
    else:
        egress_gb = requests * inputs.response_bytes / GIGABYTE
        bill.lines.append(Line("API Gateway data transfer out", egress_gb, "GB", tiered_cost(egress_gb, EGRESS_TIERS)))

    if inputs.api_type == "rest":
        bill.lines.append(
            Line("API Gateway REST requests", requests, "requests", tiered_cost(requests, REST_API_TIERS, 1e6))
        )
    else:
        metered = requests * max(1, math.ceil(inputs.response_bytes / HTTP_API_METERING_BYTES))
        bill.lines.append(
            Line("API Gateway HTTP API requests", metered, "requests", tiered_cost(metered, HTTP_API_TIERS, 1e6))
        )

    bill.lines.append(Line("Lambda requests", requests, "requests", requests / 1e6 * LAMBDA_REQUEST_PRICE_PER_MILLION))

    refreshes = refreshes_per_month(inputs)
    hits = requests - refreshes
    # Lambda rounds each invocation's duration up to the next millisecond.
    billed_ms = hits * math.ceil(inputs.warm_duration_ms) + refreshes * math.ceil(inputs.refresh_duration_ms)
    invocation_gb_seconds = billed_ms / 1000 * memory_gb
    cold_starts = requests * inputs.cold_start_ratio
    if inputs.provisioned_concurrency:
        capacity_gb_seconds = inputs.provisioned_concurrency * memory_gb * inputs.provisioned_hours * 3600
        bill.lines.append(
            Line(
                "Lambda provisioned concurrency",
                capacity_gb_seconds,
                "GB-s",
                capacity_gb_seconds * PROVISIONED_CAPACITY_PRICE[arch],
            )
        )
        bill.lines.append(
            Line(
                "Lambda duration (on provisioned)",
                invocation_gb_seconds,
                "GB-s",
                invocation_gb_seconds * PROVISIONED_DURATION_PRICE[arch],
            )
        )
    else:
        # SnapStart restores replace init; on-demand init is billed as duration since 2025-08-01.
        init_gb_seconds = 0.0 if inputs.snapstart else cold_starts * inputs.init_duration_ms / 1000 * memory_gb
        gb_seconds = invocation_gb_seconds + init_gb_seconds
        bill.lines.append(
            Line(
                "Lambda duration (init included)",
                gb_seconds,
                "GB-s",
                tiered_cost(gb_seconds, LAMBDA_DURATION_TIERS[arch]),
            )
        )
    if inputs.snapstart:
        cache_gb_seconds = memory_gb * SECONDS_PER_MONTH
        bill.lines.append(
            Line("Lambda SnapStart cache", cache_gb_seconds, "GB-s", cache_gb_seconds * SNAPSTART_CACHE_PRICE)
        )
        bill.lines.append(
            Line(
                "Lambda SnapStart restores",
                cold_starts,
                "restores",
                cold_starts * memory_gb * SNAPSTART_RESTORE_PRICE_PER_GB,
            )
        )

    read_units = refreshes * read_units_per_scan(inputs)
    bill.lines.append(
        Line("DynamoDB read request units", read_units, "RRU", read_units / 1e6 * DYNAMODB_RRU_PRICE_PER_MILLION)
    )

    log_gb = requests * (inputs.log_bytes_per_request + inputs.platform_log_bytes_per_request) / GIGABYTE
    bill.lines.append(Line("CloudWatch Logs ingestion", log_gb, "GB", log_gb * LOGS_INGESTION_PRICE_PER_GB))

    if inputs.xray:
        sampled = min(requests, XRAY_RESERVOIR_PER_SECOND * SECONDS_PER_MONTH)
        traces = sampled + (requests - sampled) * XRAY_FIXED_RATE
        bill.lines.append(Line("X-Ray traces", traces, "traces", traces / 1e6 * XRAY_PRICE_PER_MILLION_TRACES))
    return bill


def poc_inputs(inputs: Inputs, poc_duration_ms: float) -> Inputs:
    """The PoC on the same traffic: a full Scan and re-serialisation on every request, no snapshot cache."""
    return replace(inputs, cache_hit_ratio=0.0, refresh_duration_ms=poc_duration_ms, cdn_hit_ratio=0.0)


# (label, how the setting changes the inputs); each is priced against the scenario to find the biggest lever.
def levers(inputs: Inputs, requests_per_second: float, max_age_seconds: float = 60) -> list[tuple[str, Inputs]]:
    options: list[tuple[str, Inputs]] = []
    if inputs.api_type == "rest":
        options.append(
            ("HTTP API instead of REST (no usage plans, stage cache, WAF, X-Ray)", replace(inputs, api_type="http"))
        )
    if inputs.cdn_hit_ratio == 0:
        ratio = cdn_hit_ratio(requests_per_second, max_age_seconds, cacheable_urls=200, edge_caches=10)
        if ratio > 0:
            options.append(
                (
                    f"CloudFront in front, max-age {max_age_seconds:g} s (hit ratio ≥ {ratio:.0%})",
                    replace(inputs, cdn_hit_ratio=ratio),
                )
            )
    if inputs.architecture == "x86_64":
        options.append(("arm64 instead of x86_64", replace(inputs, architecture="arm64")))
    if inputs.memory_mb > 512:
        options.append((f"512 MB instead of {inputs.memory_mb} MB (if durations hold)", replace(inputs, memory_mb=512)))
    if inputs.xray:
        options.append(("X-Ray off", replace(inputs, xray=False)))
    options.append(("no per-request app log line (loses its EMF metrics)", replace(inputs, log_bytes_per_request=0)))
    return options


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def _quantity(value: float, unit: str) -> str:
    if value >= 1e9:
        return f"{value / 1e9:,.2f} B {unit}"
    if value >= 1e6:
        return f"{value / 1e6:,.1f} M {unit}"
    return f"{value:,.1f} {unit}"


def render(bill: Bill, title: str) -> str:
    lines = [f"{title}", "| line | quantity | monthly cost |", "|---|---:|---:|"]
    for line in bill.lines:
        lines.append(f"| {line.name} | {_quantity(line.quantity, line.unit)} | {_money(line.cost)} |")
    lines.append(f"| **total** | | **{_money(bill.total)}** |")
    return "\n".join(lines)


SCENARIOS = (
    # (label, requests per month, containers serving it, share of requests that meet a cold start).
    # Assumptions: busier functions keep containers longer, so cold starts are a smaller share of traffic.
    ("1M requests/month", 1e6, 1, 0.001),
    ("100M requests/month", 100e6, 5, 0.0001),
    ("2.6B requests/month (1,000 RPS sustained)", 2.6e9, 20, 0.00001),
)


def scenario_report(base: Inputs, poc_duration_ms: float) -> str:
    """The README table: each scale's bill by line, the PoC on the same traffic, and the biggest lever."""
    bills = []
    for label, requests, containers, cold_start_ratio in SCENARIOS:
        inputs = replace(base, requests_per_month=requests, containers=containers, cold_start_ratio=cold_start_ratio)
        bills.append((label, inputs, monthly_bill(inputs)))
    names = list(dict.fromkeys(line.name for _, _, bill in bills for line in bill.lines))
    out = [
        f"Prices: {PRICES_AS_OF}.",
        f"Service: {base.memory_mb} MB {base.architecture}, {base.api_type.upper()} API, "
        f"warm {base.warm_duration_ms:g} ms (billed {math.ceil(base.warm_duration_ms)} ms), "
        f"refresh {base.refresh_duration_ms:g} ms, init {base.init_duration_ms:g} ms "
        f"on {' / '.join(f'{scenario[3]:.3%}' for scenario in SCENARIOS)} of requests, "
        f"containers {' / '.join(str(scenario[2]) for scenario in SCENARIOS)}, TTL {base.ttl_seconds:g} s, "
        f"{base.table_items:,} items × {base.item_bytes} B, logs {base.log_bytes_per_request:g} + "
        f"{base.platform_log_bytes_per_request:g} B/request, response {base.response_bytes:,.0f} B"
        f"{', X-Ray on' if base.xray else ''}.",
        "",
        "| line | " + " | ".join(label for label, _, _ in bills) + " |",
        "|---|" + "---:|" * len(bills),
    ]
    for name in names:
        out.append(f"| {name} | " + " | ".join(_money(bill.cost_of(name)) for _, _, bill in bills) + " |")
    out.append("| **total** | " + " | ".join(f"**{_money(bill.total)}**" for _, _, bill in bills) + " |")
    poc = [monthly_bill(poc_inputs(inputs, poc_duration_ms)) for _, inputs, _ in bills]
    out.append(
        f"| PoC on the same traffic (scan + {poc_duration_ms:g} ms per request) | "
        + " | ".join(_money(bill.total) for bill in poc)
        + " |"
    )
    out.append("")
    for (label, inputs, bill), (_, requests, _, _) in zip(bills, SCENARIOS, strict=True):
        savings = sorted(
            (
                (bill.total - monthly_bill(changed).total, name)
                for name, changed in levers(inputs, requests / SECONDS_PER_MONTH)
            ),
            reverse=True,
        )
        biggest_line = max(bill.lines, key=lambda line: line.cost)
        ranked = "; ".join(
            f"{name}: saves {_money(saving)} ({saving / bill.total:.0%})" for saving, name in savings[:3]
        )
        out.append(
            f"- **{label}**: largest line is {biggest_line.name} ({biggest_line.cost / bill.total:.0%}). "
            f"Biggest levers: {ranked}."
        )
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Inputs(requests_per_month=100e6)
    parser.add_argument("--requests", type=float, default=defaults.requests_per_month, help="requests per month")
    parser.add_argument("--scenarios", action="store_true", help="print the 1M / 100M / 2.6B table and levers")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb)
    parser.add_argument("--architecture", choices=ARCHITECTURES, default=defaults.architecture)
    parser.add_argument(
        "--warm-ms", type=float, default=defaults.warm_duration_ms, help="cache-hit duration (measured)"
    )
    parser.add_argument("--refresh-ms", type=float, default=defaults.refresh_duration_ms, help="duration of a miss")
    parser.add_argument("--init-ms", type=float, default=defaults.init_duration_ms, help="init duration per cold start")
    parser.add_argument("--cold-start-ratio", type=float, default=defaults.cold_start_ratio)
    parser.add_argument("--cache-hit-ratio", type=float, default=None, help="default: derived from containers and TTL")
    parser.add_argument("--containers", type=int, default=defaults.containers)
    parser.add_argument("--ttl-seconds", type=float, default=defaults.ttl_seconds)
    parser.add_argument("--table-items", type=int, default=defaults.table_items)
    parser.add_argument("--item-bytes", type=int, default=defaults.item_bytes)
    parser.add_argument("--log-bytes", type=float, default=defaults.log_bytes_per_request, help="app log per request")
    parser.add_argument("--platform-log-bytes", type=float, default=defaults.platform_log_bytes_per_request)
    parser.add_argument("--response-bytes", type=float, default=defaults.response_bytes, help="bytes on the wire")
    parser.add_argument("--api-type", choices=API_TYPES, default=defaults.api_type)
    parser.add_argument("--cdn-hit-ratio", type=float, default=defaults.cdn_hit_ratio, help="0 = no CDN in front")
    parser.add_argument("--provisioned-concurrency", type=int, default=0)
    parser.add_argument("--provisioned-hours", type=float, default=HOURS_PER_MONTH)
    parser.add_argument("--snapstart", action="store_true")
    parser.add_argument("--xray", action="store_true", help="API Gateway + Lambda tracing with the default sampling")
    parser.add_argument("--poc-ms", type=float, default=ASSUMED_REFRESH_DURATION_MS, help="PoC duration per request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        inputs = Inputs(
            requests_per_month=arguments.requests,
            memory_mb=arguments.memory_mb,
            architecture=arguments.architecture,
            warm_duration_ms=arguments.warm_ms,
            refresh_duration_ms=arguments.refresh_ms,
            init_duration_ms=arguments.init_ms,
            cold_start_ratio=arguments.cold_start_ratio,
            cache_hit_ratio=arguments.cache_hit_ratio,
            containers=arguments.containers,
            ttl_seconds=arguments.ttl_seconds,
            table_items=arguments.table_items,
            item_bytes=arguments.item_bytes,
            log_bytes_per_request=arguments.log_bytes,
            platform_log_bytes_per_request=arguments.platform_log_bytes,
            response_bytes=arguments.response_bytes,
            api_type=arguments.api_type,
            cdn_hit_ratio=arguments.cdn_hit_ratio,
            provisioned_concurrency=arguments.provisioned_concurrency,
            provisioned_hours=arguments.provisioned_hours,
            snapstart=arguments.snapstart,
            xray=arguments.xray,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.scenarios:
        print(scenario_report(inputs, arguments.poc_ms))
    else:
        print(
            render(
                monthly_bill(inputs),
                f"Monthly bill for {_quantity(inputs.requests_per_month, 'requests')} ({PRICES_AS_OF})",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
