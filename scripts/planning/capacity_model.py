"""Capacity: from concurrent users to requests/s, Lambda concurrency, containers, table scans, read units and cost.

    python scripts/planning/capacity_model.py                  # docs/capacity.md's tables for prod, and the checks
    python scripts/planning/capacity_model.py --users 3000 --seconds-per-request 1
    python scripts/planning/capacity_model.py --write-docs     # regenerate docs/capacity.md's tables

Each row walks one load through the service: users who send a request every
`seconds_per_request` (think time included) make requests/s; requests/s times the
time a container is held (Little's law) is the Lambda concurrency; Lambda keeps
enough containers for its peaks (with Poisson arrivals, the number of busy
containers is Poisson); each container reads the table once per TTL, so containers
set the scans and the read units; `scripts/planning/cost_model.py` prices the month.

The limits come from the files the deploy uses: the stage throttle from
infra/terraform/stages/<stage>.json (the export's variable defaults), reserved
concurrency, memory, warm-up and cache TTL from .chalice/config.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chalicelib.deploy_hooks import PREWARM_HEADROOM
from scripts.planning.cost_model import (
    ASSUMED_REFRESH_DURATION_MS,
    BUSINESS_HOURS_PER_MONTH,
    DEFAULT_ITEM_BYTES,
    HOURS_PER_MONTH,
    MAKE_COST_INPUTS,
    MEASURED_INIT_DURATION_MS,
    PROVISIONED_CAPACITY_PRICE,
    SECONDS_PER_MONTH,
    Inputs,
    monthly_bill,
    read_units_per_scan,
    waf_cost,
    waf_logging_cost,
    write_docs,
)

ROOT = Path(__file__).resolve().parents[2]
STAGES = ROOT / "infra" / "terraform" / "stages"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

# --- AWS default quotas, per account and region (ARCHITECTURE.md "Capacity limits"; verify in Service Quotas) ----
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html — every API in the account and region
# shares these; above them API Gateway answers 429.
API_GATEWAY_ACCOUNT_RATE = 10_000
API_GATEWAY_ACCOUNT_BURST = 5_000
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html — concurrent executions per account and
# region; Lambda keeps 100 of them unreserved, so reservations may total at most 900.
LAMBDA_ACCOUNT_CONCURRENCY = 1_000
LAMBDA_UNRESERVED_MINIMUM = 100
# https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html — each function adds at most 1,000
# concurrent executions every 10 s.
LAMBDA_SCALING_STEP = 1_000
LAMBDA_SCALING_INTERVAL_SECONDS = 10
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html — an on-demand
# table serves up to twice its previous peak at once; a new table starts at 12,000 read units a second. The
# table-level quota is 40,000 read units a second; each partition serves at most 3,000.
DYNAMODB_NEW_TABLE_READ_UNITS = 12_000
DYNAMODB_TABLE_READ_UNITS = 40_000
# The catalogue (~1.6 MB) fits one partition, and a partition serves at most 3,000 read units a second whatever the
# table's quota: the bind for scans that start together (docs/decisions/0017-deploy-at-peak-and-cold-fleets.md).
DYNAMODB_PARTITION_READ_UNITS = 3_000

# --- Durations ---------------------------------------------------------------------------------------------------
# Measured by `make bench`, 2026-11-25 (docs/performance.md, after the lean hot path): handler(event, context)
# in-process on one AMD EPYC core, the slowest warm cache-hit p50 and p99 (both the filtered page, 5,000 items).
BENCH_WARM_P50_MS = 0.073
BENCH_WARM_P99_MS = 0.159
# Assumptions, not measured (there is no AWS account here):
# - Lambda gives a function 1 vCPU at 1,769 MB and proportionally less below, so the handler's CPU time stretches
#   by 1,769 / memory (1.73x at prod's 1,024 MB), taking a bench core for a vCPU.
VCPU_MEMORY_MB = 1769
# - The runtime's own round trips (the Runtime API's next and response calls) hold the container outside the
#   handler too: 1 ms per invocation, rounding ARCHITECTURE.md's "1-2 ms warm invocation" down to what the
#   handler does not already take.
ASSUMED_RUNTIME_OVERHEAD_MS = 1.0
# - A miss (refresh) holds its container for cost_model.ASSUMED_REFRESH_DURATION_MS (1 s: two 1 MB Scan pages
#   from DynamoDB, and the parse at 0.58 vCPU); a cold start adds cost_model.MEASURED_INIT_DURATION_MS of init.
#   moto is far slower than DynamoDB, so the bench's own miss times do not apply.
# - Reserved concurrency is also sized for warm invocations 5x slower than modelled (10 ms): a slow dependency,
#   a noisy neighbour or X-Ray's segment emission should not make reserved concurrency bind before API Gateway.
PESSIMISTIC_WARM_DURATION_MS = 10.0

# --- Sizing rules ------------------------------------------------------------------------------------------------
# Prod must serve this many users at this rate, with this much room on the stage throttle.
REQUIRED_USERS = 3_000
REQUIRED_REQUESTS_PER_USER_PER_SECOND = 1.0
THROTTLE_HEADROOM = 0.25
# Reserved concurrency is at least this multiple of the peak containers at the throttle rate.
CONCURRENCY_HEADROOM = 2.0
# Account concurrency kept for functions that are not in this repository.
OTHER_FUNCTIONS_HEADROOM = 200
# Lambda keeps about as many containers as its concurrency peaks at; "peak" is the Poisson quantile exceeded
# 0.01 % of the time.
PEAK_PROBABILITY = 0.9999
# Cold starts once a fleet is warm: the busiest scenario's share in `make cost` (containers live for hours).
SUSTAINED_COLD_START_RATIO = 0.00001
# https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html — the export's
# rate-based rule counts each client address over a 5-minute window.
WAF_RATE_WINDOW_SECONDS = 300
# The catalogue the model scans: the bench's 5,000 generated items (~1.6 MB, 201.5 read units a scan).
TABLE_ITEMS = 5_000

USER_ROWS = (100, 300, 1_000, 3_000, 5_000, 10_000)

# The traffic share on the new version after each step of CodeDeploy's predefined Lambda configurations
# (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html). The time between steps
# does not matter to the model: each step only needs the previous step's containers to be warm, and they are.
_LINEAR = tuple(round(step / 10, 1) for step in range(1, 11))
DEPLOYMENT_STEPS: dict[str, tuple[float, ...]] = {
    "CodeDeployDefault.LambdaAllAtOnce": (1.0,),
    **{f"CodeDeployDefault.LambdaCanary10Percent{m}Minutes": (0.1, 1.0) for m in (5, 10, 15, 30)},
    **{f"CodeDeployDefault.LambdaLinear10PercentEvery{m}Minute{'s' if m > 1 else ''}": _LINEAR for m in (1, 2, 3, 10)},
}


@dataclass(frozen=True)
class StageLimits:
    """A stage's capacity settings as deployed, and what the other deployed stages take from the same account."""

    stage: str
    throttle_rate: float
    throttle_burst: int
    reserved_concurrency: int
    provisioned_concurrency: int
    memory_mb: int
    warmup_containers: int
    ttl_seconds: float
    ttl_jitter_ratio: float
    # WAF's rate rule: requests one client address may send in 5 minutes (None when the stage has no web ACL).
    waf_rate_limit_per_5_minutes: int | None
    # The account is shared: other stages' throttles and every other function's reservation count against it.
    other_throttle_rate: float
    other_throttle_burst: int
    other_reserved_concurrency: int
    # How a deploy shifts traffic, and how many containers the BeforeAllowTraffic hook warms first.
    deployment_config: str = "CodeDeployDefault.LambdaAllAtOnce"
    prewarm_minimum: int = 0
    prewarm_maximum: int = 0
    refresh_deadline_seconds: float = 4.0


