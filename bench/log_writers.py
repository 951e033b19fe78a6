"""The request log line two ways, side by side in one process: Powertools with merged EMF, and by hand.

    python -m bench.log_writers [--lines 20000]

Both write the same fields for a warm cache hit into a buffer, as CloudWatch would receive them.
"Powertools" is what the service did before: `Logger.info` with the request's fields and
`Metrics.serialize_metric_set()` merged in, one EMF block per line. "By hand" is what it does now:
`json.dumps` of the fields, with the metrics batched by `chalicelib.metrics.MetricBatch`. Rounds of
both alternate, so machine noise hits both alike; the figures are medians of the rounds.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.metrics import MetricBatch

SERVICE = "llm-scores-prod"
NAMESPACE = "LLMScores"
ROUNDS = 7


def _fields() -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "method": "GET",
        "route": "/llms",
        "status": 200,
        "duration_ms": 0.052,
        "cache": "HIT",
        "items": 100,
        "cold_start": False,
    }


_POWERTOOLS_HANDLER = logging.StreamHandler(io.StringIO())
_POWERTOOLS_LOGGER = Logger(service=SERVICE, logger_handler=_POWERTOOLS_HANDLER, name="bench-log-writers")


def powertools_writer(buffer: io.StringIO) -> Callable[[], None]:
    _POWERTOOLS_HANDLER.setStream(buffer)
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

    def write() -> None:
        fields = _fields()
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="CacheHit", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=fields["duration_ms"])
        try:
            _POWERTOOLS_LOGGER.info("request", extra={**fields, **metrics.serialize_metric_set()})
        finally:
            metrics.clear_metrics()

    return write


def hand_writer(buffer: io.StringIO) -> Callable[[], None]:
    batch = MetricBatch(NAMESPACE, SERVICE)

    def write() -> None:
        fields = _fields()
        batch.count("Requests")
        batch.count("CacheHit")
        batch.sample("Latency", fields["duration_ms"])
        line = {"level": "INFO", "message": "request", "service": SERVICE, **fields}
        due = batch.take_if_due()
        if due:
            # A line has room for one `_aws`: the newest document joins it, any earlier ones get their own.
            *earlier, newest = due
            for document in earlier:
                metrics_line = {"level": "INFO", "message": "metrics", **document}
                buffer.write(json.dumps(metrics_line, separators=(",", ":"), default=str) + "\n")
            line.update(newest)
        buffer.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")

    return write


def _round(make: Callable[[io.StringIO], Callable[[], None]], lines: int) -> tuple[float, float]:
    """Microseconds per line and bytes per line for one round of `lines` writes."""
    buffer = io.StringIO()
    write = make(buffer)
    started = time.perf_counter()
    for _ in range(lines):
        write()
    elapsed = time.perf_counter() - started
    return elapsed / lines * 1e6, len(buffer.getvalue().encode()) / lines


def measure(lines: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[tuple[float, float]]] = {"powertools": [], "by_hand": []}
    for _ in range(ROUNDS):
        results["powertools"].append(_round(powertools_writer, lines))
        results["by_hand"].append(_round(hand_writer, lines))
    return {
        name: {
            "microseconds_per_line": statistics.median(sample[0] for sample in samples),
            "bytes_per_line": statistics.median(sample[1] for sample in samples),
        }
        for name, samples in results.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="lines per round (default 20000)")
    arguments = parser.parse_args(argv)
    figures = measure(arguments.lines)
    old, new = figures["powertools"], figures["by_hand"]
    print(f"{'writer':<12} {'µs/line':>8} {'bytes/line':>11}")
    for name, row in figures.items():
        print(f"{name:<12} {row['microseconds_per_line']:>8.1f} {row['bytes_per_line']:>11.0f}")
    print(
        f"by hand / powertools: CPU {new['microseconds_per_line'] / old['microseconds_per_line']:.2f}x, "
        f"bytes {new['bytes_per_line'] / old['bytes_per_line']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
