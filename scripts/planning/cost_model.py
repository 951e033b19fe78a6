"""Monthly AWS bill for the LLM Scores API, line by line, from measured per-request figures.

    python scripts/planning/cost_model.py --requests 100e6 [--api-type http] [--cdn-hit-ratio 0.9] ...
    python scripts/planning/cost_model.py --scenarios    # `make cost`: 1M, 100M and 2.6B requests, levers, options
    python scripts/planning/cost_model.py --options      # each option's monthly price at those three volumes
    python scripts/planning/cost_model.py --write-docs   # regenerate the tables in docs/cost.md, disaster-recovery.md

Every price is a dated constant with its public source (us-east-1, on-demand, free
tiers not subtracted). The defaults for duration, init and log bytes are the
figures `make bench` measured (docs/performance.md); pass your own.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

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

# --- Prices of the options `--options` lists (same date, same caveat: verify before quoting) ---------------------
# https://aws.amazon.com/waf/pricing/ — per web ACL and per rule (a managed rule group counts as one rule) a
# month, prorated hourly, and per million requests inspected. The AWS Managed Rules used here carry no
# subscription fee (Bot Control, ATP and ACFP would). Above 1,500 WCU a web ACL pays more per request; these
# rules use ~927 (Common 700, KnownBadInputs 200, Amazon IP reputation 25, a rate-based rule 2).
WAF_WEB_ACL_PRICE_PER_MONTH = 5.00
WAF_RULE_PRICE_PER_MONTH = 1.00
WAF_REQUEST_PRICE_PER_MILLION = 0.60
WAF_RULES = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "a rate-based rule",
)
# https://aws.amazon.com/cloudwatch/pricing/ "Vended Logs" — WAF logs delivered to CloudWatch Logs, per GB, tiered.
VENDED_LOGS_TIERS = ((10 * 1024, 0.50), (20 * 1024, 0.25), (20 * 1024, 0.10), (math.inf, 0.05))
# An estimate, not measured: one WAF log record (JSON with the request's headers and the rules evaluated).
WAF_LOG_BYTES_PER_REQUEST = 1500
# Same CloudWatch page — Logs Insights, per GB scanned. Saving a query definition is free.
LOGS_INSIGHTS_PRICE_PER_GB_SCANNED = 0.005
# Same page — a standard-resolution alarm a month per metric it reads, a composite alarm a month, a dashboard a
# month; https://aws.amazon.com/kms/pricing/ — a customer-managed key a month.
CLOUDWATCH_ALARM_PRICE_PER_MONTH = 0.10
CLOUDWATCH_COMPOSITE_ALARM_PRICE_PER_MONTH = 0.50
CLOUDWATCH_DASHBOARD_PRICE_PER_MONTH = 3.00
KMS_KEY_PRICE_PER_MONTH = 1.00
# https://aws.amazon.com/route53/pricing/ — a hosted zone a month (first 25). Queries to alias records that
# point at AWS resources (API Gateway, CloudFront) are free; ACM public certificates are free
# (https://aws.amazon.com/certificate-manager/pricing/), and so is an API Gateway custom domain name.
ROUTE53_HOSTED_ZONE_PRICE_PER_MONTH = 0.50
# Same page — a health check a month. Priced as a non-AWS endpoint ($0.75 + $2.00 for HTTPS): the cautious
# reading, since an execute-api address is not a resource in this account. As an AWS endpoint: $0.50 + $1.00.
ROUTE53_HEALTH_CHECK_PRICE_PER_MONTH = 0.75
ROUTE53_HEALTH_CHECK_HTTPS_PRICE_PER_MONTH = 2.00
# Same page — string matching (the probe's HTTPS_STR_MATCH), priced the same cautious way.
ROUTE53_HEALTH_CHECK_STRING_MATCH_PRICE_PER_MONTH = 2.00
# Route 53 developer guide (health checks, request interval): at the 30 s interval, an endpoint receives
# a check about every two seconds from the health checkers together. Each goes through API Gateway and Lambda.
ROUTE53_HEALTH_CHECK_REQUESTS_PER_SECOND = 0.5
# https://aws.amazon.com/aws-cost-management/aws-budgets/pricing/ — the first two budgets are free, then each
# costs per day. https://aws.amazon.com/aws-cost-management/aws-cost-anomaly-detection/pricing/ — free.
BUDGETS_FREE = 2
BUDGET_PRICE_PER_DAY = 0.02
# https://aws.amazon.com/codedeploy/pricing/ — no charge for deployments to Lambda (and none for API keys or
# usage plans: the API Gateway pricing page bills requests, not keys).
# https://aws.amazon.com/dynamodb/pricing/on-demand/ — a replicated write request unit costs what a write request
# unit does (since 2024-11-01), once per replica region; storage and PITR per GB-month.
DYNAMODB_REPLICATED_WRU_PRICE_PER_MILLION = 0.625
DYNAMODB_STORAGE_PRICE_PER_GB_MONTH = 0.25
DYNAMODB_PITR_PRICE_PER_GB_MONTH = 0.20
# https://aws.amazon.com/ec2/pricing/on-demand/ "Data Transfer" — between US regions, per GB (replication).
INTER_REGION_TRANSFER_PRICE_PER_GB = 0.02
# ---------------------------------------------------------------------------------------------------------------

SECONDS_PER_MONTH = 730 * 3600
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIGABYTE = 1024**3
ARCHITECTURES = ("x86_64", "arm64")
API_TYPES = ("rest", "http")

# Defaults measured by `make bench` on 2026-11-25 (docs/performance.md: 2-core AMD EPYC, Python 3.11):
# the 5,000-item default page's warm p50, the service's import median, and the default page gzip-compressed
# as API Gateway sends it in prod. The item size is the generated items' mean JSON size.
MEASURED_WARM_DURATION_MS = 0.25
MEASURED_INIT_DURATION_MS = 385.0
MEASURED_RESPONSE_BYTES = 4_798
DEFAULT_ITEM_BYTES = 330
# The app's log bytes per warm request, as `make bench` measured it (docs/performance.md, 2026-11-25): the
# request line is written by hand and the EMF metrics are batched; 245 B per request, batches included, where
# Powertools' line with per-request EMF was 612 B.
MEASURED_LOG_BYTES = 245
# An estimate, not measured: one API Gateway access log line in the stage's format (infra/terraform/
# api_gateway.tf, 19 fields) with typical values is 550-625 B, depending mostly on the User-Agent.
ESTIMATED_ACCESS_LOG_BYTES = 600
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
    access_log_bytes_per_request: float = ESTIMATED_ACCESS_LOG_BYTES
    response_bytes: float = MEASURED_RESPONSE_BYTES
    api_type: str = "rest"
    # A CDN in front bills every request, hit or miss; cdn_hit_ratio > 0 implies one.
    cloudfront: bool = False
    cdn_hit_ratio: float = 0.0
    provisioned_concurrency: int = 0
    provisioned_hours: float = HOURS_PER_MONTH
    snapstart: bool = False
    xray: bool = False
    # The stage's alarms, SLO composites, dashboard and observability key: a fixed price, whatever the traffic.
    monitoring: bool = True

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


def function_log_gb(inputs: Inputs) -> float:
    """The API function's log group a month: the app's request line and Lambda's own lines."""
    per_request = inputs.log_bytes_per_request + inputs.platform_log_bytes_per_request
    return origin_requests(inputs) * per_request / GIGABYTE


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

    if inputs.cloudfront or inputs.cdn_hit_ratio > 0:
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
    # Provisioned concurrency serves the requests of the hours it is configured for, at its cheaper duration
    # price and without cold starts; the rest of the month is on demand. Traffic is assumed to be spread evenly
    # over the month, which undercounts the share a business-hours schedule serves (it errs towards cost).
    provisioned_share = min(1.0, inputs.provisioned_hours / HOURS_PER_MONTH) if inputs.provisioned_concurrency else 0.0
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
        provisioned_gb_seconds = invocation_gb_seconds * provisioned_share
        bill.lines.append(
            Line(
                "Lambda duration (on provisioned)",
                provisioned_gb_seconds,
                "GB-s",
                provisioned_gb_seconds * PROVISIONED_DURATION_PRICE[arch],
            )
        )
    if provisioned_share < 1:
        on_demand_share = 1 - provisioned_share
        # SnapStart restores replace init; on-demand init is billed as duration since 2025-08-01.
        init_gb_seconds = 0.0 if inputs.snapstart else cold_starts * inputs.init_duration_ms / 1000 * memory_gb
        gb_seconds = (invocation_gb_seconds + init_gb_seconds) * on_demand_share
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

    log_gb = function_log_gb(inputs)
    bill.lines.append(Line("CloudWatch Logs ingestion", log_gb, "GB", log_gb * LOGS_INGESTION_PRICE_PER_GB))
    access_log_gb = requests * inputs.access_log_bytes_per_request / GIGABYTE
    bill.lines.append(Line("API Gateway access logs", access_log_gb, "GB", access_log_gb * LOGS_INGESTION_PRICE_PER_GB))

    if inputs.xray:
        sampled = min(requests, XRAY_RESERVOIR_PER_SECOND * SECONDS_PER_MONTH)
        traces = sampled + (requests - sampled) * XRAY_FIXED_RATE
        bill.lines.append(Line("X-Ray traces", traces, "traces", traces / 1e6 * XRAY_PRICE_PER_MILLION_TRACES))
    if inputs.monitoring:
        bill.lines.append(Line("CloudWatch alarms, dashboard, observability key", 1, "stage", monitoring_cost()))
    return bill


