"""What one benchmark container does once its handler is imported: requests, counted and timed as Lambda runs them.

Runs inside `bench.worker`'s fresh process. DynamoDB calls are counted with a
botocore hook; log bytes are what the process really wrote to stdout and stderr
(Lambda sends both to CloudWatch), read back from the file they are redirected to.
"""

from __future__ import annotations

import builtins
import gzip
import hashlib
import json
import logging
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import app_tree
from bench.miss_share import FakeClock, MissShare, simulate
from bench.stats import median
from scripts.harness.lambda_events import LambdaContext, api_gateway_event, warmup_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Query = dict[str, str | list[str]]
Scenario = tuple[str, str, Query | None]
# The shape of Lambda's default Python log line (its runtime's root handler): level, timestamp, message.
LAMBDA_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(message)s"


def peak_rss_megabytes() -> float:
    """This process's peak resident memory, in MB.

    VmHWM first: Linux carries ru_maxrss across fork and exec, so a worker started by a parent that
    holds the stand-in's encoded tables would report the parent's peak, not its own.
    """
    with suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class DynamoDBCounter:
    """Counts DynamoDB API calls made by one botocore client, by operation."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, model: Any = None, **kwargs: Any) -> None:
        name = getattr(model, "name", "unknown")
        self.calls[name] = self.calls.get(name, 0) + 1

    def scans(self) -> int:
        """Scan calls only: the read bursts a container pays per TTL. The catalogue version's small GetItem
        every few seconds is reported by operation (`dynamodb_calls_by_operation`), not counted as a burst."""
        return self.calls.get("Scan", 0)


class LogMeter:
    """The bytes this process has logged so far: the size of the file its stdout and stderr go to."""

    def __init__(self, descriptor: int = 1) -> None:
        self.descriptor = descriptor

    def bytes(self) -> int:
        # Flushed first, so a handler that leaves text in Python's buffer is charged for it now.
        sys.stdout.flush()
        sys.stderr.flush()
        return os.fstat(self.descriptor).st_size

    def written(self, start: int, end: int) -> builtins.bytes:
        """What was logged between two `bytes()` readings."""
        return os.pread(self.descriptor, end - start, start)


def request_line_bytes(logged: bytes) -> int:
    """The size of the request's own line among what one invocation logged (with its newline).

    The app may also write a batch of metrics in a line of its own; that is billed, and counted in the
    totals, but it is not the request's line. A handler without JSON lines (the PoC) has only its own.
    """
    lines = logged.splitlines(keepends=True)
    own = [line for line in lines if b'"message":"request"' in line]
    return len(own[0]) if own else len(logged)


def count_baseline_calls(counter: DynamoDBCounter) -> None:
    """Hooks the PoC's DynamoDB client and gives its logger the handler Lambda's runtime installs."""
    from bench import baseline_poc

    baseline_poc.table.meta.client.meta.events.register(app_tree.DYNAMODB_CALLS, counter)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(LAMBDA_LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    logging.getLogger().addHandler(handler)


def invoke(handler: Handler, event: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One invocation as Lambda makes it; returns the response and its duration in nanoseconds."""
    context = LambdaContext()
    started = time.perf_counter_ns()
    response = handler(event, context)
    return response, time.perf_counter_ns() - started


@dataclass
class ScenarioRecord:
    """Everything measured for one scenario's warm requests."""

    samples_ns: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    not_hit: int = 0
    dynamodb_calls: int = 0
    log_bytes: int = 0
    hit_log_bytes: list[int] = field(default_factory=list)
    last_response: dict[str, Any] = field(default_factory=dict)

    def add(self, response: dict[str, Any], elapsed_ns: int, calls: int, logged: bytes, cached: bool) -> None:
        self.samples_ns.append(elapsed_ns)
        self.statuses.add(response["statusCode"])
        self.dynamodb_calls += calls
        self.log_bytes += len(logged)
        hit = response["headers"].get("X-Cache") == "HIT"
        if hit:
            self.hit_log_bytes.append(request_line_bytes(logged))
        if cached and not hit:
            self.not_hit += 1
        self.last_response = response

    def summary(self) -> dict[str, Any]:
        body = self.last_response["body"]
        return {
            "samples_ns": self.samples_ns,
            "statuses": sorted(self.statuses),
            "not_hit": self.not_hit,
            "requests": len(self.samples_ns),
            "dynamodb_calls": self.dynamodb_calls,
            "log_bytes": self.log_bytes,
            # A hit's own request line, typical and largest; batched metrics lines are in log_bytes only.
            "hit_log_bytes_median": median(self.hit_log_bytes),
            "hit_log_bytes_max": max(self.hit_log_bytes, default=0),
            "body_bytes": len(body.encode()),
            "payload_bytes": len(json.dumps(self.last_response).encode()),
            # What the client downloads when API Gateway compresses (prod: minimum_compression_size 1024).
            "gzip_bytes": len(gzip.compress(body.encode(), compresslevel=6)),
            "items": json.loads(body).get("count", 1),
        }


