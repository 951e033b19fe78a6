"""The benchmark's report: Markdown tables that paste into docs/performance.md as printed.

Three comparisons, each read as a ratio from the same run: cold start and refresh against
`--against REF` and the floor; log bytes, warm latency in µs, cold init and MISS share
against `--against REF`; and everything against the PoC baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.stats import format_ratio, median
from bench.summary import AGAINST, BASELINE, CURRENT, FLOOR, SCENARIO_LABELS, SCENARIOS, BenchResults
from bench.targets import Check


@dataclass(frozen=True)
class Figure:
    """One table row: a value per side, printed with `unit` and `digits` decimals; NaN prints as n/a."""

    label: str
    values: dict[str, float]
    unit: str = ""
    digits: int = 3


Row = Figure | str  # a str is a section heading spanning the row


def side_labels(against_ref: str | None) -> dict[str, str]:
    return {CURRENT: "current", AGAINST: f"AGAINST `{against_ref}`", BASELINE: "baseline (PoC)", FLOOR: "floor"}


def show(value: float, unit: str, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def render_table(rows: Sequence[Row], sides: Sequence[str], labels: dict[str, str]) -> list[str]:
    """A Markdown table: a column per side and, with two sides, the first's ratio to the second."""
    ratio_header = [f"{sides[0]}/{sides[1]}"] if len(sides) == 2 else []
    header = ["figure", *(labels[side] for side in sides), *ratio_header]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        if isinstance(row, str):
            lines.append(f"| **{row}** |" + " |" * (len(header) - 1))
            continue
        values = [row.values.get(side, math.nan) for side in sides]
        cells = [show(value, row.unit, row.digits) for value in values]
        if ratio_header:
            cells.append(format_ratio(values[0], values[1]))
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return lines


def _per_side(results: BenchResults, size: int, key: str, scenario: str | None = None) -> dict[str, float]:
    summary = results.summaries[size]
    return {side: (entry[scenario] if scenario else entry)[key] for side, entry in summary.items()}


def _microseconds(values: dict[str, float]) -> dict[str, float]:
    return {side: value * 1000 for side, value in values.items()}


def _miss_share_percent(results: BenchResults, container: str) -> dict[str, float]:
    return {side: 100 * figures[container]["share"] for side, figures in results.miss_share.items()}


def _worst_route(results: BenchResults, key: str) -> dict[str, float]:
    """Per app side, the largest figure of any route at any table size: a log target holds for every request."""
    summaries = results.summaries.values()
    return {side: max(summary[side][key] for summary in summaries) for side in results.app_sides}


def headline_rows(results: BenchResults) -> list[Row]:
    """Log bytes, import, cold start, warm latency and MISS share, for the current tree and AGAINST."""
    sides = results.app_sides
    rows: list[Row] = [
        Figure(
            "log bytes per warm cache hit, batched metrics lines included (worst route)",
            _worst_route(results, "hit_log_bytes_mean"),
            " B",
            0,
        ),
        Figure(
            "a warm cache hit's own line, median (worst route)",
            _worst_route(results, "hit_log_bytes_median"),
            " B",
            0,
        ),
        Figure("a warm cache hit's own line, largest", _worst_route(results, "hit_log_bytes_max"), " B", 0),
        Figure(
            "import (init not included), median of every fresh process",
            {side: results.imports[side] for side in sides},
            " ms",
            1,
        ),
    ]
    for size in results.summaries:
        rows.append(f"{size:,} items")
        rows.append(
            Figure(
                "cold: import + init + first request, median per run",
                _per_side(results, size, "cold_init_ms"),
                " ms",
                1,
            )
        )
        for percentile in ("p50", "p99"):
            for scenario in SCENARIOS:
                values = _microseconds(_per_side(results, size, f"{percentile}_ms", scenario))
                rows.append(Figure(f"warm {percentile} {SCENARIO_LABELS[scenario]}", values, " µs", 0))
    if results.miss_share:
        rows.append("MISS share of user requests, simulated hour")
        rows.append(Figure("pinged every warm-up interval", _miss_share_percent(results, "pinged"), " %", 2))
        rows.append(Figure("never pinged", _miss_share_percent(results, "unpinged"), " %", 2))
    return rows


