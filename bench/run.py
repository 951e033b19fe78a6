"""The benchmark: the service against the PoC baseline, side by side, on a local moto DynamoDB server.

    python -m bench.run [--cold-runs 5] [--large-cold-runs 3] [--warm-requests 2000] [--quick]

Each run is a fresh process (`bench.worker`), so import and init are real; service
and baseline runs alternate so both see the same machine noise, and every figure
is printed with its service/baseline ratio. The targets of issue 5 are checked at
the end: PASS/FAIL per target, exit status 1 if any fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.items import generate_items  # noqa: E402
from scripts import local_stack  # noqa: E402

RESULTS_FILE = PROJECT_ROOT / "build" / "bench" / "latest.json"
SCENARIOS = ("list", "filtered", "item")
SCENARIO_LABELS = {
    "list": "GET /llms (default page)",
    "filtered": "GET /llms?provider=openai&sort=score&order=desc",
    "item": "GET /llms/{model_name}",
}
TARGETS = ("service", "baseline")
# Measured first: 20 back-to-back pairs put the service's import 4-10 % above the baseline's (Powertools and
# Chalice against boto3.resource's extra model loading), with run-to-run noise of the same size on a shared
# 2-core machine. 10 % is the bar the issue allows; the result sits close to it, and the README says so.
IMPORT_TOLERANCE = 1.10
CACHE_HIT_P50_LIMIT_MS = 1.0
SCALE_RATIO_LIMIT = 2.0


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class SizeResults:
    items: int
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {target: [] for target in TARGETS})
    expected_digest: str = ""


def _percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with few samples it is an actual observation, never an interpolation."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(service: float, baseline: float) -> str:
    if not baseline or baseline != baseline or service != service:
        return "n/a"
    ratio = service / baseline
    # Tiny ratios read better as "1/N" than in scientific notation.
    return f"1/{1 / ratio:,.0f}" if 0 < ratio < 0.01 else f"{ratio:.3g}×"


def _machine() -> dict[str, Any]:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def _worker(target: str, options: dict[str, Any], environment: dict[str, str], timeout: float) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.worker", target, json.dumps(options)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker {target} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _import_profile(module: str, environment: dict[str, str]) -> list[tuple[str, float]]:
    """`python -X importtime -c "import <module>"`, self time summed per top-level package, largest first (ms)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _cumulative, name = (part.strip() for part in line.replace("import time:", "|", 1).split("|"))
        # A module's own top-level code counts as its self time: chalicelib.service creates the DynamoDB
        # client at import, so it is reported by module rather than folded into "chalicelib".
        package = name if name.startswith(("chalicelib.", "bench.")) else name.split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda entry: entry[1], reverse=True)


def _seed_tables(sizes: Sequence[int]) -> dict[int, tuple[str, list[str]]]:
    import boto3

    from scripts.seed_data import ensure_table, seed

    client = boto3.client("dynamodb")
    tables: dict[int, tuple[str, list[str]]] = {}
    for size in sizes:
        table = f"llm_scores-bench-{size}"
        items = generate_items(size)
        started = time.perf_counter()
        ensure_table(client, table, create=True)
        seed(client, table, items, force=True)
        print(f"  seeded {size} items into {table} in {time.perf_counter() - started:.1f} s", flush=True)
        tables[size] = (table, [item["model_name"] for item in items])
    return tables


