"""The app under measurement, in this tree or in the tree `make bench AGAINST=<ref>` names.

`make bench AGAINST=<ref>` runs this tree's worker against another commit's
`app.py` and `chalicelib/`. Supported: 3b3c2d1 (where this round of work started)
and later. Those trees build one `ScoresService` and swap it in with
`chalicelib.service.replace_service()`, named `configure()` at 3b3c2d1: the one
difference, and it is handled here, so the rest of the benchmark drives both
through the handler alone. Older trees, which kept a repository and a cache as
module globals of `chalicelib.service`, are no longer supported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DYNAMODB_CALLS = "before-call.dynamodb.*"


def _service_module() -> Any:
    from chalicelib import service

    return service


def _replace_service() -> Callable[[Any], Any]:
    """The tree's function that swaps in a `ScoresService`: `replace_service`, or `configure` at 3b3c2d1."""
    service = _service_module()
    replace_service = getattr(service, "replace_service", None) or getattr(service, "configure", None)
    if replace_service is None:
        raise RuntimeError("the tree under measurement predates 3b3c2d1, which make bench no longer supports")
    return replace_service  # type: ignore[no-any-return]


def count_dynamodb_calls(counter: Callable[..., None]) -> None:
    """Makes every DynamoDB call the routes make go through a client that reports to `counter`."""
    from chalicelib.config import settings
    from chalicelib.repository import create_client

    replace_service = _replace_service()
    client = create_client(settings)
    client.meta.events.register(DYNAMODB_CALLS, counter)
    replace_service(_service_module().ScoresService.from_settings(settings, client=client))


def scan_result(items: Sequence[dict[str, Any]]) -> Any:
    """A table scan's result in the tree's own `ScanResult` type."""
    from chalicelib.repository import ScanResult

    return ScanResult(items=list(items), skipped_items=0, pages=1, duration_milliseconds=0.0)


def use_simulated_cache(load: Callable[[], Any], clock: Callable[[], float], rand: Callable[[], float]) -> None:
    """Makes the routes and the ping answer from a fresh cache over `load`, on `clock`, tuned as the tree's settings.

    Each call starts a new, empty cache: a new container, as far as the simulation is concerned.
    """
    from chalicelib.config import settings

    replace_service = _replace_service()
    replace_service(_service_module().ScoresService.from_settings(settings, load=load, clock=clock, rand=rand))


def cache_settings() -> dict[str, float]:
    """The TTL and jitter the simulation ran with, for the report."""
    from chalicelib.config import settings

    return {"ttl_seconds": settings.cache_ttl_seconds, "jitter_ratio": settings.cache_ttl_jitter_ratio}


def refresh_ahead_seconds() -> float:
    """How far ahead a ping refreshes the cache."""
    from chalicelib.warmup import PING_FRESHNESS_SECONDS

    return float(PING_FRESHNESS_SECONDS)


def measure_refresh() -> dict[str, float]:
    """One whole refresh of the container's cache, timed, then another traced for memory.

    A refresh is what a cache miss pays: the Scan pages, parsing, validation and the snapshot.
    The stand-in answers from memory in another process, so the CPU time is the client's own.
    tracemalloc sees only what is allocated once it starts, so the figure left after the refresh
    is the new snapshot (the old one was allocated before), and its peak is the refresh's peak.
    """
    import gc
    import time
    import tracemalloc

    cache = _service_module().current_service().cache
    gc.collect()
    cache.invalidate()
    started, cpu_started = time.perf_counter(), time.process_time()
    read = cache.read()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if read.state != "MISS":
        raise RuntimeError(f"a refresh was expected, the cache answered {read.state}")
    del read
    gc.collect()
    cache.invalidate()
    tracemalloc.start()
    read = cache.read()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "refresh_ms": wall * 1000,
        "refresh_cpu_ms": cpu * 1000,
        "snapshot_bytes": retained,
        "refresh_peak_bytes": peak,
        "items": len(read.snapshot),
    }
