"""The snapshot's footprint for N generated items, built by the same code a refresh runs (minus the network).

Runs in its own `bench.worker` process, so the process peak RSS is the app plus its catalogue.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.container import peak_rss_megabytes
from bench.items import PROVIDERS, generate_items
from chalicelib.dynamodb_wire import item_from_wire
from chalicelib.models import item_to_dynamodb
from chalicelib.snapshot import ORDERS, SORT_FIELDS, Snapshot

MEGABYTE = 1024 * 1024


def _build_views(snapshot: Snapshot, providers: tuple[str | None, ...]) -> None:
    for provider in providers:
        for sort in SORT_FIELDS:
            for order in ORDERS:
                snapshot.view(provider, sort, order)


def _every_provider() -> tuple[str | None, ...]:
    return (None, *(name.lower() for name in PROVIDERS))


def _container_peak_rss(count: int) -> float:
    """What a container holds: the snapshot and every view, built from items generated one at a time.

    So the process peak is the app plus its catalogue (less the one Scan page a real refresh also holds).
    """
    snapshot = Snapshot((item_from_wire(item_to_dynamodb(item)) for item in generate_items(count)), 0, 0.0)
    _build_views(snapshot, _every_provider())
    peak = peak_rss_megabytes()
    del snapshot
    gc.collect()
    return peak


def _timed_build(build: Callable[[], Snapshot]) -> float:
    started = time.perf_counter()
    snapshot = build()
    elapsed_ms = (time.perf_counter() - started) * 1000
    del snapshot
    gc.collect()
    return elapsed_ms


def measure_memory(options: dict[str, Any]) -> dict[str, Any]:
    """Retained and peak bytes of a snapshot of `options["items"]` items and of its views."""
    count = options["items"]
    container_peak_rss = _container_peak_rss(count)
    attributes = [item_to_dynamodb(item) for item in generate_items(count)]

    def build() -> Snapshot:
        return Snapshot([item_from_wire(entry) for entry in attributes], 0, 0.0)

    build_ms = _timed_build(build)
    tracemalloc.start()
    snapshot = build()
    gc.collect()
    snapshot_bytes, build_peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    _build_views(snapshot, (None,))
    unfiltered_views_bytes = tracemalloc.get_traced_memory()[0] - snapshot_bytes
    _build_views(snapshot, _every_provider())
    every_view_bytes = tracemalloc.get_traced_memory()[0] - snapshot_bytes
    tracemalloc.stop()
    return {
        "items": len(snapshot),
        "build_ms": build_ms,
        "snapshot_mb": snapshot_bytes / MEGABYTE,
        "build_peak_mb": build_peak_bytes / MEGABYTE,
        "unfiltered_views_mb": unfiltered_views_bytes / MEGABYTE,
        "every_view_mb": every_view_bytes / MEGABYTE,
        "container_peak_rss_mb": container_peak_rss,
    }
