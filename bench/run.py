"""The benchmark: this tree's app against the floor, the PoC baseline and, optionally, another commit.

    python -m bench.run [--against REF] [--quick] [--cold-runs 5] [--large-cold-runs 3] [--warm-requests 2000]

Each run is a fresh process (`bench.worker`), so import and init are real. The sides
(this tree, the floor of `bench/floor.py`, the PoC and, with `--against`, the app of REF
checked out in a temporary git worktree) take turns in every round, so all of them see the same machine noise and
each figure is read as a ratio from the same run. DynamoDB is `bench.dynamodb_stand_in`:
pages encoded once and served from memory, paged as moto pages them, so a 10,000-item
read measures the client, not moto. The targets are checked at the end:
PASS/FAIL per target, exit status 1 if any fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench import report, targets  # noqa: E402
from bench.container import names_digest  # noqa: E402
from bench.dynamodb_stand_in import DynamoDBStandIn  # noqa: E402
from bench.items import generate_items  # noqa: E402
from bench.stats import median  # noqa: E402
from bench.summary import (  # noqa: E402
    AGAINST,
    APP_SIDES,
    BASELINE,
    CURRENT,
    FLOOR,
    BenchResults,
    SizeRuns,
    import_figures,
    init_figures,
)
from chalicelib.warmup import WARMUP_INTERVAL_MINUTES  # noqa: E402
from scripts.harness import local_stack  # noqa: E402

RESULTS_FILE = PROJECT_ROOT / "build" / "bench" / "latest.json"
# Sizes above this take a second or more per PoC request: fewer cold runs, and the baseline's warm samples
# from one run.
LARGE_TABLE = 1000
MISS_SHARE_OPTIONS = {"duration_seconds": 3600, "users_per_minute": 60}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--against", metavar="REF", help="also benchmark the app of this git ref, interleaved")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[50, 5000, 10000], help="table sizes (default: 50 5000 10000)"
    )
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per side at the small size")
    parser.add_argument(
        "--large-cold-runs", type=int, default=3, help=f"fresh processes per side over {LARGE_TABLE:,} items"
    )
    parser.add_argument("--warm-requests", type=int, default=2000, help="warm requests per scenario per app run")
    parser.add_argument(
        "--baseline-warm-seconds",
        type=float,
        default=2.0,
        help="time budget per scenario for the baseline's warm requests (it scans every time; at least one runs)",
    )
    parser.add_argument("--import-runs", type=int, default=20, help="extra import-only rounds (init is noisy)")
    parser.add_argument("--stage-runs", type=int, default=5, help="fresh processes timing each import stage")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[5000, 50000], help="snapshot footprint sizes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 runs, 200 warm requests, small sizes")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where to write the raw results (JSON)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.sizes, arguments.cold_runs, arguments.large_cold_runs = [50, 500, 2000], 2, 2
        arguments.warm_requests, arguments.baseline_warm_seconds = 200, 0.5
        arguments.memory_sizes, arguments.import_runs, arguments.stage_runs = [500], 2, 1
    return arguments


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown CPU"
    # Not every platform has /proc/cpuinfo, nor a model name in it.
    with suppress(OSError, StopIteration):
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


@contextmanager
def against_tree(ref: str | None) -> Iterator[Path | None]:
    """REF checked out (detached) in a temporary git worktree, removed on the way out whatever happens."""
    if not ref:
        yield None
        return
    parent = Path(tempfile.mkdtemp(prefix="llm-scores-bench-"))
    tree = parent / "tree"
    git = ["git", "-C", str(PROJECT_ROOT)]
    try:
        subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(tree), ref], check=True)
        yield tree
    finally:
        if tree.exists():
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(parent, ignore_errors=True)
        # Forget the worktree even if its directory was already gone, so no stale entry is left behind.
        subprocess.run([*git, "worktree", "prune"], check=False)


def rotation(sides: Sequence[str], round_index: int) -> list[str]:
    """The sides in this round's order: each takes each position equally often, so none is always first."""
    shift = round_index % len(sides)
    return [*sides[shift:], *sides[:shift]]