def _summarise(size: SizeResults) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for target in TARGETS:
        runs = size.runs[target]
        warm_runs = [run for run in runs if "warm" in run]
        entry: dict[str, Any] = {
            "runs": len(runs),
            "first_request_ms": _median([run["first_request_ms"] for run in runs]),
            "peak_rss_mb": _median([run["peak_rss_mb"] for run in runs]),
        }
        for scenario in SCENARIOS:
            per_run = [run["warm"][scenario] for run in warm_runs]
            samples_ms = [[ns / 1e6 for ns in result["samples_ns"]] for result in per_run]
            entry[scenario] = {
                "p50_ms": _median([_percentile(samples, 0.50) for samples in samples_ms]),
                "p99_ms": _median([_percentile(samples, 0.99) for samples in samples_ms]),
                "p50_ms_per_run": [_percentile(samples, 0.50) for samples in samples_ms],
                "samples": sum(len(samples) for samples in samples_ms),
                "runs": len(per_run),
                "body_bytes": per_run[0]["body_bytes"] if per_run else 0,
                "payload_bytes": per_run[0]["payload_bytes"] if per_run else 0,
                "gzip_bytes": per_run[0]["gzip_bytes"] if per_run else 0,
                "items": per_run[0]["items"] if per_run else 0,
                "not_hit": sum(result["not_hit"] for result in per_run),
                "statuses": sorted({status for result in per_run for status in result["statuses"]}),
            }
        warm_requests = [sum(run["warm"][s]["requests"] for s in SCENARIOS) for run in warm_runs]
        warm_calls = [sum(run["warm"][s]["dynamodb_calls"] for s in SCENARIOS) for run in warm_runs]
        warm_log = [sum(run["warm"][s]["log_bytes"] for s in SCENARIOS) for run in warm_runs]
        entry["warm_requests_per_run"] = warm_requests
        entry["warm_dynamodb_calls_per_run"] = warm_calls
        entry["dynamodb_calls_per_container"] = [
            run["first_request_dynamodb_calls"] + calls for run, calls in zip(warm_runs, warm_calls, strict=True)
        ]
        entry["dynamodb_per_1000"] = _median(
            [
                1000 * (run["first_request_dynamodb_calls"] + calls) / (1 + requests)
                for run, calls, requests in zip(warm_runs, warm_calls, warm_requests, strict=True)
            ]
        )
        entry["first_request_dynamodb_calls"] = _median([run["first_request_dynamodb_calls"] for run in runs])
        entry["log_bytes_per_request"] = _median(
            [log / requests for log, requests in zip(warm_log, warm_requests, strict=True)]
        )
        entry["first_request_log_bytes"] = _median([run["first_request_log_bytes"] for run in runs])
        summary[target] = entry
    return summary


def _row(label: str, service: float, baseline: float, unit: str, digits: int = 3, note: str = "") -> str:
    def show(value: float) -> str:
        if value != value:
            return "n/a"
        return f"{value:,.{digits}f}{unit}" if digits else f"{value:,.0f}{unit}"

    return f"| {label} | {show(service)} | {show(baseline)} | {_ratio(service, baseline)} |{' ' + note if note else ''}"


def _table(summaries: dict[int, dict[str, dict[str, Any]]], imports: dict[str, float], import_counts: int) -> list[str]:
    lines = [
        "| figure | service | baseline (PoC) | service/baseline |",
        "|---|---:|---:|---:|",
        _row(
            f"import/init, median of {import_counts} fresh processes each",
            imports["service"],
            imports["baseline"],
            " ms",
            1,
        ),
    ]
    for size, summary in summaries.items():
        service, baseline = summary["service"], summary["baseline"]
        lines.append(f"| **{size:,} items** ({service['runs']} + {baseline['runs']} cold runs) | | | |")
        lines.append(
            _row(
                "first request (cache miss), median",
                service["first_request_ms"],
                baseline["first_request_ms"],
                " ms",
                1,
            )
        )
        for scenario in SCENARIOS:
            ours, theirs = service[scenario], baseline[scenario]
            counts = f"n={ours['samples']:,} / n={theirs['samples']:,}"
            lines.append(
                _row(f"warm p50 {SCENARIO_LABELS[scenario]} ({counts})", ours["p50_ms"], theirs["p50_ms"], " ms")
            )
            lines.append(_row(f"warm p99 {SCENARIO_LABELS[scenario]}", ours["p99_ms"], theirs["p99_ms"], " ms"))
        lines.append(
            _row(
                "DynamoDB requests per 1,000 requests",
                service["dynamodb_per_1000"],
                baseline["dynamodb_per_1000"],
                "",
                1,
            )
        )
        lines.append(
            _row(
                "log bytes per warm request",
                service["log_bytes_per_request"],
                baseline["log_bytes_per_request"],
                " B",
                0,
            )
        )
        for scenario in ("list", "item"):
            items = service[scenario]["items"]
            for label, key in (
                (f"response body bytes, {SCENARIO_LABELS[scenario]} ({items} items)", "body_bytes"),
                (f"gzip body bytes, {SCENARIO_LABELS[scenario]}", "gzip_bytes"),
                (f"Lambda payload bytes, {SCENARIO_LABELS[scenario]}", "payload_bytes"),
            ):
                lines.append(_row(label, service[scenario][key], baseline[scenario][key], " B", 0))
        lines.append(_row("worker peak RSS, median", service["peak_rss_mb"], baseline["peak_rss_mb"], " MB", 1))
    return lines