def _environment(config: dict[str, object], stage: dict[str, object]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in (config, stage):
        variables = source.get("environment_variables", {})
        if isinstance(variables, dict):
            merged.update({str(key): str(value) for key, value in variables.items()})
    return merged


def _reservations(stage: dict[str, object]) -> list[int]:
    """The stage's API function's reservation first, then its other functions'."""
    found = [int(str(stage.get("reserved_concurrency", 0)))]
    functions = stage.get("lambda_functions", {})
    if isinstance(functions, dict):
        found += [int(function.get("reserved_concurrency", 0)) for function in functions.values()]
    return found


def stage_limits(stage: str = "prod", stages: Path = STAGES, chalice_config: Path = CHALICE_CONFIG) -> StageLimits:
    """The limits the export deploys for `stage`; the other stages with Terraform settings share its account."""
    config = json.loads(chalice_config.read_text())
    deployed = sorted(path.stem for path in stages.glob("*.json"))
    settings = {name: json.loads((stages / f"{name}.json").read_text()) for name in deployed}
    chalice = config["stages"][stage]
    environment = _environment(config, chalice)
    others = [name for name in deployed if name != stage]
    hook = _environment({}, chalice.get("lambda_functions", {}).get("before_allow_traffic", {}))
    return StageLimits(
        stage=stage,
        throttle_rate=float(settings[stage]["api_throttling_rate_limit"]),
        throttle_burst=int(settings[stage]["api_throttling_burst_limit"]),
        reserved_concurrency=_reservations(chalice)[0],
        provisioned_concurrency=int(settings[stage].get("provisioned_concurrency", 0)),
        memory_mb=int(chalice.get("lambda_memory_size", config.get("lambda_memory_size", 128))),
        warmup_containers=int(environment.get("WARMUP_CONCURRENCY", "0")),
        ttl_seconds=float(environment.get("CACHE_TTL_SECONDS", "300")),
        ttl_jitter_ratio=float(environment.get("CACHE_TTL_JITTER_RATIO", "0.1")),
        waf_rate_limit_per_5_minutes=(
            int(settings[stage].get("waf_rate_limit_per_5_minutes", 0)) if settings[stage].get("waf_enabled") else None
        ),
        other_throttle_rate=sum(float(settings[name]["api_throttling_rate_limit"]) for name in others),
        other_throttle_burst=sum(int(settings[name]["api_throttling_burst_limit"]) for name in others),
        other_reserved_concurrency=sum(_reservations(chalice)[1:])
        + sum(sum(_reservations(config["stages"][name])) for name in others if name in config["stages"]),
        deployment_config=str(settings[stage].get("codedeploy_deployment_config", "CodeDeployDefault.LambdaAllAtOnce")),
        prewarm_minimum=int(hook.get("PREWARM_MINIMUM", environment.get("WARMUP_CONCURRENCY", "1"))),
        prewarm_maximum=int(hook.get("PREWARM_MAXIMUM", "10")),
        refresh_deadline_seconds=float(environment.get("CACHE_REFRESH_DEADLINE_SECONDS", "4")),
    )


# --- The model ---------------------------------------------------------------------------------------------------


def lambda_duration_ms(bench_ms: float, memory_mb: int) -> float:
    """How long an invocation holds its container on Lambda, from the handler's time on a bench core."""
    return bench_ms * max(1.0, VCPU_MEMORY_MB / memory_mb) + ASSUMED_RUNTIME_OVERHEAD_MS


def concurrency(requests_per_second: float, duration_ms: float) -> float:
    """Little's law: the mean number of containers busy at once."""
    return requests_per_second * duration_ms / 1000


def poisson_quantile(mean: float, probability: float = PEAK_PROBABILITY) -> int:
    """The smallest k with P(N <= k) >= probability for N ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    if mean > 500:  # exp(-mean) underflows long before this matters; the normal approximation is tight here
        return math.ceil(statistics.NormalDist(mean, math.sqrt(mean)).inv_cdf(probability))
    k, term = 0, math.exp(-mean)
    total = term
    while total < probability:
        k += 1
        term *= mean / k
        total += term
    return k


def mean_ttl_seconds(limits: StageLimits) -> float:
    """Jitter shortens each TTL by 0..ratio at random, so the mean TTL is (1 - ratio / 2) of the setting."""
    return limits.ttl_seconds * (1 - limits.ttl_jitter_ratio / 2)


def peak_containers(requests_per_second: float, limits: StageLimits, duration_ms: float | None = None) -> int:
    """Containers Lambda keeps for this rate: the peak of busy ones, refreshes included, and never below warm-up."""
    duration = lambda_duration_ms(BENCH_WARM_P99_MS, limits.memory_mb) if duration_ms is None else duration_ms
    warm = concurrency(requests_per_second, duration)
    containers = max(limits.warmup_containers, limits.provisioned_concurrency, poisson_quantile(warm))
    # Each container spends one refresh per mean TTL off serving; add those to the mean and take the peak again.
    refreshing = containers * ASSUMED_REFRESH_DURATION_MS / 1000 / mean_ttl_seconds(limits)
    return max(containers, poisson_quantile(warm + refreshing))


def cold_fleet_concurrency(requests_per_second: float) -> int:
    """Containers a fleet with none warm needs at this rate: each first request waits for init and a scan."""
    return math.ceil(concurrency(requests_per_second, MEASURED_INIT_DURATION_MS + ASSUMED_REFRESH_DURATION_MS))


def read_units_of_a_scan(table_items: int = TABLE_ITEMS, item_bytes: int = DEFAULT_ITEM_BYTES) -> float:
    return read_units_per_scan(Inputs(requests_per_month=0, table_items=table_items, item_bytes=item_bytes))


@dataclass(frozen=True)
class CapacityRow:
    users: int
    requests_per_second: float
    served_per_second: float
    concurrency_p50: float
    concurrency_p99: float
    containers: int
    scans_per_minute: float
    read_units_per_second: float
    monthly_cost: float
    cold_fleet: int
    warm_binds: str
    cold_binds: str


def _warm_binds(rate: float, containers: int, limits: StageLimits) -> str:
    binds = []
    if rate > limits.throttle_rate:
        binds.append(f"stage throttle: {rate - limits.throttle_rate:,.0f} req/s get 429")
    if rate > API_GATEWAY_ACCOUNT_RATE - limits.other_throttle_rate:
        binds.append(f"API Gateway account limit ({API_GATEWAY_ACCOUNT_RATE:,} req/s)")
    if containers > limits.reserved_concurrency:
        binds.append(f"reserved concurrency ({limits.reserved_concurrency})")
    return "; ".join(binds) or "nothing"


def _cold_binds(cold: int, limits: StageLimits, read_units: float) -> str:
    admitted = min(cold, limits.reserved_concurrency, LAMBDA_SCALING_STEP)
    binds = []
    if cold > limits.reserved_concurrency:
        binds.append(f"reserved concurrency {limits.reserved_concurrency} (the rest get 500)")
    if cold > LAMBDA_SCALING_STEP:
        binds.append(f"Lambda scaling {LAMBDA_SCALING_STEP:,} / {LAMBDA_SCALING_INTERVAL_SECONDS} s")
    scan_units = admitted * read_units
    if scan_units > DYNAMODB_TABLE_READ_UNITS:
        binds.append(f"{admitted} scans: {scan_units:,.0f} RRU/s > {DYNAMODB_TABLE_READ_UNITS:,} (table quota)")
    elif scan_units > DYNAMODB_NEW_TABLE_READ_UNITS:
        binds.append(f"{admitted} scans: {scan_units:,.0f} RRU/s > {DYNAMODB_NEW_TABLE_READ_UNITS:,} (new table)")
    return "; ".join(binds) or "nothing"


def _fixed_monthly_cost(limits: StageLimits, inputs: Inputs) -> float:
    """What prod adds to `make cost`'s bill: its provisioned capacity, and its web ACL when it has one.

    Provisioned concurrency is counted as capacity only: at these rates most invocations spill over to on-demand
    containers, which the bill already prices (so the cheaper provisioned duration is left out, erring high).
    """
    capacity = (
        limits.provisioned_concurrency
        * limits.memory_mb
        / 1024
        * PROVISIONED_CAPACITY_PRICE[inputs.architecture]
        * SECONDS_PER_MONTH
    )
    waf = waf_cost(inputs) + waf_logging_cost(inputs) if limits.waf_rate_limit_per_5_minutes is not None else 0.0
    return capacity + waf


def capacity_row(
    users: int, limits: StageLimits, seconds_per_request: float = 1.0, table_items: int = TABLE_ITEMS
) -> CapacityRow:
    rate = users / seconds_per_request
    # Requests above the stage throttle are answered 429 by API Gateway and never reach Lambda.
    served = min(rate, limits.throttle_rate)
    containers = peak_containers(served, limits)
    scans_per_minute = containers * 60 / mean_ttl_seconds(limits)
    read_units = read_units_of_a_scan(table_items)
    bill_inputs = replace(
        MAKE_COST_INPUTS,
        requests_per_month=served * SECONDS_PER_MONTH,
        memory_mb=limits.memory_mb,
        containers=containers,
        cold_start_ratio=SUSTAINED_COLD_START_RATIO,
        ttl_seconds=limits.ttl_seconds,
        ttl_jitter_ratio=limits.ttl_jitter_ratio,
        table_items=table_items,
    )
    bill = monthly_bill(bill_inputs)
    cold = cold_fleet_concurrency(served)
    return CapacityRow(
        users=users,
        requests_per_second=rate,
        served_per_second=served,
        concurrency_p50=concurrency(served, lambda_duration_ms(BENCH_WARM_P50_MS, limits.memory_mb)),
        concurrency_p99=concurrency(served, lambda_duration_ms(BENCH_WARM_P99_MS, limits.memory_mb)),
        containers=containers,
        scans_per_minute=scans_per_minute,
        read_units_per_second=scans_per_minute / 60 * read_units,
        monthly_cost=bill.total + _fixed_monthly_cost(limits, bill_inputs),
        cold_fleet=cold,
        warm_binds=_warm_binds(rate, containers, limits),
        cold_binds=_cold_binds(cold, limits, read_units),
    )


# --- A deploy at peak ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployStep:
    """One step of a CodeDeploy shift: the new version's share, and what it asks of concurrency and the table."""

    label: str
    share: float
    new_version_rate: float
    containers_needed: int  # the new version's peak containers at its share
    containers_warm: int  # provisioned share + the hook's pre-warmed + the previous step's
    cold_starts: int  # containers that start (init + first scan) during this step
    concurrency: int  # old version's containers + the new version's warm and starting ones
    scan_read_units: float  # the cold starts' first scans, all at once

    def fits_reserved(self, limits: StageLimits) -> bool:
        return self.concurrency <= limits.reserved_concurrency

    def fits_table(self, limits: StageLimits) -> bool:
        # Scans that start together share one partition and must finish within the refresh deadline, or the
        # containers without a snapshot answer 503.
        return self.scan_read_units <= DYNAMODB_PARTITION_READ_UNITS * limits.refresh_deadline_seconds


def prewarm_containers(limits: StageLimits, live_rate: float) -> int:
    """What the BeforeAllowTraffic hook warms (chalicelib/deploy_hooks.prewarm_count): the live alias's peak
    containers with its headroom, between the stage's PREWARM_MINIMUM and PREWARM_MAXIMUM."""
    peak = peak_containers(live_rate, _without_floors(limits))
    return max(limits.prewarm_minimum, min(math.ceil(peak * PREWARM_HEADROOM), limits.prewarm_maximum))


def _without_floors(limits: StageLimits) -> StageLimits:
    return replace(limits, warmup_containers=0, provisioned_concurrency=0)


def deploy_steps(limits: StageLimits, users: int, seconds_per_request: float = 1.0) -> list[DeployStep]:
    """The stage's deployment configuration walked at a load: the hook's warm-up, then each traffic step.

    Assumptions (docs/decisions/0017-deploy-at-peak-and-cold-fleets.md): Lambda splits the alias's provisioned
    concurrency between the versions by weight (rounded down on the new one); a warm container serves
    1000 / p99 duration requests a second; requests beyond the warm containers' rate wait on cold starts, each
    holding its container for init and the first scan (`cold_fleet_concurrency`).
    """
    if limits.deployment_config not in DEPLOYMENT_STEPS:
        raise ValueError(f"unknown CodeDeploy configuration {limits.deployment_config!r}: add its steps")
    rate = min(users / seconds_per_request, limits.throttle_rate)
    bare = _without_floors(limits)
    warm_duration_ms = lambda_duration_ms(BENCH_WARM_P99_MS, limits.memory_mb)
    prewarmed = prewarm_containers(limits, rate)
    read_units = read_units_of_a_scan()
    old_containers = peak_containers(rate, bare)
    steps = [
        DeployStep(
            "BeforeAllowTraffic warm-up", 0.0, 0.0, 0, 0, prewarmed, old_containers + prewarmed, prewarmed * read_units
        )
    ]
    warm_from_earlier = prewarmed
    for share in DEPLOYMENT_STEPS[limits.deployment_config]:
        new_rate = rate * share
        needed = peak_containers(new_rate, bare)
        warm = max(warm_from_earlier, math.floor(limits.provisioned_concurrency * share))
        beyond_warm_rate = max(0.0, new_rate - warm * 1000 / warm_duration_ms)
        # Beyond the warm rate a cold fleet forms, and it includes the peak-only containers; below it, only those.
        cold = max(needed - warm, cold_fleet_concurrency(beyond_warm_rate), 0)
        old = peak_containers(rate * (1 - share), bare) if share < 1 else 0
        steps.append(
            DeployStep(
                f"{share:.0%} on the new version",
                share,
                new_rate,
                needed,
                warm,
                cold,
                old + warm + cold,
                cold * read_units,
            )
        )
        warm_from_earlier = warm + cold
    return steps


def deploy_table(limits: StageLimits, users: int = REQUIRED_USERS) -> str:
    """docs/capacity.md's deploy-at-peak table: each step of the stage's configuration at `users`."""
    budget = DYNAMODB_PARTITION_READ_UNITS * limits.refresh_deadline_seconds
    out = [
        f"| {limits.deployment_config} at {users:,} users | new version req/s | containers it needs | warm "
        f"| cold starts | concurrency (≤ {limits.reserved_concurrency} reserved) "
        f"| first-scan RRU (≤ {budget:,.0f}) | |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step in deploy_steps(limits, users):
        fits = step.fits_reserved(limits) and step.fits_table(limits)
        out.append(
            f"| {step.label} | {step.new_version_rate:,.0f} | {step.containers_needed} | {step.containers_warm} "
            f"| {step.cold_starts} | {step.concurrency} | {step.scan_read_units:,.0f} "
            f"| {'ok' if fits else '**fails**'} |"
        )
    return "\n".join(out)


def _dollars(value: float) -> str:
    return f"${value:,.0f}"


def capacity_table(limits: StageLimits, users: Sequence[int] = USER_ROWS, seconds_per_request: float = 1.0) -> str:
    """The table in docs/capacity.md: one row per number of concurrent users."""
    out = [
        "| concurrent users | requests/s | Lambda concurrency, mean (p50 / p99 duration) | containers "
        "| table scans/min | DynamoDB RRU/s | $ a month, sustained | what binds | a cold fleet needs | what binds it |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for count in users:
        row = capacity_row(count, limits, seconds_per_request)
        rate = f"{row.requests_per_second:,.0f}"
        if row.served_per_second < row.requests_per_second:
            rate += f" ({row.served_per_second:,.0f} served)"
        out.append(
            f"| {row.users:,} | {rate} | {row.concurrency_p50:.2f} / {row.concurrency_p99:.2f} | {row.containers} "
            f"| {row.scans_per_minute:.1f} | {row.read_units_per_second:.1f} | {_dollars(row.monthly_cost)} "
            f"| {row.warm_binds} | {row.cold_fleet:,} | {row.cold_binds} |"
        )
    return "\n".join(out)


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    needs: str
    passed: bool


def check_limits(limits: StageLimits, table_items: int = TABLE_ITEMS) -> list[Check]:
    """Each rule the stage's throttle and reserved concurrency must meet, with the numbers it was judged on."""
    required_rate = REQUIRED_USERS * REQUIRED_REQUESTS_PER_USER_PER_SECOND
    at_throttle = peak_containers(limits.throttle_rate, limits)
    ceiling = API_GATEWAY_ACCOUNT_RATE
    pessimistic = poisson_quantile(concurrency(ceiling, PESSIMISTIC_WARM_DURATION_MS))
    reservable = LAMBDA_ACCOUNT_CONCURRENCY - LAMBDA_UNRESERVED_MINIMUM - OTHER_FUNCTIONS_HEADROOM
    scan_units = limits.reserved_concurrency * read_units_of_a_scan(table_items)
    rate, burst, reserved = limits.throttle_rate, limits.throttle_burst, limits.reserved_concurrency
    return [
        Check(
            f"the throttle carries {REQUIRED_USERS:,} users at {REQUIRED_REQUESTS_PER_USER_PER_SECOND:g} request/s "
            f"with {THROTTLE_HEADROOM:.0%} headroom",
            f"rate {rate:,.0f} req/s",
            f"≥ {required_rate * (1 + THROTTLE_HEADROOM):,.0f}",
            rate >= required_rate * (1 + THROTTLE_HEADROOM),
        ),
        Check(
            "the burst admits one second of the required load at once",
            f"burst {burst:,}",
            f"≥ {required_rate:,.0f}",
            burst >= required_rate,
        ),
        Check(
            "the rate, with the other stages', stays within API Gateway's account limit",
            f"{rate:,.0f} + {limits.other_throttle_rate:,.0f} req/s",
            f"≤ {API_GATEWAY_ACCOUNT_RATE:,}",
            rate + limits.other_throttle_rate <= API_GATEWAY_ACCOUNT_RATE,
        ),
        Check(
            "the burst, with the other stages', stays within API Gateway's account burst",
            f"{burst:,} + {limits.other_throttle_burst:,}",
            f"≤ {API_GATEWAY_ACCOUNT_BURST:,}",
            burst + limits.other_throttle_burst <= API_GATEWAY_ACCOUNT_BURST,
        ),
        Check(
            f"reserved concurrency is {CONCURRENCY_HEADROOM:g}× the peak containers at the throttle rate "
            "(p99 duration, refreshes included)",
            f"reserved {reserved}",
            f"≥ {CONCURRENCY_HEADROOM:g} × {at_throttle} = {math.ceil(CONCURRENCY_HEADROOM * at_throttle)}",
            reserved >= CONCURRENCY_HEADROOM * at_throttle,
        ),
        Check(
            f"reserved concurrency does not bind below API Gateway's account limit even at "
            f"{PESSIMISTIC_WARM_DURATION_MS:g} ms an invocation",
            f"reserved {reserved}",
            f"≥ peak of {ceiling:,} req/s × {PESSIMISTIC_WARM_DURATION_MS:g} ms = {pessimistic}",
            reserved >= pessimistic,
        ),
        _waf_check(limits),
        Check(
            "reserved concurrency covers provisioned concurrency (the export's precondition)",
            f"reserved {reserved}",
            f"≥ provisioned {limits.provisioned_concurrency}",
            reserved >= limits.provisioned_concurrency,
        ),
        Check(
            f"the account keeps {LAMBDA_UNRESERVED_MINIMUM} unreserved and {OTHER_FUNCTIONS_HEADROOM} for other "
            "functions",
            f"{reserved} + {limits.other_reserved_concurrency} reserved by this repository's other functions",
            f"≤ {LAMBDA_ACCOUNT_CONCURRENCY:,} − {LAMBDA_UNRESERVED_MINIMUM} − {OTHER_FUNCTIONS_HEADROOM} = "
            f"{reservable}",
            reserved + limits.other_reserved_concurrency <= reservable,
        ),
        _deploy_check(limits, "reserved concurrency", lambda step: step.fits_reserved(limits)),
        _deploy_check(
            limits, "the table's partition within the refresh deadline", lambda step: step.fits_table(limits)
        ),
        Check(
            f"provisioned concurrency serves the {REQUIRED_USERS:,} users warm (spillover share stays near 0)",
            f"provisioned {limits.provisioned_concurrency}",
            f"≥ {peak_containers(required_rate, _without_floors(limits))}",
            limits.provisioned_concurrency >= peak_containers(required_rate, _without_floors(limits)),
        ),
        Check(
            f"a cold fleet of that many containers, each scanning {table_items:,} items at once, stays under the "
            "table's read quota",
            f"{reserved} × {read_units_of_a_scan(table_items):g} = {scan_units:,.0f} RRU/s",
            f"≤ {DYNAMODB_TABLE_READ_UNITS:,}",
            scan_units <= DYNAMODB_TABLE_READ_UNITS,
        ),
    ]


def _deploy_check(limits: StageLimits, what: str, fits: Callable[[DeployStep], bool]) -> Check:
    steps = deploy_steps(limits, REQUIRED_USERS)
    failing = [step.label for step in steps if not fits(step)]
    return Check(
        f"a deploy at {REQUIRED_USERS:,} users ({limits.deployment_config}): every step fits {what}",
        f"{len(steps) - len(failing)} of {len(steps)} steps fit",
        "every step" + (f" ({', '.join(failing)} do not)" if failing else ""),
        not failing,
    )


def _waf_check(limits: StageLimits) -> Check:
    """WAF's rate rule counts per client address: it must at least let one user at the required pace through."""
    per_user = REQUIRED_REQUESTS_PER_USER_PER_SECOND * WAF_RATE_WINDOW_SECONDS
    name = "WAF's rate rule lets a client address send at least one user's requests"
    if limits.waf_rate_limit_per_5_minutes is None:
        return Check(name, "no web ACL", f"≥ {per_user:,.0f} per 5 min", True)
    allowed = limits.waf_rate_limit_per_5_minutes
    return Check(
        name,
        f"{allowed:,} per 5 min per address ({allowed / per_user:g} users)",
        f"≥ {per_user:,.0f} per 5 min",
        allowed >= per_user,
    )


def checks_table(limits: StageLimits) -> str:
    out = [f"| {limits.stage} must | {limits.stage} has | needs | |", "|---|---|---|---|"]
    for check in check_limits(limits):
        out.append(f"| {check.name} | {check.value} | {check.needs} | {'ok' if check.passed else '**fails**'} |")
    return "\n".join(out)


def provisioned_concurrency_table(limits: StageLimits) -> str:
    """Provisioned concurrency that would serve a load with no cold start at all, and what it costs."""
    memory_gb = limits.memory_mb / 1024
    price = PROVISIONED_CAPACITY_PRICE[MAKE_COST_INPUTS.architecture] * memory_gb * 3600
    out = [
        "| load | provisioned concurrency to serve it warm | all month "
        f"| business hours ({BUSINESS_HOURS_PER_MONTH:g} h, the export's schedule) |",
        "|---|---:|---:|---:|",
    ]
    loads = [(f"{users:,} users at 1 request/s", float(users)) for users in (1_000, REQUIRED_USERS)]
    loads.append((f"the throttle rate ({limits.throttle_rate:,.0f} req/s)", limits.throttle_rate))
    for label, rate in loads:
        units = peak_containers(rate, replace(limits, warmup_containers=0, provisioned_concurrency=0))
        all_month, business_hours = units * price * HOURS_PER_MONTH, units * price * BUSINESS_HOURS_PER_MONTH
        out.append(f"| {label} | {units} | ${all_month:,.2f} | ${business_hours:,.2f} |")
    return "\n".join(out)


def doc_blocks(limits: StageLimits | None = None) -> dict[tuple[str, str], str]:
    limits = stage_limits() if limits is None else limits
    return {
        ("docs/capacity.md", "capacity-table"): capacity_table(limits),
        ("docs/capacity.md", "capacity-checks"): checks_table(limits),
        ("docs/capacity.md", "capacity-provisioned"): provisioned_concurrency_table(limits),
        ("docs/capacity.md", "capacity-deploy"): deploy_table(limits),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod", help="stage whose limits to model (default: prod)")
    parser.add_argument("--users", type=int, nargs="+", default=list(USER_ROWS), help="concurrent users per row")
    parser.add_argument("--seconds-per-request", type=float, default=1.0, help="each user's think time plus round trip")
    parser.add_argument("--write-docs", action="store_true", help="regenerate the tables in docs/capacity.md")
    arguments = parser.parse_args(argv)
    if arguments.seconds_per_request <= 0:
        print("error: --seconds-per-request must be positive", file=sys.stderr)
        return 2
    if arguments.write_docs:  # the documents describe prod, whatever --stage says
        changed = write_docs(doc_blocks(stage_limits("prod")))
        print("updated: " + ", ".join(changed) if changed else "docs already match the model")
        return 0
    limits = stage_limits(arguments.stage)
    print(capacity_table(limits, arguments.users, arguments.seconds_per_request))
    print()
    print(checks_table(limits))
    print()
    print(provisioned_concurrency_table(limits))
    print()
    print(deploy_table(limits))
    return 0 if all(check.passed for check in check_limits(limits)) else 1


if __name__ == "__main__":
    sys.exit(main())
