"""One benchmark container: a fresh process that imports a handler and drives it as Lambda would.

    python -m bench.worker service|baseline '<json options>'   # cold start, first request, warm requests
    python -m bench.worker memory '<json options>'             # snapshot footprint, no DynamoDB

The handler module is imported before anything else the worker needs, so the
import time measured is what a Lambda init would pay for it. The result is one
JSON object on stdout; the parent (`bench.run`) aggregates runs.
"""

import sys
import time

TARGET = sys.argv[1] if len(sys.argv) > 1 else ""
_import_started = time.perf_counter()
if TARGET == "service":
    import app as _service_module

    HANDLER = _service_module.app
elif TARGET == "baseline":
    from bench import baseline_poc as _baseline_module

    HANDLER = _baseline_module.handler
elif TARGET == "service-stages":
    # The same import, split where its cost lies, to explain the init ratio against the baseline.
    # botocore, not boto3: the service never imports boto3.
    STAGES = [("import botocore.session", time.perf_counter())]
    import botocore.session  # noqa: F401

    STAGES.append(("import chalice", time.perf_counter()))
    import chalice.app  # noqa: F401

    STAGES.append(("import Powertools Logger + Metrics", time.perf_counter()))
    from aws_lambda_powertools import Logger, Metrics  # noqa: F401

    STAGES.append(("import app + chalicelib (creates the DynamoDB client)", time.perf_counter()))
    import app  # noqa: F401

    STAGES.append(("", time.perf_counter()))
    HANDLER = None
elif TARGET == "baseline-stages":
    STAGES = [("import boto3", time.perf_counter())]
    import boto3  # noqa: F401

    STAGES.append(("import bench.baseline_poc (creates boto3.resource Table)", time.perf_counter()))
    from bench import baseline_poc  # noqa: F401

    STAGES.append(("", time.perf_counter()))
    HANDLER = None
else:
    HANDLER = None
IMPORT_MILLISECONDS = (time.perf_counter() - _import_started) * 1000

# Everything below is the harness, imported after the measured import on purpose.
import gc  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
from typing import Any  # noqa: E402

from tests.lambda_events import LambdaContext, api_gateway_event  # noqa: E402

Scenario = tuple[str, str, dict[str, str] | None]


def _peak_rss_megabytes() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_megabytes() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class DynamoDBCounter:
    """Counts DynamoDB API calls made by one botocore client, by operation."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, model: Any = None, **kwargs: Any) -> None:
        name = getattr(model, "name", "unknown")
        self.calls[name] = self.calls.get(name, 0) + 1

    def total(self) -> int:
        return sum(self.calls.values())


def _instrument(target: str) -> tuple[DynamoDBCounter, io.StringIO]:
    """Hooks the handler's DynamoDB client and sends its logs to a buffer, as CloudWatch would receive them."""
    counter = DynamoDBCounter()
    buffer = io.StringIO()
    if target == "service":
        from chalicelib import service
        from chalicelib.observability import logger

        # The repository keeps its client private; the benchmark reaches in only to count calls.
        service.repository._client.meta.events.register("before-call.dynamodb.*", counter)
        logger.registered_handler.setStream(buffer)
    else:
        from bench import baseline_poc

        baseline_poc.table.meta.client.meta.events.register("before-call.dynamodb.*", counter)
        handler = logging.StreamHandler(buffer)
        # The shape of Lambda's default Python log line: level, timestamp, then the message.
        handler.setFormatter(
            logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(message)s", "%Y-%m-%dT%H:%M:%S")
        )
        baseline_poc.logger.addHandler(handler)
        baseline_poc.logger.propagate = False
    return counter, buffer


def _log_bytes(buffer: io.StringIO) -> int:
    return buffer.tell()


def _invoke(event: dict[str, Any]) -> tuple[dict[str, Any], int]:
    context = LambdaContext()
    started = time.perf_counter_ns()
    response = HANDLER(event, context)
    return response, time.perf_counter_ns() - started


def _scenario_events(scenario: Scenario, count: int) -> list[dict[str, Any]]:
    _, path, query = scenario
    return [api_gateway_event(path, query) for _ in range(count)]