def _size_rows(results: BenchResults, size: int) -> list[Row]:
    summary = results.summaries[size]
    current, baseline = summary[CURRENT], summary[BASELINE]
    rows: list[Row] = [
        f"{size:,} items ({current['runs']} + {baseline['runs']} cold runs)",
        Figure("first request (cache miss), median", _per_side(results, size, "first_request_ms"), " ms", 1),
    ]
    for scenario in SCENARIOS:
        counts = f"n={current[scenario]['samples']:,} / n={baseline[scenario]['samples']:,}"
        label = SCENARIO_LABELS[scenario]
        rows.append(Figure(f"warm p50 {label} ({counts})", _per_side(results, size, "p50_ms", scenario), " ms"))
        rows.append(Figure(f"warm p99 {label}", _per_side(results, size, "p99_ms", scenario), " ms"))
    rows.append(Figure("DynamoDB requests per 1,000 requests", _per_side(results, size, "dynamodb_per_1000"), "", 1))
    rows.append(Figure("log bytes per warm request", _per_side(results, size, "log_bytes_per_request"), " B", 0))
    for scenario in ("list", "item"):
        label = f"{SCENARIO_LABELS[scenario]} ({current[scenario]['items']} items)"
        for name, key in (
            ("response body", "body_bytes"),
            ("gzip body", "gzip_bytes"),
            ("Lambda payload", "payload_bytes"),
        ):
            rows.append(Figure(f"{name} bytes, {label}", _per_side(results, size, key, scenario), " B", 0))
    rows.append(Figure("worker peak RSS, median", _per_side(results, size, "peak_rss_mb"), " MB", 1))
    return rows


def baseline_rows(results: BenchResults) -> list[Row]:
    """The current tree against the PoC baseline: import, first request, warm latency, reads, bytes, memory."""
    count = len(results.import_samples[CURRENT])
    rows: list[Row] = [
        Figure(
            f"import (init not included), median of {count} fresh processes each",
            {side: results.imports[side] for side in (CURRENT, BASELINE)},
            " ms",
            1,
        )
    ]
    for size in results.summaries:
        rows.extend(_size_rows(results, size))
    return rows


def cold_rows(results: BenchResults) -> list[Row]:
    """Cold start split three ways, and each refresh's time and memory, per size."""
    sides = [side for side in (CURRENT, AGAINST, FLOOR, BASELINE) if side in results.sides]
    rows: list[Row] = [
        Figure("import, median of every fresh process", {side: results.imports[side] for side in sides}, " ms", 1),
        Figure(
            "init (DynamoDB client creation)", {side: results.inits.get(side, math.nan) for side in sides}, " ms", 1
        ),
    ]
    for size in results.summaries:
        rows.append(f"{size:,} items")
        rows.append(Figure("first request (table read)", _per_side(results, size, "first_request_ms"), " ms", 1))
        rows.append(
            Figure("cold: import + init + first request", {s: results.cold_ms(s, size) for s in sides}, " ms", 1)
        )
        summary = results.summaries[size]
        for label, key, unit, digits in (
            ("refresh, wall", "refresh_ms", " ms", 1),
            ("refresh, CPU", "refresh_cpu_ms", " ms", 1),
            ("snapshot retained (tracemalloc)", "snapshot_mb", " MB", 2),
            ("snapshot per item", "snapshot_bytes_per_item", " B", 0),
            ("refresh peak (tracemalloc)", "refresh_peak_mb", " MB", 2),
        ):
            rows.append(
                Figure(label, {side: summary[side][key] for side in results.app_sides if side in summary}, unit, digits)
            )
    largest, smallest = max(results.summaries), min(results.summaries)
    rows.append(
        Figure(
            f"what {largest:,} items add to a cold start (cold at {largest:,} − at {smallest:,})",
            {side: results.large_catalogue_extra_ms(side) for side in sides},
            " ms",
            1,
        )
    )
    return rows