def _checks(
    sizes: dict[int, SizeResults], summaries: dict[int, dict[str, dict[str, Any]]], imports: dict[str, float]
) -> list[Check]:
    checks: list[Check] = []
    worst = max(
        (summary["service"][scenario]["p50_ms"], size, scenario)
        for size, summary in summaries.items()
        for scenario in SCENARIOS
    )
    misses = sum(summary["service"][scenario]["not_hit"] for summary in summaries.values() for scenario in SCENARIOS)
    checks.append(
        Check(
            "cache hit p50 < 1 ms in-process",
            worst[0] < CACHE_HIT_P50_LIMIT_MS and misses == 0,
            f"slowest p50 {worst[0]:.3f} ms ({SCENARIO_LABELS[worst[2]]} at {worst[1]:,} items); "
            f"{misses} warm request(s) not served as HIT",
        )
    )
    smallest, largest = min(summaries), max(summaries)
    small_p50 = summaries[smallest]["service"]["list"]["p50_ms"]
    large_p50 = summaries[largest]["service"]["list"]["p50_ms"]
    checks.append(
        Check(
            f"{largest:,}-item warm p50 within {SCALE_RATIO_LIMIT:g}× of {smallest:,}-item (default page)",
            large_p50 <= SCALE_RATIO_LIMIT * small_p50,
            f"{large_p50:.3f} ms / {small_p50:.3f} ms = {large_p50 / small_p50:.2f}× "
            f"(pages of {summaries[largest]['service']['list']['items']} vs "
            f"{summaries[smallest]['service']['list']['items']} items)",
        )
    )
    walk = next(run["walk"] for run in sizes[largest].runs["service"] if "walk" in run)
    checks.append(
        Check(
            f"full {largest:,}-item walk (limit=1000, following next_token) returns every item exactly once",
            walk["names"] == walk["unique_names"] == largest and walk["names_digest"] == sizes[largest].expected_digest,
            f"{walk['names']:,} names, {walk['unique_names']:,} unique, {walk['pages']} pages, "
            f"names {'match' if walk['names_digest'] == sizes[largest].expected_digest else 'DIFFER from'} the table",
        )
    )
    burst_details = []
    burst_ok = True
    for size, summary in summaries.items():
        pages_of_one_scan = summary["baseline"]["first_request_dynamodb_calls"]
        per_container = summary["service"]["dynamodb_calls_per_container"]
        warm_calls = summary["service"]["warm_dynamodb_calls_per_run"]
        burst_ok &= all(calls == pages_of_one_scan for calls in per_container) and not any(warm_calls)
        burst_details.append(
            f"{size:,} items: {per_container} calls per container over "
            f"{summary['service']['warm_requests_per_run'][0] + 1:,} requests, one scan = {pages_of_one_scan:g} page(s)"
        )
    checks.append(Check("at most one DynamoDB read burst per container per TTL", burst_ok, "; ".join(burst_details)))
    checks.append(
        Check(
            f"cold init no worse than a plain boto3-resource Lambda (×{IMPORT_TOLERANCE:.2f})",
            imports["paired_ratio"] <= IMPORT_TOLERANCE,
            f"median of back-to-back pair ratios {imports['paired_ratio']:.3f}× "
            f"(medians: service {imports['service']:.1f} ms, baseline {imports['baseline']:.1f} ms "
            f"= {imports['service'] / imports['baseline']:.3f}×)",
        )
    )
    return checks