def _warm_phase(
    scenarios: list[Scenario], requests: int, budget_seconds: float, counter: DynamoDBCounter, buffer: io.StringIO
) -> dict[str, Any]:
    """Up to `requests` calls per scenario, stopping a scenario (after at least one) once it has used its budget.

    Scenarios take turns request by request, so a burst of load from elsewhere on the machine lands on
    all of them alike instead of on whichever happened to run at that moment.
    """
    events = {scenario[0]: _scenario_events(scenario, requests) for scenario in scenarios}
    state: dict[str, dict[str, Any]] = {
        name: {"samples_ns": [], "statuses": set(), "not_hit": 0, "dynamodb_calls": 0, "log_bytes": 0, "spent": 0}
        for name in events
    }
    last_response: dict[str, dict[str, Any]] = {}
    for index in range(requests):
        for name, scenario_events in events.items():
            entry = state[name]
            if entry["spent"] > budget_seconds * 1e9:
                continue
            # StringIO.tell() is the character count so far; the log lines are ASCII, so characters are bytes.
            log_before, calls_before = buffer.tell(), counter.total()
            response, elapsed = _invoke(scenario_events[index])
            entry["samples_ns"].append(elapsed)
            entry["spent"] += elapsed
            entry["statuses"].add(response["statusCode"])
            entry["dynamodb_calls"] += counter.total() - calls_before
            entry["log_bytes"] += buffer.tell() - log_before
            if TARGET == "service" and response["headers"].get("X-Cache") != "HIT":
                entry["not_hit"] += 1
            last_response[name] = response
    results: dict[str, Any] = {}
    for name, entry in state.items():
        response = last_response[name]
        body = response["body"]
        results[name] = {
            "samples_ns": entry["samples_ns"],
            "statuses": sorted(entry["statuses"]),
            "not_hit": entry["not_hit"],
            "requests": len(entry["samples_ns"]),
            "dynamodb_calls": entry["dynamodb_calls"],
            "log_bytes": entry["log_bytes"],
            "body_bytes": len(body.encode()),
            "payload_bytes": len(json.dumps(response).encode()),
            # What the client downloads when API Gateway compresses (prod: minimum_compression_size 1024).
            "gzip_bytes": len(gzip.compress(body.encode(), compresslevel=6)),
            "items": json.loads(body).get("count", 1),
        }
    return results


def _walk(limit: int) -> dict[str, Any]:
    """Pages through the whole catalogue the way a client would, following next_token."""
    names: list[str] = []
    pages = 0
    largest_payload = 0
    token: str | None = None
    while True:
        query = {"limit": str(limit)}
        if token is not None:
            query["next_token"] = token
        response, _ = _invoke(api_gateway_event("/llms", query))
        if response["statusCode"] != 200:
            raise RuntimeError(f"walk page {pages + 1} answered {response['statusCode']}: {response['body'][:200]}")
        largest_payload = max(largest_payload, len(json.dumps(response).encode()))
        body = json.loads(response["body"])
        names.extend(item["model_name"] for item in body["items"])
        pages += 1
        token = body.get("next_token")
        if token is None:
            break
    return {
        "names": len(names),
        "unique_names": len(set(names)),
        "names_digest": hashlib.blake2b("\n".join(sorted(names)).encode(), digest_size=16).hexdigest(),
        "pages": pages,
        "largest_payload_bytes": largest_payload,
    }