def monitoring_cost() -> float:
    """A stage's fixed monitoring: an alarm per metric read, the SLO composites, the dashboard, the alarms' key."""
    return (
        STACK_ALARM_METRICS * CLOUDWATCH_ALARM_PRICE_PER_MONTH
        + STACK_COMPOSITE_ALARMS * CLOUDWATCH_COMPOSITE_ALARM_PRICE_PER_MONTH
        + STACK_DASHBOARDS * CLOUDWATCH_DASHBOARD_PRICE_PER_MONTH
        + STACK_KMS_KEYS * KMS_KEY_PRICE_PER_MONTH
    )


def poc_inputs(inputs: Inputs, poc_duration_ms: float) -> Inputs:
    """The PoC on the same traffic: a full Scan and re-serialisation on every request, no snapshot cache."""
    return replace(
        inputs,
        cache_hit_ratio=0.0,
        refresh_duration_ms=poc_duration_ms,
        cdn_hit_ratio=0.0,
        cloudfront=False,
        monitoring=False,  # the PoC had no alarms, no dashboard, no key
    )


# What `make cost` assumes a CDN could cache: max-age as prod sets it (HTTP_MAX_AGE_SECONDS), the distinct URLs
# clients ask for, and the edge caches they reach.
CDN_MAX_AGE_SECONDS = 60
CDN_CACHEABLE_URLS = 200
CDN_EDGE_CACHES = 10