def _memory_lines(memory: dict[int, dict[str, Any]]) -> list[str]:
    lines = [
        "| items | snapshot retained (tracemalloc) | refresh peak (tracemalloc) | 8 unfiltered views | every view "
        "(11 providers) | parse + build (no tracing) | process peak RSS with snapshot + every view |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, figures in memory.items():
        lines.append(
            f"| {count:,} | {figures['snapshot_mb']:.1f} MB | {figures['build_peak_mb']:.1f} MB | "
            f"{figures['unfiltered_views_mb']:.1f} MB | {figures['every_view_mb']:.1f} MB | "
            f"{figures['build_ms']:,.0f} ms | {figures['container_peak_rss_mb']:.1f} MB |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 5000], help="table sizes (default: 50 5000)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per target at the small size")
    parser.add_argument(
        "--large-cold-runs",
        type=int,
        default=3,
        help="fresh processes per target at sizes over 1,000 items (each cold read takes seconds on moto)",
    )
    parser.add_argument("--warm-requests", type=int, default=2000, help="warm requests per scenario per service run")
    parser.add_argument(
        "--baseline-warm-seconds",
        type=float,
        default=2.0,
        help="time budget per scenario for the baseline's warm requests (it scans every time; at least one runs)",
    )
    parser.add_argument(
        "--import-runs", type=int, default=20, help="extra import-only fresh processes per target (init is noisy)"
    )
    parser.add_argument("--stage-runs", type=int, default=5, help="fresh processes timing each import stage")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[5000, 50000], help="snapshot footprint sizes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 runs, 200 warm requests, small sizes")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where to write the raw results (JSON)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.sizes, arguments.cold_runs, arguments.large_cold_runs = [50, 500], 2, 2
        arguments.warm_requests, arguments.baseline_warm_seconds = 200, 0.5
        arguments.memory_sizes, arguments.import_runs, arguments.stage_runs = [500], 2, 1

    started = time.perf_counter()
    machine = _machine()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"load average {machine['load_average_at_start'][0]:.2f}",
        flush=True,
    )
    port = local_stack.free_port()
    moto = local_stack.start_moto(port)
    try:
        environment = local_stack.local_environment(port)
        # moto reads a 1 MB Scan page in seconds, not DynamoDB's few hundred ms: the production 1 s timeout
        # would turn the 5,000-item cold read into retries and 503s.
        environment["DYNAMODB_READ_TIMEOUT_SECONDS"] = "30"
        os.environ.update(environment)
        print(f"moto server on 127.0.0.1:{port}; seeding", flush=True)
        tables = _seed_tables(arguments.sizes)

        # Priming: compile .pyc files once so no measured run pays for bytecode compilation.
        subprocess.run(
            [sys.executable, "-c", "import app, bench.baseline_poc, bench.worker"],
            cwd=PROJECT_ROOT,
            env={**environment, "TABLE_NAME": tables[arguments.sizes[0]][0]},
            check=True,
        )
        profiles = {
            "service": _import_profile("app", environment),
            "baseline": _import_profile("bench.baseline_poc", environment),
        }

        # Init does not depend on table size, and on a shared machine it is the noisiest figure:
        # extra import-only processes, alternating, make its median worth comparing.
        import_only: dict[str, list[float]] = {target: [] for target in TARGETS}
        for run in range(arguments.import_runs):
            for target in TARGETS if run % 2 == 0 else TARGETS[::-1]:
                result = _worker(target, {"import_only": True}, environment, timeout=120)
                import_only[target].append(result["import_ms"])
        print(f"  {arguments.import_runs} import-only runs per target done", flush=True)
        stage_runs: dict[str, list[dict[str, float]]] = {"service": [], "baseline": []}
        for _ in range(arguments.stage_runs):
            for target in TARGETS:
                stage_runs[target].append(_worker(f"{target}-stages", {}, environment, timeout=120)["stages_ms"])

        sizes: dict[int, SizeResults] = {}
        for size in arguments.sizes:
            table, names = tables[size]
            results = SizeResults(size)
            results.expected_digest = hashlib.blake2b("\n".join(sorted(names)).encode(), digest_size=16).hexdigest()
            large = size > 1000
            runs = arguments.large_cold_runs if large else arguments.cold_runs
            worker_environment = {**environment, "TABLE_NAME": table}
            for run in range(runs):
                order = TARGETS if run % 2 == 0 else TARGETS[::-1]
                for target in order:
                    options: dict[str, Any] = {
                        "item_name": names[len(names) // 2],
                        "settle_seconds": 2.0 if large else 0,
                    }
                    if target == "service":
                        options.update(warm_requests=arguments.warm_requests, warm_budget_seconds=300.0)
                        if run == 0:
                            options["walk_limit"] = 1000
                    elif run == 0 or not large:
                        # At thousands of items each baseline request is a multi-second moto scan: warm samples
                        # come from the first run only, and the table reports how many there are.
                        options.update(
                            warm_requests=arguments.warm_requests, warm_budget_seconds=arguments.baseline_warm_seconds
                        )
                    began = time.perf_counter()
                    result = _worker(target, options, worker_environment, timeout=900)
                    results.runs[target].append(result)
                    print(
                        f"  {size:>6,} items run {run + 1}/{runs} {target:<8} import {result['import_ms']:6.1f} ms"
                        f"  first request {result['first_request_ms']:8.1f} ms  ({time.perf_counter() - began:.1f} s)",
                        flush=True,
                    )
            sizes[size] = results

        memory: dict[int, dict[str, Any]] = {}
        for count in arguments.memory_sizes:
            memory[count] = _worker("memory", {"items": count}, environment, timeout=900)
            print(f"  memory at {count:,} items measured", flush=True)
    finally:
        local_stack.stop(moto)

    import_samples = {
        target: import_only[target] + [run["import_ms"] for size in sizes.values() for run in size.runs[target]]
        for target in TARGETS
    }
    imports = {target: _median(samples) for target, samples in import_samples.items()}
    # Each import-only pair ran back to back, so the pair's ratio cancels most of the machine's momentary load.
    imports["paired_ratio"] = _median(
        [ours / theirs for ours, theirs in zip(import_only["service"], import_only["baseline"], strict=True)]
    )
    summaries = {size: _summarise(results) for size, results in sizes.items()}
    checks = _checks(sizes, summaries, imports)
    machine["load_average_at_end"] = os.getloadavg()
    elapsed = time.perf_counter() - started

    print()
    print(
        f"## Benchmark: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"load average {machine['load_average_at_start'][0]:.2f} → {machine['load_average_at_end'][0]:.2f}"
    )
    print()
    print("In-process `app.app(event, context)` (service) and `baseline_poc.handler(event, context)` (PoC),")
    print("each cold run a fresh process, DynamoDB = moto server on loopback. Medians across runs.")
    print("The baseline follows LastEvaluatedKey to be fair; the real PoC stopped at the first 1 MB page.")
    print()
    print("\n".join(_table(summaries, imports, len(import_samples["service"]))))
    print()
    for target in TARGETS:
        stages = {name: _median([run[name] for run in stage_runs[target]]) for name in stage_runs[target][0]}
        shown = "; ".join(f"{name} {ms:.0f} ms" for name, ms in stages.items())
        print(f"init by stage, median of {len(stage_runs[target])} fresh processes ({target}): {shown}")
    for target in TARGETS:
        top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in profiles[target][:7])
        print(f"-X importtime, self time by package ({target}): {top}")
    if memory:
        print()
        print("Snapshot memory (same parse and Snapshot code as a refresh, no network):")
        print()
        print("\n".join(_memory_lines(memory)))
    print()
    print("## Targets")
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    print()
    print(f"benchmark took {elapsed:.0f} s; raw results in {arguments.output.relative_to(PROJECT_ROOT)}")

    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    for results in sizes.values():
        for runs in results.runs.values():
            for run in runs:
                for scenario in run.get("warm", {}).values():
                    scenario.pop("samples_ns", None)
    arguments.output.write_text(
        json.dumps(
            {
                "machine": machine,
                "elapsed_seconds": elapsed,
                "imports_ms": imports,
                "import_samples_ms": import_samples,
                "import_profiles_ms": profiles,
                "import_stages_ms": stage_runs,
                "summaries": {str(size): summary for size, summary in summaries.items()},
                "memory": {str(count): figures for count, figures in memory.items()},
                "checks": [check.__dict__ for check in checks],
                "runs": {str(size): results.runs for size, results in sizes.items()},
            },
            indent=2,
        )
    )
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