def run_container(options: dict[str, Any]) -> dict[str, Any]:
    """Cold start, first request (cache miss for the service), then warm requests, as one container sees them."""
    counter, buffer = _instrument(TARGET)
    scenarios: list[Scenario] = [
        ("list", "/llms", None),
        ("filtered", "/llms", {"provider": "openai", "sort": "score", "order": "desc"}),
        ("item", f"/llms/{options['item_name']}", None),
    ]
    first_response, first_ns = _invoke(api_gateway_event("/llms"))
    if first_response["statusCode"] != 200:
        raise RuntimeError(f"first request answered {first_response['statusCode']}: {first_response['body'][:300]}")
    result: dict[str, Any] = {
        "target": TARGET,
        "import_ms": IMPORT_MILLISECONDS,
        "first_request_ms": first_ns / 1e6,
        "first_request_dynamodb_calls": counter.total(),
        "first_request_log_bytes": _log_bytes(buffer),
        "first_request_cache": first_response["headers"].get("X-Cache"),
    }
    # moto keeps a CPU busy for a while after answering a large Scan; on a 2-core machine that would be
    # charged to the first warm requests, so let it settle first.
    time.sleep(options.get("settle_seconds", 0))
    if options.get("warm_requests", 0) > 0:
        result["warm"] = _warm_phase(
            scenarios, options["warm_requests"], options["warm_budget_seconds"], counter, buffer
        )
    if options.get("walk_limit"):
        result["walk"] = _walk(options["walk_limit"])
    result["dynamodb_calls_by_operation"] = dict(counter.calls)
    result["peak_rss_mb"] = _peak_rss_megabytes()
    return result


def measure_memory(options: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's footprint for N generated items, built by the same code a refresh runs (minus the network)."""
    import tracemalloc

    from bench.items import PROVIDERS, generate_items
    from chalicelib.models import item_from_dynamodb, item_to_dynamodb
    from chalicelib.snapshot import ORDERS, SORT_FIELDS, Snapshot

    count = options["items"]

    def build_every_view(snapshot: Snapshot) -> None:
        for provider in (None, *(name.lower() for name in PROVIDERS)):
            for sort in SORT_FIELDS:
                for order in ORDERS:
                    snapshot.view(provider, sort, order)

    # First what a container holds: the snapshot and every view, built from items generated one at a time,
    # so the process peak is the app plus its catalogue (less the one Scan page a real refresh also holds).
    snapshot = Snapshot((item_from_dynamodb(item_to_dynamodb(item)) for item in generate_items(count)), 0, 0.0)
    build_every_view(snapshot)
    container_peak_rss = _peak_rss_megabytes()
    del snapshot
    gc.collect()

    attributes = [item_to_dynamodb(item) for item in generate_items(count)]

    def build() -> Snapshot:
        return Snapshot([item_from_dynamodb(entry) for entry in attributes], 0, 0.0)

    started = time.perf_counter()
    snapshot = build()
    build_ms = (time.perf_counter() - started) * 1000
    del snapshot
    gc.collect()

    tracemalloc.start()
    snapshot = build()
    gc.collect()
    snapshot_bytes, build_peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for sort in SORT_FIELDS:
        for order in ORDERS:
            snapshot.view(None, sort, order)
    all_provider_views_bytes = tracemalloc.get_traced_memory()[0] - snapshot_bytes
    build_every_view(snapshot)
    every_view_bytes = tracemalloc.get_traced_memory()[0] - snapshot_bytes
    tracemalloc.stop()
    megabyte = 1024 * 1024
    return {
        "items": len(snapshot),
        "build_ms": build_ms,
        "snapshot_mb": snapshot_bytes / megabyte,
        "build_peak_mb": build_peak_bytes / megabyte,
        "unfiltered_views_mb": all_provider_views_bytes / megabyte,
        "every_view_mb": every_view_bytes / megabyte,
        "container_peak_rss_mb": container_peak_rss,
    }


def main() -> int:
    options: dict[str, Any] = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if TARGET.endswith("-stages"):
        result = {
            "target": TARGET,
            "stages_ms": {
                name: (STAGES[index + 1][1] - started) * 1000 for index, (name, started) in enumerate(STAGES[:-1])
            },
            "import_ms": IMPORT_MILLISECONDS,
        }
    elif TARGET in ("service", "baseline") and options.get("import_only"):
        result = {"target": TARGET, "import_ms": IMPORT_MILLISECONDS}
    elif TARGET in ("service", "baseline"):
        result = run_container(options)
    elif TARGET == "memory":
        result = measure_memory(options)
    else:
        print("usage: python -m bench.worker service|baseline|memory '<json options>'", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