def scenario_cdn_hit_ratio(inputs: Inputs) -> float:
    return cdn_hit_ratio(
        inputs.requests_per_month / SECONDS_PER_MONTH, CDN_MAX_AGE_SECONDS, CDN_CACHEABLE_URLS, CDN_EDGE_CACHES
    )


# (label, how the setting changes the inputs); each is priced against the scenario to find the biggest lever.
def levers(inputs: Inputs) -> list[tuple[str, Inputs]]:
    options: list[tuple[str, Inputs]] = []
    if inputs.api_type == "rest":
        options.append(
            ("HTTP API instead of REST (no usage plans, stage cache, WAF, X-Ray)", replace(inputs, api_type="http"))
        )
    if not inputs.cloudfront and inputs.cdn_hit_ratio == 0:
        ratio = scenario_cdn_hit_ratio(inputs)
        if ratio > 0:
            options.append(
                (
                    f"CloudFront in front, max-age {CDN_MAX_AGE_SECONDS} s (hit ratio ≥ {ratio:.0%})",
                    replace(inputs, cloudfront=True, cdn_hit_ratio=ratio),
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


# --- Options: what each optional piece of infrastructure adds to (or saves from) the month's bill ----------------

# Assumptions behind the options' prices, aligned with what the export builds (infra/terraform/*.tf, as of
# 2026-11-25). Each is named in the options table.
# WAF: the export's web ACL also brings a KMS key for its log group and a blocked-requests alarm (2 metrics). Its
# logging filter keeps only blocked and counted requests; assume they are 1 % of traffic.
WAF_LOG_KEYS = 1
WAF_ALARM_METRICS = 2
WAF_LOGGED_SHARE = 0.01
# CORS: a GET that sends only CORS-safelisted headers needs no preflight; browser code that adds a header
# (If-None-Match, X-Api-Key, a JSON Content-Type) sends an OPTIONS first. Every route declares OPTIONS, so API
# Gateway hands the preflight to the function (chalicelib/cors.py answers 204), and Access-Control-Max-Age
# (7,200 s) lets a browser reuse it. Assume 5 % of requests are preflights, with ~500 B of headers each.
CORS_PREFLIGHT_SHARE = 0.05
CORS_PREFLIGHT_RESPONSE_BYTES = 500
# Budgets: the bootstrap creates one monthly cost budget per account (infra/bootstrap/cost_controls.tf).
ASSUMED_BUDGETS = 1
# Business hours: the export's schedule (provisioned_concurrency_business_hours* in variables.tf), 5 units
# from 07:30 to 19:00 on weekdays: 11.5 h x 22 weekdays.
BUSINESS_HOURS_PER_MONTH = 11.5 * 22
BUSINESS_HOURS_CONCURRENCY = 5
# Logs Insights: the saved queries (queries.tf) run 30 times a month, each over one day of the API
# function's log group, so together they scan about one month of it.
LOGS_INSIGHTS_MONTHS_SCANNED = 1.0
# A second region: the same export as prod (its provisioned concurrency, warm-up, WAF and alarms) kept warm as a
# standby behind failover routing; the catalogue is rewritten once a day (every item a write, replicated).
STANDBY_PROVISIONED_CONCURRENCY = 2
STANDBY_CONTAINERS = 5
# Prod's alarms, counted in the metrics they read, but for the probe's and the WAF's (priced with them), and its
# composite SLO alarms (tests/terraform/test_paging.py counts both in the prod export).
STACK_ALARM_METRICS = 51
STACK_COMPOSITE_ALARMS = 4
STACK_DASHBOARDS = 1
STACK_KMS_KEYS = 1
HEALTH_CHECKS = 2
CATALOGUE_REWRITES_PER_MONTH = 30
# A deep health check answers from the snapshot and reads DynamoDB (a one-key Scan) at most once per
# HEALTH_CHECK_INTERVAL_SECONDS per container, so most checks take no round trip; 20 ms prices every one as if
# it took one (a cautious assumption, not measured). It answers a small uncompressed body.
DEEP_HEALTH_DURATION_MS = 20.0
DEEP_HEALTH_RESPONSE_BYTES = 600


def _bill_change(inputs: Inputs, changed: Inputs) -> float:
    return monthly_bill(changed).total - monthly_bill(inputs).total


def waf_cost(inputs: Inputs) -> float:
    """A regional web ACL on the stage: the ACL, its rules, its alarm, and every request it inspects."""
    fixed = (
        WAF_WEB_ACL_PRICE_PER_MONTH
        + len(WAF_RULES) * WAF_RULE_PRICE_PER_MONTH
        + WAF_ALARM_METRICS * CLOUDWATCH_ALARM_PRICE_PER_MONTH
    )
    return fixed + origin_requests(inputs) / 1e6 * WAF_REQUEST_PRICE_PER_MILLION


def waf_logging_cost(inputs: Inputs, logged_share: float = WAF_LOGGED_SHARE) -> float:
    """The WAF log records kept, delivered to CloudWatch Logs as vended logs, and the log group's KMS key."""
    gb = origin_requests(inputs) * logged_share * WAF_LOG_BYTES_PER_REQUEST / GIGABYTE
    return WAF_LOG_KEYS * KMS_KEY_PRICE_PER_MONTH + tiered_cost(gb, VENDED_LOGS_TIERS)


def _with_extra_requests(inputs: Inputs, extra: float, response_bytes: float) -> Inputs:
    """`inputs` with `extra` requests of `response_bytes` each added to the month (egress is linear in bytes)."""
    total = inputs.requests_per_month + extra
    mean_bytes = (inputs.requests_per_month * inputs.response_bytes + extra * response_bytes) / total
    return replace(inputs, requests_per_month=total, response_bytes=mean_bytes)


def cors_cost(inputs: Inputs) -> float:
    """The preflight OPTIONS requests: each goes through API Gateway and the function like any request."""
    preflights = origin_requests(inputs) * CORS_PREFLIGHT_SHARE
    return _bill_change(inputs, _with_extra_requests(inputs, preflights, CORS_PREFLIGHT_RESPONSE_BYTES))


def budgets_cost(budgets: int = ASSUMED_BUDGETS) -> float:
    return max(0, budgets - BUDGETS_FREE) * BUDGET_PRICE_PER_DAY * DAYS_PER_MONTH


def logs_insights_cost(inputs: Inputs) -> float:
    return function_log_gb(inputs) * LOGS_INSIGHTS_MONTHS_SCANNED * LOGS_INSIGHTS_PRICE_PER_GB_SCANNED


def health_check_requests_per_month() -> float:
    return ROUTE53_HEALTH_CHECK_REQUESTS_PER_SECOND * SECONDS_PER_MONTH


def health_check_traffic_cost(inputs: Inputs) -> float:
    """What Route 53's checkers of one `/health?deep=true` add to a stage's bill: their requests, inspected by WAF.

    Priced inside the stage's bill, where they share the REST API's volume tier and X-Ray's reservoir, with the
    checks' smaller answers and longer duration folded in.
    """
    checks = health_check_requests_per_month()
    memory_gb = inputs.memory_mb / 1024
    checked = _with_extra_requests(inputs, checks, DEEP_HEALTH_RESPONSE_BYTES)
    extra_gb_seconds = (
        checks * (math.ceil(DEEP_HEALTH_DURATION_MS) - math.ceil(inputs.warm_duration_ms)) / 1000 * memory_gb
    )
    return (
        _bill_change(inputs, checked)
        + extra_gb_seconds * LAMBDA_DURATION_TIERS[inputs.architecture][0][1]
        + checks / 1e6 * WAF_REQUEST_PRICE_PER_MILLION
    )


def outside_probe_cost(inputs: Inputs) -> float:
    """The export's outside probe (infra/terraform/probe.tf): a Route 53 HTTPS string-matching check of the
    public URL every 30 s, its alarm, the us-east-1 page topic's KMS key, and the checkers' traffic."""
    check = (
        ROUTE53_HEALTH_CHECK_PRICE_PER_MONTH
        + ROUTE53_HEALTH_CHECK_HTTPS_PRICE_PER_MONTH
        + ROUTE53_HEALTH_CHECK_STRING_MATCH_PRICE_PER_MONTH
    )
    return check + CLOUDWATCH_ALARM_PRICE_PER_MONTH + KMS_KEY_PRICE_PER_MONTH + health_check_traffic_cost(inputs)


def second_region_lines(inputs: Inputs) -> list[Line]:
    """A warm standby in a second region: DynamoDB global table, the same export, Route 53 failover."""
    checks = health_check_requests_per_month()
    # The standby serves its own health check, refreshes its containers' snapshots and keeps prod's provisioned
    # concurrency, so that failing over does not meet a cold fleet (docs/capacity.md, "Cold fleets").
    standby = replace(
        inputs,
        requests_per_month=checks,
        warm_duration_ms=DEEP_HEALTH_DURATION_MS,
        response_bytes=DEEP_HEALTH_RESPONSE_BYTES,
        containers=STANDBY_CONTAINERS,
        cache_hit_ratio=None,
        cloudfront=False,
        cdn_hit_ratio=0.0,
        provisioned_concurrency=STANDBY_PROVISIONED_CONCURRENCY,
        provisioned_hours=HOURS_PER_MONTH,
        monitoring=False,  # its own line below
        snapstart=False,
    )
    primary_cost = health_check_traffic_cost(inputs)
    writes = inputs.table_items * CATALOGUE_REWRITES_PER_MONTH  # items under 1 KB: one write unit each
    table_gb = inputs.table_items * inputs.item_bytes / GIGABYTE
    replicated_gb = writes * inputs.item_bytes / GIGABYTE
    health_check_price = ROUTE53_HEALTH_CHECK_PRICE_PER_MONTH + ROUTE53_HEALTH_CHECK_HTTPS_PRICE_PER_MONTH
    return [
        Line(
            "standby: health-check traffic, snapshot refreshes, provisioned concurrency",
            checks,
            "requests",
            monthly_bill(standby).total,
        ),
        Line("standby: alarms, dashboard, KMS key", 1, "stack", monitoring_cost()),
        Line(
            "standby: WAF web ACL, its log key and alarm",
            checks,
            "requests",
            waf_cost(standby) + waf_logging_cost(standby),
        ),
        Line("primary: its health check's traffic", checks, "requests", primary_cost),
        Line(
            "Route 53 health checks (HTTPS, /health?deep=true)",
            HEALTH_CHECKS,
            "checks",
            HEALTH_CHECKS * health_check_price,
        ),
        Line("DynamoDB replicated writes", writes, "rWRU", writes / 1e6 * DYNAMODB_REPLICATED_WRU_PRICE_PER_MILLION),
        Line(
            "DynamoDB replica storage and PITR",
            table_gb,
            "GB",
            table_gb * (DYNAMODB_STORAGE_PRICE_PER_GB_MONTH + DYNAMODB_PITR_PRICE_PER_GB_MONTH),
        ),
        Line(
            "replication transfer between regions",
            replicated_gb,
            "GB",
            replicated_gb * INTER_REGION_TRANSFER_PRICE_PER_GB,
        ),
    ]


def second_region_cost(inputs: Inputs) -> float:
    return sum(line.cost for line in second_region_lines(inputs))


@dataclass(frozen=True)
class Option:
    """An optional piece of infrastructure: its monthly price against a scenario's bill (negative: it saves)."""

    name: str
    assumes: str
    price: Callable[[Inputs], float]


def option_catalogue(base: Inputs) -> list[Option]:
    """Every option, described for `base`'s memory size and architecture."""
    memory_gb = base.memory_mb / 1024
    provisioned_capacity = memory_gb * PROVISIONED_CAPACITY_PRICE[base.architecture] * BUSINESS_HOURS_PER_MONTH * 3600
    waf_alarm = WAF_ALARM_METRICS * CLOUDWATCH_ALARM_PRICE_PER_MONTH
    return [
        Option(
            "WAF web ACL on the stage",
            f"1 web ACL and {len(WAF_RULES)} rules (managed Common, KnownBadInputs and Amazon IP reputation groups, "
            f"a rate-based rule): ${WAF_WEB_ACL_PRICE_PER_MONTH:.2f} + {len(WAF_RULES)} × "
            f"${WAF_RULE_PRICE_PER_MONTH:.2f} a month and a ${waf_alarm:.2f} alarm, "
            f"${WAF_REQUEST_PRICE_PER_MILLION:.2f} per million requests; ~927 WCU, under the 1,500 that cost more",
            waf_cost,
        ),
        Option(
            "WAF logging to CloudWatch Logs (the export's filter)",
            f"only blocked and counted requests, assumed {WAF_LOGGED_SHARE:.0%} of traffic, "
            f"~{WAF_LOG_BYTES_PER_REQUEST:,} B a record (estimate), vended-log prices, and the log group's KMS key "
            f"(${KMS_KEY_PRICE_PER_MONTH:.2f})",
            waf_logging_cost,
        ),
        Option(
            "WAF logging of every request",
            "the same without the filter: what logging allowed requests too would cost",
            lambda inputs: waf_logging_cost(inputs, logged_share=1.0),
        ),
        Option("API keys and usage plans", "no charge (REST API only)", lambda inputs: 0.0),
        Option(
            "CORS",
            f"no charge for the configuration; preflight OPTIONS are {CORS_PREFLIGHT_SHARE:.0%} of requests (only "
            "browser code that adds a header sends one, reused for 2 h), each through API Gateway and the function",
            cors_cost,
        ),
        Option(
            "Custom domain",
            f"a Route 53 hosted zone (${ROUTE53_HOSTED_ZONE_PRICE_PER_MONTH:.2f} a month, none if the zone exists "
            "already); alias queries to API Gateway, the ACM public certificate and the custom domain name are free",
            lambda inputs: ROUTE53_HOSTED_ZONE_PRICE_PER_MONTH,
        ),
        Option(
            "HTTP API instead of REST",
            "payload format 1.0, each route declared; gives up usage plans and API keys, the stage cache, WAF "
            "without CloudFront, and X-Ray on API Gateway",
            lambda inputs: _bill_change(inputs, replace(inputs, api_type="http")),
        ),
        Option(
            "CloudFront in front",
            f"HTTPS requests and US egress; max-age {CDN_MAX_AGE_SECONDS} s, at most one miss per URL per edge "
            f"cache per max-age ({CDN_CACHEABLE_URLS} URLs × {CDN_EDGE_CACHES} edges); misses reach API Gateway",
            lambda inputs: _bill_change(
                inputs, replace(inputs, cloudfront=True, cdn_hit_ratio=scenario_cdn_hit_ratio(inputs))
            ),
        ),
        Option(
            "AWS Budgets",
            f"{ASSUMED_BUDGETS} monthly budget per account; the first {BUDGETS_FREE} are free, then "
            f"${BUDGET_PRICE_PER_DAY * DAYS_PER_MONTH:.2f} a month each",
            lambda inputs: budgets_cost(),
        ),
        Option("Cost Anomaly Detection", "free", lambda inputs: 0.0),
        Option(
            "Provisioned concurrency, business hours",
            f"the export's schedule: {BUSINESS_HOURS_CONCURRENCY} × {base.memory_mb} MB, 07:30-19:00 on 22 weekdays "
            f"({BUSINESS_HOURS_PER_MONTH:g} h): ${provisioned_capacity:.2f} of capacity per unit, less the cheaper "
            "duration of those hours' requests",
            lambda inputs: _bill_change(
                inputs,
                replace(
                    inputs,
                    provisioned_concurrency=BUSINESS_HOURS_CONCURRENCY,
                    provisioned_hours=BUSINESS_HOURS_PER_MONTH,
                    snapstart=False,
                ),
            ),
        ),
        Option(
            "Saved Logs Insights queries",
            f"free to save; ${LOGS_INSIGHTS_PRICE_PER_GB_SCANNED} per GB scanned, 30 runs a month over one day "
            "of the function's logs each",
            logs_insights_cost,
        ),
        Option("CodeDeploy for Lambda", "free", lambda inputs: 0.0),
        Option(
            "Outside probe (Route 53 health check)",
            "HTTPS string-matching check of the public `/health?deep=true` every 30 s, its alarm, a us-east-1 "
            "KMS key for the page topic, and the checkers' requests (~0.5/s) through WAF, API Gateway and Lambda "
            "([decision 0019](decisions/0019-synthetic-probe.md))",
            outside_probe_cost,
        ),
        Option(
            "Second region for disaster recovery",
            "DynamoDB global table, a warm standby from the same export, 2 Route 53 health checks "
            "([disaster recovery](disaster-recovery.md))",
            second_region_cost,
        ),
    ]


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def _signed_money(value: float) -> str:
    if value == 0:
        return "$0"
    if abs(value) < 0.005:
        return ("+" if value > 0 else "−") + "<$0.01"
    return ("+" if value > 0 else "−") + _money(abs(value))


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


def scenario_inputs(base: Inputs) -> list[tuple[str, Inputs]]:
    return [
        (label, replace(base, requests_per_month=requests, containers=containers, cold_start_ratio=cold_start_ratio))
        for label, requests, containers, cold_start_ratio in SCENARIOS
    ]


def scenario_table(base: Inputs, poc_duration_ms: float) -> str:
    """Each scale's bill by line, and the PoC on the same traffic (the table in docs/cost.md)."""
    bills = [(label, inputs, monthly_bill(inputs)) for label, inputs in scenario_inputs(base)]
    names = list(dict.fromkeys(line.name for _, _, bill in bills for line in bill.lines))
    out = ["| line | " + " | ".join(label for label, _, _ in bills) + " |", "|---|" + "---:|" * len(bills)]
    for name in names:
        out.append(f"| {name} | " + " | ".join(_money(bill.cost_of(name)) for _, _, bill in bills) + " |")
    out.append("| **total** | " + " | ".join(f"**{_money(bill.total)}**" for _, _, bill in bills) + " |")
    poc = [monthly_bill(poc_inputs(inputs, poc_duration_ms)) for _, inputs, _ in bills]
    out.append(
        f"| PoC on the same traffic (scan + {poc_duration_ms:g} ms per request) | "
        + " | ".join(_money(bill.total) for bill in poc)
        + " |"
    )
    return "\n".join(out)


def options_table(base: Inputs) -> str:
    """Each option's monthly price at 1M, 100M and 2.6B requests a month (the table in docs/cost.md)."""
    scenarios = scenario_inputs(base)
    out = [
        "| option | " + " | ".join(label.split(" (")[0] for label, _ in scenarios) + " | assumes |",
        "|---|" + "---:|" * len(scenarios) + "---|",
    ]
    for option in option_catalogue(base):
        prices = " | ".join(_signed_money(option.price(inputs)) for _, inputs in scenarios)
        out.append(f"| {option.name} | {prices} | {option.assumes} |")
    return "\n".join(out)


def second_region_table(base: Inputs) -> str:
    """The second region's monthly cost by line at each scale (the table in docs/disaster-recovery.md)."""
    scenarios = scenario_inputs(base)
    lines = [second_region_lines(inputs) for _, inputs in scenarios]
    out = [
        "| line | " + " | ".join(label.split(" (")[0] for label, _ in scenarios) + " |",
        "|---|" + "---:|" * len(scenarios),
    ]
    for index, line in enumerate(lines[0]):
        cells = (_money(cost) if cost >= 0.005 else "<$0.01" for cost in (column[index].cost for column in lines))
        out.append(f"| {line.name} | " + " | ".join(cells) + " |")
    totals = [sum(line.cost for line in column) for column in lines]
    out.append("| **total** | " + " | ".join(f"**{_money(total)}**" for total in totals) + " |")
    return "\n".join(out)


def scenario_report(base: Inputs, poc_duration_ms: float) -> str:
    """`make cost`: each scale's bill by line, the PoC on the same traffic, the biggest levers, and the options."""
    out = [
        f"Prices: {PRICES_AS_OF}. Verify them before quoting a bill.",
        f"Service: {base.memory_mb} MB {base.architecture}, {base.api_type.upper()} API, "
        f"warm {base.warm_duration_ms:g} ms (billed {math.ceil(base.warm_duration_ms)} ms), "
        f"refresh {base.refresh_duration_ms:g} ms, init {base.init_duration_ms:g} ms "
        f"on {' / '.join(f'{scenario[3]:.3%}' for scenario in SCENARIOS)} of requests, "
        f"containers {' / '.join(str(scenario[2]) for scenario in SCENARIOS)}, TTL {base.ttl_seconds:g} s, "
        f"{base.table_items:,} items × {base.item_bytes} B, logs {base.log_bytes_per_request:g} + "
        f"{base.platform_log_bytes_per_request:g} B/request, access log {base.access_log_bytes_per_request:g} B, "
        f"response {base.response_bytes:,.0f} B{', X-Ray on' if base.xray else ''}.",
        "",
        scenario_table(base, poc_duration_ms),
        "",
    ]
    for label, inputs in scenario_inputs(base):
        bill = monthly_bill(inputs)
        savings = sorted(
            ((bill.total - monthly_bill(changed).total, name) for name, changed in levers(inputs)), reverse=True
        )
        biggest_line = max(bill.lines, key=lambda line: line.cost)
        ranked = "; ".join(
            f"{name}: saves {_money(saving)} ({saving / bill.total:.0%})" for saving, name in savings[:3]
        )
        out.append(
            f"- **{label}**: largest line is {biggest_line.name} ({biggest_line.cost / bill.total:.0%}). "
            f"Biggest levers: {ranked}."
        )
    out += ["", "Options, each priced against the bill above (+ adds, − saves):", "", options_table(base)]
    out += [
        "",
        f"Freshness: a version read every {VERSION_CHECK_SECONDS:g} s per warm container, a rescan per data change:",
        "",
        freshness_table(base),
    ]
    return "\n".join(out)


# --- Generated blocks in the docs: the tables there are this model's output, and a test keeps them equal -------

ROOT = Path(__file__).resolve().parents[2]


def _block_pattern(name: str) -> re.Pattern[str]:
    marker = re.escape(name)
    return re.compile(rf"(<!-- generated:{marker}[^\n]*-->\n)(.*?)(<!-- /generated:{marker} -->)", re.S)


def generated_block(text: str, name: str) -> str:
    """The lines between `<!-- generated:NAME ... -->` and `<!-- /generated:NAME -->`."""
    match = _block_pattern(name).search(text)
    if match is None:
        raise ValueError(f"no generated block {name!r}")
    return match.group(2).removesuffix("\n")


def with_generated_block(text: str, name: str, content: str) -> str:
    """`text` with the block NAME's lines replaced by `content`."""
    if _block_pattern(name).search(text) is None:
        raise ValueError(f"no generated block {name!r}")
    return _block_pattern(name).sub(lambda match: match.group(1) + content + "\n" + match.group(3), text, count=1)


# `make cost` mirrors prod: 1024 MB arm64, REST API, X-Ray on.
MAKE_COST_INPUTS = Inputs(requests_per_month=100e6, xray=True)

# The bootstrap's cost controls (infra/bootstrap/variables.tf) default to prod's month at make cost's load, with
# headroom: a normal month, forecast included, stays under the budget, and a month at twice the traffic does not.
# An anomaly must cost a tenth of the month before it alerts, so a day's noise on a small line is not one.
PROD_STAGE_FILE = Path(__file__).resolve().parents[2] / "infra" / "terraform" / "stages" / "prod.json"
BUDGET_HEADROOM = 1.5
BUDGET_ROUNDING_USD = 50
ANOMALY_SHARE_OF_MONTH = 0.1
ANOMALY_ROUNDING_USD = 10


@dataclass(frozen=True)
class CostControls:
    month_usd: float
    budget_usd: int
    anomaly_threshold_usd: int


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def suggested_cost_controls(inputs: Inputs = MAKE_COST_INPUTS, stage_file: Path = PROD_STAGE_FILE) -> CostControls:
    """The budget and anomaly threshold for prod's settings (provisioned concurrency, web ACL) at `inputs`' load."""
    settings = json.loads(stage_file.read_text())
    prod = replace(inputs, provisioned_concurrency=int(settings.get("provisioned_concurrency", 0)))
    month = monthly_bill(prod).total
    if settings.get("waf_enabled"):
        month += waf_cost(prod) + waf_logging_cost(prod)
    return CostControls(
        month,
        _round_up(month * BUDGET_HEADROOM, BUDGET_ROUNDING_USD),
        _round_up(month * ANOMALY_SHARE_OF_MONTH, ANOMALY_ROUNDING_USD),
    )


def cost_controls_report(inputs: Inputs = MAKE_COST_INPUTS) -> str:
    controls = suggested_cost_controls(inputs)
    return (
        f"Cost controls for prod at {_quantity(inputs.requests_per_month, 'requests')} a month "
        f"({_money(controls.month_usd)}): budget_monthly_limit_usd = {controls.budget_usd} "
        f"({BUDGET_HEADROOM:g}x), cost_anomaly_alert_threshold_usd = {controls.anomaly_threshold_usd} "
        f"({ANOMALY_SHARE_OF_MONTH:.0%} of the month); infra/bootstrap/variables.tf defaults to these."
    )


# Freshness (chalicelib/catalogue_version.py): each warm container reads the catalogue version, an item far under
# 4 KB, with one eventually consistent GetItem (0.5 RRU) per check interval, and rescans the table once per applied
# data change. CATALOGUE_VERSION_CHECK_SECONDS in .chalice/config.json; the change rate is an assumption.
VERSION_CHECK_SECONDS = 10.0
VERSION_READ_UNITS = EVENTUALLY_CONSISTENT_FACTOR
ASSUMED_DATA_CHANGES_PER_MONTH = 30
FRESHNESS_CONTAINERS = (1, 15, 150)


@dataclass(frozen=True)
class FreshnessCost:
    containers: int
    version_reads_per_container_hour: float
    read_units_per_month: float
    rescan_read_units_per_month: float
    cost_per_month: float


def freshness_cost(
    containers: int,
    inputs: Inputs = MAKE_COST_INPUTS,
    check_seconds: float = VERSION_CHECK_SECONDS,
    changes_per_month: float = ASSUMED_DATA_CHANGES_PER_MONTH,
) -> FreshnessCost:
    """What serving data changes within seconds costs a month with `containers` warm all month."""
    reads_per_hour = 3600 / check_seconds
    version_units = containers * reads_per_hour * HOURS_PER_MONTH * VERSION_READ_UNITS
    rescan_units = containers * changes_per_month * read_units_per_scan(inputs)
    cost = (version_units + rescan_units) / 1e6 * DYNAMODB_RRU_PRICE_PER_MILLION
    return FreshnessCost(containers, reads_per_hour, version_units, rescan_units, cost)


def freshness_table(inputs: Inputs = MAKE_COST_INPUTS, check_seconds: float = VERSION_CHECK_SECONDS) -> str:
    rows = [
        "| warm containers | version reads per container-hour | version RRU a month | "
        f"rescan RRU a month ({ASSUMED_DATA_CHANGES_PER_MONTH} changes) | DynamoDB a month |",
        "|---:|---:|---:|---:|---:|",
    ]
    for containers in FRESHNESS_CONTAINERS:
        cost = freshness_cost(containers, inputs, check_seconds)
        rows.append(
            f"| {containers} | {cost.version_reads_per_container_hour:,.0f} "
            f"({cost.version_reads_per_container_hour * VERSION_READ_UNITS:,.0f} RRU) | "
            f"{cost.read_units_per_month:,.0f} | {cost.rescan_read_units_per_month:,.0f} | "
            f"${cost.cost_per_month:,.3f} |"
        )
    return "\n".join(rows)


def doc_blocks(poc_duration_ms: float = ASSUMED_REFRESH_DURATION_MS) -> dict[tuple[str, str], str]:
    """(document, block name) -> the content the model generates for it."""
    return {
        ("docs/cost.md", "cost-scenarios"): scenario_table(MAKE_COST_INPUTS, poc_duration_ms),
        ("docs/cost.md", "cost-options"): options_table(MAKE_COST_INPUTS),
        ("docs/cost.md", "cost-freshness"): freshness_table(MAKE_COST_INPUTS),
        ("docs/disaster-recovery.md", "second-region"): second_region_table(MAKE_COST_INPUTS),
    }


def write_docs(blocks: dict[tuple[str, str], str], root: Path = ROOT) -> list[str]:
    """Rewrites each generated block in place; returns the documents that changed."""
    changed = []
    for document in dict.fromkeys(path for path, _ in blocks):
        path = root / document
        text = path.read_text(encoding="utf-8")
        updated = text
        for (block_document, name), content in blocks.items():
            if block_document == document:
                updated = with_generated_block(updated, name, content)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(document)
    return changed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Inputs(requests_per_month=100e6)
    parser.add_argument("--requests", type=float, default=defaults.requests_per_month, help="requests per month")
    parser.add_argument("--scenarios", action="store_true", help="the 1M / 100M / 2.6B table, levers and options")
    parser.add_argument("--options", action="store_true", help="each option's monthly price at 1M / 100M / 2.6B")
    parser.add_argument(
        "--write-docs", action="store_true", help="regenerate the tables in docs/cost.md and docs/disaster-recovery.md"
    )
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
    parser.add_argument(
        "--access-log-bytes", type=float, default=defaults.access_log_bytes_per_request, help="API Gateway access log"
    )
    parser.add_argument("--response-bytes", type=float, default=defaults.response_bytes, help="bytes on the wire")
    parser.add_argument("--api-type", choices=API_TYPES, default=defaults.api_type)
    parser.add_argument("--cloudfront", action="store_true", help="CloudFront in front (with --cdn-hit-ratio)")
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
            access_log_bytes_per_request=arguments.access_log_bytes,
            response_bytes=arguments.response_bytes,
            api_type=arguments.api_type,
            cloudfront=arguments.cloudfront,
            cdn_hit_ratio=arguments.cdn_hit_ratio,
            provisioned_concurrency=arguments.provisioned_concurrency,
            provisioned_hours=arguments.provisioned_hours,
            snapstart=arguments.snapstart,
            xray=arguments.xray,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.write_docs:
        changed = write_docs(doc_blocks(arguments.poc_ms))
        print("updated: " + ", ".join(changed) if changed else "docs already match the model")
    elif arguments.scenarios:
        print(scenario_report(inputs, arguments.poc_ms))
        print()
        print(cost_controls_report(replace(inputs, requests_per_month=MAKE_COST_INPUTS.requests_per_month)))
    elif arguments.options:
        print(f"Options, monthly, against the bill at each volume ({PRICES_AS_OF}; verify before quoting):\n")
        print(options_table(inputs))
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