def render_ratio_table(rows: Sequence[Row], sides: Sequence[str], labels: dict[str, str]) -> list[str]:
    """A Markdown table with a column per side and the first side's ratio to each other app side and the floor."""
    compared = [side for side in sides[1:] if side in (AGAINST, FLOOR)]
    header = ["figure", *(labels[side] for side in sides), *(f"current/{labels[side]}" for side in compared)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        if isinstance(row, str):
            lines.append(f"| **{row}** |" + " |" * (len(header) - 1))
            continue
        values = {side: row.values.get(side, math.nan) for side in sides}
        cells = [show(values[side], row.unit, row.digits) for side in sides]
        cells += [format_ratio(values[sides[0]], values[side]) for side in compared]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return lines


def miss_share_lines(results: BenchResults, labels: dict[str, str]) -> list[str]:
    lines = []
    for side, figures in results.miss_share.items():
        ahead = figures["refresh_ahead_seconds"]
        minutes = figures["duration_seconds"] / 60
        lines.append(
            f"- {labels[side]}: {figures['users_per_minute']:g} users/min for {minutes:g} min, "
            f"TTL {figures['ttl_seconds']:g} s with {100 * figures['jitter_ratio']:g} % jitter, pings every "
            f"{figures['ping_interval_seconds']:g} s, {f'refresh-ahead {ahead:g} s' if ahead else 'no refresh-ahead'}: "
            f"pinged {figures['pinged']['user_misses']} MISS of {figures['pinged']['user_requests']:,}, "
            f"never pinged {figures['unpinged']['user_misses']} of {figures['unpinged']['user_requests']:,}"
        )
    return lines


def init_lines(results: BenchResults) -> list[str]:
    lines = []
    for side, runs in results.stages.items():
        stages = {name: median([run[name] for run in runs]) for name in runs[0]}
        shown = "; ".join(f"{name} {ms:.0f} ms" for name, ms in stages.items())
        lines.append(f"- init by stage, median of {len(runs)} fresh processes ({side}): {shown}")
    for side, profile in results.profiles.items():
        top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in profile[:7])
        lines.append(f"- `-X importtime`, self time by package ({side}): {top}")
    return lines


def memory_lines(memory: dict[int, dict[str, float]]) -> list[str]:
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


def target_lines(checks: Sequence[Check]) -> list[str]:
    return [f"{check.status:<11}  {check.name}: {check.detail}" for check in checks]


def _heading(results: BenchResults) -> list[str]:
    machine = results.machine
    loads = f"{machine['load_average_at_start'][0]:.2f} → {machine.get('load_average_at_end', [math.nan])[0]:.2f}"
    return [
        f"## Benchmark: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, load average {loads}",
        "",
        "In-process `app.app(event, context)` of each tree and `baseline_poc.handler(event, context)` (PoC), each",
        "cold run a fresh process, sides interleaved; DynamoDB: the stand-in on loopback (bench/dynamodb_stand_in.py)",
        "pages encoded once and served from memory. Medians across runs. Init = time in botocore's create_client.",
        "The baseline follows LastEvaluatedKey to be fair; the real PoC stopped at the first 1 MB page.",
    ]


def render(results: BenchResults, checks: Sequence[Check]) -> str:
    """The whole report, Markdown."""
    labels = side_labels(results.against_ref)
    against = f"current against `{results.against_ref}`" if results.against_ref else "current (no AGAINST given)"
    cold_sides = [side for side in (CURRENT, AGAINST, FLOOR, BASELINE) if side in results.sides]
    sections = [
        _heading(results),
        ["### Cold start and refresh", ""] + render_ratio_table(cold_rows(results), cold_sides, labels),
        [f"### Log bytes and warm latency: {against}", ""]
        + render_table(headline_rows(results), results.app_sides, labels),
        miss_share_lines(results, labels),
        ["### Against the PoC baseline", ""] + render_table(baseline_rows(results), (CURRENT, BASELINE), labels),
        init_lines(results),
    ]
    if results.memory:
        title = "Snapshot memory (same parse and Snapshot code as a refresh, no network):"
        sections.append([title, "", *memory_lines(results.memory)])
    sections.append(["## Targets", "", "```", *target_lines(checks), "```"])
    return "\n\n".join("\n".join(section) for section in sections if section)