class Workers:
    """Starts `bench.worker` processes with one environment, each logging to its own file."""

    def __init__(self, environment: dict[str, str], log_directory: Path, trees: dict[str, Path]) -> None:
        self.environment = environment
        self.log_directory = log_directory
        self.trees = trees
        self.started = 0

    def run(self, side: str, options: dict[str, Any], table: str = "", timeout: float = 900) -> dict[str, Any]:
        """One fresh process for `side`: the app of that side's tree, or the PoC baseline."""
        target = "app" if side in APP_SIDES else side
        return self.target(
            target, options, project_dir=self.trees.get(side, PROJECT_ROOT), table=table, timeout=timeout
        )

    def target(
        self,
        target: str,
        options: dict[str, Any],
        project_dir: Path = PROJECT_ROOT,
        table: str = "",
        timeout: float = 900,
    ) -> dict[str, Any]:
        """One fresh `bench.worker TARGET` process; its result, or RuntimeError with the tail of what it logged."""
        self.started += 1
        log_file = self.log_directory / f"{self.started:04d}-{target}.log"
        command = [sys.executable, "-m", "bench.worker", target, "--project-dir", str(project_dir)]
        command += ["--log-file", str(log_file), "--options", json.dumps(options)]
        environment = {**self.environment, **({"TABLE_NAME": table} if table else {})}
        completed = subprocess.run(
            command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        if completed.returncode != 0:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else completed.stderr[-3000:]
            raise RuntimeError(f"worker {target} ({project_dir}) failed ({completed.returncode}):\n{tail}")
        log_file.unlink(missing_ok=True)
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return result


def import_profile(tree: Path, environment: dict[str, str], module: str = "app") -> list[tuple[str, float]]:
    """`python -X importtime -c "import <module>"` in `tree`, self time summed per top-level package (ms)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=tree,
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
        # A module's own top-level code counts as its self time: chalicelib modules are reported one by one,
        # so a client created at import shows under the module that creates it.
        package = name if name.startswith(("chalicelib.", "bench.")) else name.split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda entry: entry[1], reverse=True)


class Benchmark:
    """One `make bench`: the phases, in order, against one DynamoDB stand-in."""

    def __init__(self, arguments: argparse.Namespace, workers: Workers, dynamodb: DynamoDBStandIn) -> None:
        self.arguments = arguments
        self.workers = workers
        self.dynamodb = dynamodb
        self.sides = [CURRENT, AGAINST, BASELINE, FLOOR] if AGAINST in workers.trees else [CURRENT, BASELINE, FLOOR]
        self.app_sides = [side for side in self.sides if side in APP_SIDES]
        self.tables: dict[int, tuple[str, list[str]]] = {}

    def seed(self) -> None:
        for size in self.arguments.sizes:
            table, items = f"llm_scores-bench-{size}", generate_items(size)
            started = time.perf_counter()
            self.dynamodb.create_table(table, items)
            print(f"  seeded {size} items into {table} in {time.perf_counter() - started:.1f} s", flush=True)
            self.tables[size] = (table, [item["model_name"] for item in items])

    def prime(self) -> None:
        """Compiles every tree's .pyc files once, so no measured run pays for bytecode compilation."""
        environment = {**self.workers.environment, "TABLE_NAME": self.tables[self.arguments.sizes[0]][0]}
        for side in self.app_sides:
            modules = "app, bench.baseline_poc, bench.floor, bench.worker" if side == CURRENT else "app"
            subprocess.run(
                [sys.executable, "-c", f"import {modules}"], cwd=self.workers.trees[side], env=environment, check=True
            )

    def profiles(self) -> dict[str, list[tuple[str, float]]]:
        environment = self.workers.environment
        found = {side: import_profile(self.workers.trees[side], environment) for side in self.app_sides}
        found[BASELINE] = import_profile(PROJECT_ROOT, environment, "bench.baseline_poc")
        return found

    def import_rounds(self) -> dict[str, list[dict[str, float]]]:
        """Import and init do not depend on table size, and on a shared machine they are the noisiest
        figures: extra import-only processes, interleaved, make their medians worth comparing."""
        samples: dict[str, list[dict[str, float]]] = {side: [] for side in self.sides}
        for round_index in range(self.arguments.import_runs):
            for side in rotation(self.sides, round_index):
                samples[side].append(self.workers.run(side, {"import_only": True}, timeout=120))
        print(f"  {self.arguments.import_runs} import-only rounds done", flush=True)
        return samples

    def stage_runs(self) -> dict[str, list[dict[str, float]]]:
        stages: dict[str, list[dict[str, float]]] = {CURRENT: [], BASELINE: []}
        for _ in range(self.arguments.stage_runs):
            stages[CURRENT].append(self.workers.target("app-stages", {}, timeout=120)["stages_ms"])
            stages[BASELINE].append(self.workers.target("baseline-stages", {}, timeout=120)["stages_ms"])
        return stages

    def side_options(self, side: str, round_index: int, size: int) -> dict[str, Any]:
        table_names = self.tables[size][1]
        large = size > LARGE_TABLE
        options: dict[str, Any] = {
            "item_name": table_names[len(table_names) // 2],
            "settle_seconds": 2.0 if large else 0,
        }
        if side in APP_SIDES:
            options.update(warm_requests=self.arguments.warm_requests, warm_budget_seconds=300.0)
            # Two refreshes per side and size: enough for a median that one disturbed run can't move alone.
            options["measure_refresh"] = round_index < 2
            if side == CURRENT and round_index == 0:
                options["walk_limit"] = 1000
        elif side == FLOOR:
            options.update(warm_requests=self.arguments.warm_requests, warm_budget_seconds=30.0)
        elif round_index == 0 or not large:
            # At thousands of items each baseline request is a multi-second moto scan: warm samples come
            # from the first run only, and the table reports how many there are.
            options.update(
                warm_requests=self.arguments.warm_requests, warm_budget_seconds=self.arguments.baseline_warm_seconds
            )
        return options

    def cold_runs(self, size: int) -> SizeRuns:
        table, names = self.tables[size]
        results = SizeRuns(size, self.sides, expected_digest=names_digest(names))
        rounds = self.arguments.large_cold_runs if size > LARGE_TABLE else self.arguments.cold_runs
        for round_index in range(rounds):
            for side in rotation(self.sides, round_index):
                began = time.perf_counter()
                result = self.workers.run(side, self.side_options(side, round_index, size), table=table)
                results.runs[side].append(result)
                print(
                    f"  {size:>6,} items run {round_index + 1}/{rounds} {side:<8} import {result['import_ms']:6.1f} ms"
                    f"  init {result['init_ms']:5.1f} ms"
                    f"  first request {result['first_request_ms']:8.1f} ms  ({time.perf_counter() - began:.1f} s)",
                    flush=True,
                )
        return results

    def memory(self) -> dict[int, dict[str, Any]]:
        measured = {}
        for count in self.arguments.memory_sizes:
            measured[count] = self.workers.target("memory", {"items": count})
            print(f"  memory at {count:,} items measured", flush=True)
        return measured

    def miss_share(self) -> dict[str, dict[str, Any]]:
        options = {
            **MISS_SHARE_OPTIONS,
            "ping_interval_seconds": WARMUP_INTERVAL_MINUTES * 60,
            "items": generate_items(3),
        }
        shares = {}
        for side in self.app_sides:
            shares[side] = self.workers.target("miss-share", options, project_dir=self.workers.trees[side], timeout=300)
        print("  MISS share simulated", flush=True)
        return shares

    def run(self, machine_facts: dict[str, Any]) -> BenchResults:
        self.seed()
        self.prime()
        # Seconds, and the likeliest to break on a tree mid-change: first, before the minutes of cold runs.
        miss_share = self.miss_share()
        profiles = self.profiles()
        import_only = self.import_rounds()
        stages = self.stage_runs()
        sizes = {size: self.cold_runs(size) for size in self.arguments.sizes}
        memory = self.memory()
        imports, import_samples = import_figures(
            {side: [run["import_ms"] + run["init_ms"] for run in runs] for side, runs in import_only.items()}, sizes
        )
        inits = init_figures(import_only, sizes)
        # import_figures counted import + init for the import-only rounds; the report shows them apart.
        imports.update(
            {
                side: median(
                    [run["import_ms"] for run in runs]
                    + [run["import_ms"] for size in sizes.values() for run in size.runs.get(side, [])]
                )
                for side, runs in import_only.items()
            }
        )
        return BenchResults(
            machine_facts,
            self.arguments.against,
            sizes,
            imports,
            import_samples,
            profiles=profiles,
            stages=stages,
            memory=memory,
            miss_share=miss_share,
            inits=inits,
        )


def _environment(endpoint: str) -> dict[str, str]:
    environment = local_stack.local_environment(endpoint)
    # On a shared 2-core machine a worker parsing 10,000 items with the old client can take longer than
    # production's 1 s read timeout and refresh deadline allow: a timed-out read would measure nothing.
    environment["DYNAMODB_READ_TIMEOUT_SECONDS"] = "30"
    environment["CACHE_REFRESH_DEADLINE_SECONDS"] = "120"
    return environment


def write_results(path: Path, results: BenchResults, checks: list[targets.Check]) -> None:
    """The raw figures as JSON, without the per-request samples (the summaries keep their percentiles)."""
    for size in results.sizes.values():
        for runs in size.runs.values():
            for run in runs:
                for scenario in run.get("warm", {}).values():
                    scenario.pop("samples_ns", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": results.machine,
        "against": results.against_ref,
        "elapsed_seconds": results.elapsed_seconds,
        "imports_ms": results.imports,
        "inits_ms": results.inits,
        "import_samples_ms": results.import_samples,
        "import_profiles_ms": results.profiles,
        "import_stages_ms": results.stages,
        "summaries": {str(size): summary for size, summary in results.summaries.items()},
        "memory": {str(count): figures for count, figures in results.memory.items()},
        "miss_share": results.miss_share,
        "checks": [{**check.__dict__, "status": check.status} for check in checks],
        "runs": {str(size): runs.runs for size, runs in results.sizes.items()},
    }
    path.write_text(json.dumps(document, indent=2, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    facts = machine()
    print(
        f"machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, "
        f"load average {facts['load_average_at_start'][0]:.2f}",
        flush=True,
    )
    with against_tree(arguments.against) as other, tempfile.TemporaryDirectory(prefix="llm-scores-bench-logs-") as logs:
        trees = {CURRENT: PROJECT_ROOT, **({AGAINST: other} if other else {})}
        dynamodb = DynamoDBStandIn.start()
        try:
            print(f"DynamoDB stand-in at {dynamodb.endpoint}; seeding", flush=True)
            workers = Workers(_environment(dynamodb.endpoint), Path(logs), trees)
            results = Benchmark(arguments, workers, dynamodb).run(facts)
        finally:
            dynamodb.stop()
    facts["load_average_at_end"] = os.getloadavg()
    results.elapsed_seconds = time.perf_counter() - started
    checks = targets.evaluate(results)
    print()
    print(report.render(results, checks))
    print()
    print(f"benchmark took {results.elapsed_seconds:.0f} s; raw results in {arguments.output}")
    write_results(arguments.output, results, checks)
    return 0 if targets.all_passed(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