@dataclass
class Container:
    """One imported handler with its meters: what a Lambda container is to the benchmark."""

    handler: Handler
    counter: DynamoDBCounter
    meter: LogMeter
    # True for the app, whose answers say HIT or MISS; the PoC has no cache to ask.
    cached: bool

    def measured(self, event: dict[str, Any], record: ScenarioRecord) -> int:
        """Invokes once, adds the figures to `record`; returns the nanoseconds it took."""
        log_before, calls_before = self.meter.bytes(), self.counter.scans()
        response, elapsed = invoke(self.handler, event)
        logged = self.meter.written(log_before, self.meter.bytes())
        record.add(response, elapsed, self.counter.scans() - calls_before, logged, self.cached)
        return elapsed

    def warm_phase(self, scenarios: list[Scenario], requests: int, budget_seconds: float) -> dict[str, Any]:
        """Up to `requests` calls per scenario, stopping a scenario (after at least one) once it has used its budget.

        Scenarios take turns request by request, so a burst of load from elsewhere on the machine lands on
        all of them alike instead of on whichever happened to run at that moment.
        """
        events = {name: [api_gateway_event(path, query) for _ in range(requests)] for name, path, query in scenarios}
        records = {name: ScenarioRecord() for name in events}
        spent = dict.fromkeys(events, 0)
        for index in range(requests):
            for name, scenario_events in events.items():
                if spent[name] <= budget_seconds * 1e9:
                    spent[name] += self.measured(scenario_events[index], records[name])
        return {name: record.summary() for name, record in records.items()}

    def walk(self, limit: int) -> dict[str, Any]:
        """Pages through the whole catalogue the way a client would, following next_token."""
        names: list[str] = []
        pages = largest_payload = 0
        token: str | None = None
        while pages == 0 or token is not None:
            query: Query = {"limit": str(limit), **({"next_token": token} if token is not None else {})}
            response, _ = invoke(self.handler, api_gateway_event("/llms", query))
            if response["statusCode"] != 200:
                raise RuntimeError(f"walk page {pages + 1} answered {response['statusCode']}: {response['body'][:200]}")
            largest_payload = max(largest_payload, len(json.dumps(response).encode()))
            body = json.loads(response["body"])
            names.extend(item["model_name"] for item in body["items"])
            pages += 1
            token = body.get("next_token")
        return {
            "names": len(names),
            "unique_names": len(set(names)),
            "names_digest": names_digest(names),
            "pages": pages,
            "largest_payload_bytes": largest_payload,
        }


def names_digest(names: list[str]) -> str:
    """A digest of a set of item names, compared between the table seeded and the items a walk returned."""
    return hashlib.blake2b("\n".join(sorted(names)).encode(), digest_size=16).hexdigest()


def run_container(container: Container, options: dict[str, Any]) -> dict[str, Any]:
    """First request (a cache miss for the app), then warm requests, as one container sees them."""
    first_response, first_ns = invoke(container.handler, api_gateway_event("/llms"))
    if first_response["statusCode"] != 200:
        raise RuntimeError(f"first request answered {first_response['statusCode']}: {first_response['body'][:300]}")
    result: dict[str, Any] = {
        "first_request_ms": first_ns / 1e6,
        "first_request_dynamodb_calls": container.counter.scans(),
        "first_request_log_bytes": container.meter.bytes(),
        "first_request_cache": first_response["headers"].get("X-Cache"),
    }
    # moto keeps a CPU busy for a while after answering a large Scan; on a 2-core machine that would be
    # charged to the first warm requests, so let it settle first.
    time.sleep(options.get("settle_seconds", 0))
    scenarios: list[Scenario] = [
        ("list", "/llms", None),
        ("filtered", "/llms", {"provider": "openai", "sort": "score", "order": "desc"}),
        ("item", f"/llms/{options['item_name']}", None),
    ]
    if options.get("warm_requests", 0) > 0:
        result["warm"] = container.warm_phase(scenarios, options["warm_requests"], options["warm_budget_seconds"])
    if options.get("walk_limit"):
        result["walk"] = container.walk(options["walk_limit"])
    result["dynamodb_calls_by_operation"] = dict(container.counter.calls)
    result["peak_rss_mb"] = peak_rss_megabytes()
    return result


def run_miss_share(handler: Handler, options: dict[str, Any]) -> dict[str, Any]:
    """A pinged and an unpinged container over a simulated hour, each with a new cache on a fake clock.

    Users and pings both go through the handler, as in production: users with REST proxy events
    (the answer's X-Cache header is what they got), pings with the warm-up event, so each tree
    answers them its own way (refresh-ahead or a plain read).
    """
    items = options["items"]
    path = f"/llms/{items[0]['model_name']}"

    def serve_user() -> str:
        response, _ = invoke(handler, api_gateway_event(path))
        return str(response["headers"].get("X-Cache"))

    def ping() -> None:
        invoke(handler, warmup_event(hold_milliseconds=0))

    result: dict[str, Any] = {
        **app_tree.cache_settings(),
        "refresh_ahead_seconds": app_tree.refresh_ahead_seconds(),
        "users_per_minute": options["users_per_minute"],
        "ping_interval_seconds": options["ping_interval_seconds"],
        "duration_seconds": options["duration_seconds"],
    }
    for label, pinger in (("pinged", ping), ("unpinged", None)):
        clock = FakeClock()
        # Seeded, so the TTL jitter each refresh draws is the same for both trees and every run.
        app_tree.use_simulated_cache(lambda: app_tree.scan_result(items), clock, random.Random(13).random)
        outcome: MissShare = simulate(
            clock,
            serve_user,
            pinger,
            duration_seconds=options["duration_seconds"],
            users_per_minute=options["users_per_minute"],
            ping_interval_seconds=options["ping_interval_seconds"],
        )
        result[label] = {**asdict(outcome), "share": outcome.share}
    return result
