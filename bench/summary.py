"""From the workers' raw runs to the figures the report prints and the targets judge.

Sides: `current` (this tree's app), `against` (the app of `--against REF`, when given)
and `baseline` (the PoC). Every figure is a median across fresh processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stats import median, percentile

CURRENT, AGAINST, BASELINE, FLOOR = "current", "against", "baseline", "floor"
APP_SIDES = (CURRENT, AGAINST)
SCENARIOS = ("list", "filtered", "item")
SCENARIO_LABELS = {
    "list": "GET /llms (default page)",
    "filtered": "GET /llms?provider=openai&sort=score&order=desc",
    "item": "GET /llms/{model_name}",
}
# What a scenario copies from its first run: sizes do not vary between runs.
FIRST_RUN_FIELDS = ("body_bytes", "payload_bytes", "gzip_bytes", "items")


@dataclass
class SizeRuns:
    """Every cold run at one table size, by side, and the digest of the names seeded."""

    items: int
    sides: Sequence[str]
    expected_digest: str = ""
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in self.sides:
            self.runs.setdefault(side, [])


@dataclass
class BenchResults:
    """One benchmark run, everything the report and the targets read."""

    machine: dict[str, Any]
    against_ref: str | None
    sizes: dict[int, SizeRuns]
    imports: dict[str, float]
    import_samples: dict[str, list[float]]
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    stages: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    memory: dict[int, dict[str, Any]] = field(default_factory=dict)
    miss_share: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Median init (DynamoDB client creation during import) per side, over every fresh process.
    inits: dict[str, float] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    summaries: dict[int, dict[str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.summaries = {size: summarise(runs) for size, runs in self.sizes.items()}

    @property
    def sides(self) -> tuple[str, ...]:
        sides = (CURRENT, AGAINST, BASELINE) if self.against_ref else (CURRENT, BASELINE)
        return (
            (*sides, FLOOR) if any(FLOOR in size.runs and size.runs[FLOOR] for size in self.sizes.values()) else sides
        )

    def cold_ms(self, side: str, size: int) -> float:
        """What a user behind a cold start waits for: import and init (medians over every fresh process of
        the side: they do not depend on the table) plus the first request at `size` (a table read)."""
        summary = self.summaries.get(size, {}).get(side)
        if summary is None or side not in self.imports:
            return math.nan
        return float(self.imports[side] + self.inits.get(side, 0.0) + summary["first_request_ms"])

    def large_catalogue_extra_ms(self, side: str) -> float:
        """Cold at the largest size minus cold at the smallest: what a big catalogue adds to a cold start."""
        return self.cold_ms(side, max(self.summaries)) - self.cold_ms(side, min(self.summaries))

    @property
    def app_sides(self) -> tuple[str, ...]:
        return APP_SIDES if self.against_ref else (CURRENT,)


def _scenario_summary(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    samples_ms = [[ns / 1e6 for ns in result["samples_ns"]] for result in per_run]
    p50_per_run = [percentile(samples, 0.50) for samples in samples_ms]
    first = per_run[0] if per_run else {}
    return {
        "p50_ms": median(p50_per_run),
        "p99_ms": median([percentile(samples, 0.99) for samples in samples_ms]),
        "p50_ms_per_run": p50_per_run,
        "samples": sum(len(samples) for samples in samples_ms),
        "runs": len(per_run),
        **{name: first.get(name, 0) for name in FIRST_RUN_FIELDS},
        "not_hit": sum(result["not_hit"] for result in per_run),
        # Every warm request of this route was a hit (see not_hit), so this is a hit's cost with the
        # batched metrics amortised, which is what CloudWatch Logs bills.
        "hit_log_bytes_mean": median([result["log_bytes"] / result["requests"] for result in per_run]),
        "hit_log_bytes_median": median([result["hit_log_bytes_median"] for result in per_run]),
        "hit_log_bytes_max": max((result["hit_log_bytes_max"] for result in per_run), default=0),
        "statuses": sorted({status for result in per_run for status in result["statuses"]}),
    }


def _warm_totals(warm_runs: list[dict[str, Any]], key: str) -> list[int]:
    return [sum(run["warm"][scenario][key] for scenario in SCENARIOS) for run in warm_runs]


def _side_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    warm_runs = [run for run in runs if "warm" in run]
    requests, calls, log = (_warm_totals(warm_runs, key) for key in ("requests", "dynamodb_calls", "log_bytes"))
    first_calls = [run["first_request_dynamodb_calls"] for run in warm_runs]
    refreshes = [run["refresh"] for run in runs if "refresh" in run]
    entry: dict[str, Any] = {
        "runs": len(runs),
        "import_ms": median([run["import_ms"] for run in runs]),
        "init_ms": median([run.get("init_ms", 0.0) for run in runs]),
        "first_request_ms": median([run["first_request_ms"] for run in runs]),
        # What a user behind a cold start waits for: import, init, then a request that reads the table.
        "cold_init_ms": median([run["import_ms"] + run.get("init_ms", 0.0) + run["first_request_ms"] for run in runs]),
        "refresh_ms": median([refresh["refresh_ms"] for refresh in refreshes]),
        "refresh_cpu_ms": median([refresh["refresh_cpu_ms"] for refresh in refreshes]),
        "snapshot_mb": median([refresh["snapshot_bytes"] / 2**20 for refresh in refreshes]),
        "refresh_peak_mb": median([refresh["refresh_peak_bytes"] / 2**20 for refresh in refreshes]),
        "snapshot_bytes_per_item": median(
            [refresh["snapshot_bytes"] / max(1, refresh["items"]) for refresh in refreshes]
        ),
        "peak_rss_mb": median([run["peak_rss_mb"] for run in runs]),
        "warm_requests_per_run": requests,
        "warm_dynamodb_calls_per_run": calls,
        "dynamodb_calls_per_container": [first + warm for first, warm in zip(first_calls, calls, strict=True)],
        "dynamodb_per_1000": median(
            [
                1000 * (first + warm) / (1 + count)
                for first, warm, count in zip(first_calls, calls, requests, strict=True)
            ]
        ),
        "first_request_dynamodb_calls": median([run["first_request_dynamodb_calls"] for run in runs]),
        "log_bytes_per_request": median([bytes_ / count for bytes_, count in zip(log, requests, strict=True) if count]),
        "first_request_log_bytes": median([run["first_request_log_bytes"] for run in runs]),
    }
    for scenario in SCENARIOS:
        entry[scenario] = _scenario_summary([run["warm"][scenario] for run in warm_runs])
    # The worst route's figure: the target holds for every route, not on average over them.
    for key in ("hit_log_bytes_mean", "hit_log_bytes_median", "hit_log_bytes_max"):
        entry[key] = max(entry[scenario][key] for scenario in SCENARIOS)
    return entry


def summarise(size: SizeRuns) -> dict[str, dict[str, Any]]:
    """Per side: medians across its cold runs at this size, and its warm percentiles per scenario."""
    return {side: _side_summary(runs) for side, runs in size.runs.items() if runs}


def init_figures(import_only: dict[str, list[dict[str, float]]], sizes: dict[int, SizeRuns]) -> dict[str, float]:
    """Median init (client creation) per side over every fresh process."""
    return {
        side: median(
            [run.get("init_ms", 0.0) for run in runs]
            + [run.get("init_ms", 0.0) for size in sizes.values() for run in size.runs.get(side, [])]
        )
        for side, runs in import_only.items()
    }


def import_figures(
    import_only: dict[str, list[float]], sizes: dict[int, SizeRuns]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median init per side over every fresh process, and the paired ratios of back-to-back import-only runs.

    Each import-only round ran the sides back to back, so a pair's ratio cancels most of the
    machine's momentary load: on a shared machine it is the steadier comparison.
    """
    samples = {
        side: list(values) + [run["import_ms"] for size in sizes.values() for run in size.runs.get(side, [])]
        for side, values in import_only.items()
    }
    imports = {side: median(values) for side, values in samples.items()}
    current = import_only.get(CURRENT, [])
    for other in (BASELINE, AGAINST, FLOOR):
        pairs = zip(current, import_only.get(other, []), strict=False)
        imports[f"paired_ratio_{other}"] = (
            median([ours / theirs for ours, theirs in pairs]) if other in import_only else math.nan
        )
    return imports, samples


def warm_p50_ratios(results: BenchResults) -> list[tuple[float, int, str]]:
    """current/AGAINST warm p50 for every size and scenario, `(ratio, size, scenario)`, worst first."""
    ratios = []
    for size, summary in results.summaries.items():
        if AGAINST not in summary:
            continue
        for scenario in SCENARIOS:
            ours, theirs = summary[CURRENT][scenario]["p50_ms"], summary[AGAINST][scenario]["p50_ms"]
            ratios.append((ours / theirs if theirs else math.inf, size, scenario))
    return sorted(ratios, reverse=True)
